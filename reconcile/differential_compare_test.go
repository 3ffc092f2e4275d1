package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/reconcile/exitcode"
)

// The comparison of the differential test: what the plan says reconcile will do,
// with the differences that are expected by design applied (predict), against
// what reconcile did, read from the cluster before and after it (compare).
//
// The plan assumes that every write succeeds, every rollout completes and every
// dependency is available, and it does not wait. So, and only so:
//
//   - Rollout kept from completing (the scenario's StatefulSet controller stops): reconcile
//     makes the plan's writes, then waits in Verifying: it ends Failed (exit 2, "verification
//     did not finish") when the verify deadline comes before the run's, else at the run's
//     deadline (exit 3, "timed out waiting for the StatefulSet rollout"). A rollout that is
//     complete already and that no write restarts (no StatefulSet created, none of its spec
//     changed) does not wait.
//   - Dependency down: reconcile stops at the first phase of the plan's path that checks the
//     dependencies (Pending; Failed, at the start; Verifying, unless its deadline has passed
//     already), with the writes of the phases before it, exit 3 (unavailable, or the circuit
//     breaker opened by the failures).
//   - Backoff window past the deadline: a Failed Database whose retry is allowed only after
//     the run's deadline: reconcile stops at once, exit 3, RetryAt the window's end; the plan
//     shows what the retry will do.
//   - Conflict: the plan shows a conflicting change as --force-conflicts would make it;
//     reconcile makes the writes before it (in the plan's order), then stops, exit 1, naming
//     the same managers and fields. A conflict on the Database itself stops it before any
//     write.
//   - Refused: the plan lists the StatefulSets a refused spec would change (marked
//     refused); reconcile writes nothing and ends Failed with the plan's message, exit 2.
//   - Plan error (e.g. a credentials Secret without its password): reconcile stops before
//     any child write with the same error, exit 1 (the Database itself is applied first).
//   - Verification past its deadline with a dependency down: both go Failed; reconcile's
//     message names the dependency as what was unverified, the plan's (which assumes the
//     dependencies available) the rollout.
//   - Values known only once written: a created Secret's generated values (the plan shows
//     "(generated at apply)"; both sides are compared masked), a created Service's cluster
//     IPs (allocated by the API server) and a new Database's UID in its children's owner
//     references (the plan shows "(known after apply)"): left out of the comparison of
//     created objects (compareCreated).
//   - Volumes kept from growing: reconcile waits in Verifying until the verify deadline
//     (Failed, exit 2) or the run's (exit 3); it looks again after each retry backoff, so
//     when the two deadlines are within retryMax of each other either outcome is right.
//
// Everything else is strict: the set of children (and PVCs) created, updated and deleted,
// the field paths of every update against what really changed, the Database's own change,
// the phase transitions (the plan's path, or its prefix up to the stop), the final phase, the
// exit code and the message, and Result.Changes against what changed in the cluster.

// snapshot is every object of a Database (itself, each child it can have, the
// PVCs of its namespace), by "Kind/name".
type snapshot map[string]*unstructured.Unstructured

func takeSnapshot(ctx context.Context, c client.Client, ns, name string) (snapshot, error) {
	out := snapshot{}
	refs := []phases.Ref{{Kind: v1alpha1.Kind, Name: name}}
	for _, ch := range phases.Children(&v1alpha1.Database{ObjectMeta: objectMeta(ns, name)}) {
		refs = append(refs, ch.Ref)
	}
	for _, r := range refs {
		u, err := getChild(ctx, c, ns, r.Kind, r.Name)
		if err != nil {
			return nil, err
		}
		if u != nil {
			out[r.String()] = u
		}
	}
	var pvcs corev1.PersistentVolumeClaimList
	if err := c.List(ctx, &pvcs, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	for _, p := range pvcs.Items {
		u, err := getChild(ctx, c, ns, reconcile.KindPersistentVolumeClaim, p.Name)
		if err != nil {
			return nil, err
		}
		out[reconcile.KindPersistentVolumeClaim+"/"+p.Name] = u
	}
	return out, nil
}

// versions are the resourceVersions of the snapshot.
func (s snapshot) versions() string {
	var out []string
	for k, u := range s {
		out = append(out, k+"@"+u.GetResourceVersion())
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// write is one object created, updated or deleted, with the paths of an update.
type write struct {
	action reconcile.Action
	id     string // Kind/name
	fields []string
}

func (w write) String() string {
	if w.action == reconcile.ActionUpdate {
		return fmt.Sprintf("%s %s %v", w.action.Symbol(), w.id, w.fields)
	}
	return w.action.Symbol() + " " + w.id
}

func changeWrite(c reconcile.Change) write {
	w := write{action: c.Action, id: c.Kind + "/" + c.Name}
	if c.Action == reconcile.ActionUpdate {
		for _, f := range c.Fields {
			w.fields = append(w.fields, f.Path)
		}
		sort.Strings(w.fields)
	}
	return w
}

// writes is what changed between two snapshots, the Database excepted.
func (s snapshot) writes(after snapshot) []write {
	var out []write
	for _, id := range slices.Sorted(keysOf(s, after)) {
		if strings.HasPrefix(id, v1alpha1.Kind+"/") {
			continue
		}
		b, a := s[id], after[id]
		kind, _, _ := strings.Cut(id, "/")
		if b == nil && a == nil {
			continue
		}
		c := reconcile.NewChange("", kind, b, a)
		if c.Action != reconcile.ActionUnchanged {
			out = append(out, changeWrite(c))
		}
	}
	return out
}

func keysOf(a, b snapshot) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok && !yield(k) {
				return
			}
		}
	}
}

// want is what the plan predicts of the reconcile, the expected differences applied.
type want struct {
	rule    string
	writes  []reconcile.Change
	phase   v1alpha1.Phase
	exit    exitcode.Code
	edges   []phases.Edge
	message string
	// dbApplied: the Database from the file is applied (the plan's Database change
	// happens); dbUnknown: the plan failed, so it says nothing of the Database.
	dbApplied, dbUnknown bool
	// alt is another outcome as good as this one (a race of two deadlines).
	alt *want
}

// runFacts are what predict needs besides the plan: the scenario, the Database
// before the reconcile (nil when new), the objects before it, the virtual start,
// and the reconcile's events (for the times of its phases).
type runFacts struct {
	s      *scenario
	db     *v1alpha1.Database
	before snapshot
	start  time.Time
	events []reconcile.Event
}

// predict walks the plan's path the way reconcile will, given what the scenario
// keeps from happening.
func predict(p *reconcile.Plan, planErr error, f runFacts) want {
	w := want{rule: "as planned", dbApplied: true}
	if planErr != nil {
		var spec *reconcile.SpecError
		if errors.As(planErr, &spec) {
			// The API server rejects the Database itself: reconcile stops at its apply.
			return want{rule: "plan error: the spec", exit: exitcode.Error, message: planErr.Error()}
		}
		phase := v1alpha1.PhasePending
		if f.db != nil {
			phase = f.db.Phase()
		}
		return want{rule: "plan error", exit: exitcode.Error, phase: phase, message: planErr.Error(), dbUnknown: true}
	}
	if p.Database.Conflict != "" {
		return want{rule: "conflict on the Database", exit: exitcode.Error, message: p.Database.Conflict}
	}
	path, deadline := p.Path, f.start.Add(f.s.timeout)
	edges := func(i int) []phases.Edge {
		var out []phases.Edge
		for j := 0; j < i; j++ {
			out = append(out, phases.Edge{From: path[j], To: path[j+1]})
		}
		return out
	}
	startPhase := v1alpha1.PhasePending
	if f.db != nil {
		startPhase = f.db.Phase()
	}
	if f.db != nil && path[0] == v1alpha1.PhaseFailed && phases.RetryAt(f.db).After(deadline) {
		return want{rule: "backoff window past the deadline", phase: v1alpha1.PhaseFailed, exit: exitcode.Retryable,
			message: "retry allowed at", dbApplied: true}
	}
	for i, cur := range path {
		w.phase, w.edges = cur, edges(i)
		if f.s.depsDown() && checksDependencies(path, i) {
			w.rule, w.exit, w.message = "dependency down", exitcode.Retryable, `dependency "`
			return w
		}
		applies := appliedBy(cur)
		if len(applies) > 0 && p.Refused != "" {
			return want{rule: "refused", phase: v1alpha1.PhaseFailed, exit: exitcode.Failed, edges: edges(len(path) - 1),
				message: "Failed: " + p.Refused, dbApplied: true}
		}
		for _, c := range p.Changes {
			if !slices.Contains(applies, c.Phase) || c.Action == reconcile.ActionUnchanged && c.Conflict == "" {
				continue
			}
			if c.Conflict != "" {
				if i == 0 {
					w.phase = startPhase
				}
				w.rule, w.exit, w.message = "conflict", exitcode.Error, c.Conflict
				return w
			}
			w.writes = append(w.writes, c)
		}
		if cur == v1alpha1.PhaseVerifying && !failsAt(path, i+1) && f.s.blockRollouts && !rolledOut(f.before, w.writes) {
			return rolloutStop(w, f, i, deadline)
		}
		if cur == v1alpha1.PhaseVerifying && !failsAt(path, i+1) && f.s.blockVolumes && grows(w.writes) {
			return volumesStop(w, f, i, deadline)
		}
	}
	switch w.phase {
	case v1alpha1.PhaseReady:
		w.exit, w.message = exitcode.OK, "Ready at"
	case v1alpha1.PhaseFailed:
		w.exit, w.message = exitcode.Failed, "Failed: "+failedNote(p)
		if head, _, ok := strings.Cut(w.message, verifyTimeoutReason); ok && f.s.depsDown() {
			// The plan assumes the dependencies available: it names what else is
			// unverified; reconcile names the dependency down.
			w.message = head + verifyTimeoutReason
		}
	default:
		w.rule, w.exit = "the plan's path ends in "+string(w.phase), exitcode.Error
	}
	return w
}

// verifyTimeoutReason ends the message of a verification past its deadline,
// before what was unverified.
const verifyTimeoutReason = "(spec.verify.timeout): "

// failedNote is the message of the step the plan says goes Failed.
func failedNote(p *reconcile.Plan) string {
	for _, n := range p.Notes {
		if rest, ok := strings.CutPrefix(n, "reconcile goes Failed in "); ok {
			_, msg, _ := strings.Cut(rest, ": ")
			return msg
		}
	}
	return "(the plan has no note of why it goes Failed)"
}

func failsAt(path []v1alpha1.Phase, i int) bool {
	return i < len(path) && path[i] == v1alpha1.PhaseFailed
}

// checksDependencies: the step from path[i] checks the dependencies (and waits
// while one is down).
func checksDependencies(path []v1alpha1.Phase, i int) bool {
	switch path[i] {
	case v1alpha1.PhasePending:
		return true
	case v1alpha1.PhaseFailed:
		return i == 0
	case v1alpha1.PhaseVerifying:
		return !failsAt(path, i+1) // past its deadline, Verifying fails before it checks
	}
	return false
}

// appliedBy are the phases whose children the step from phase p writes.
func appliedBy(p v1alpha1.Phase) []v1alpha1.Phase {
	switch p {
	case v1alpha1.PhaseProvisioning, v1alpha1.PhaseConfiguring, v1alpha1.PhaseDeploying:
		return []v1alpha1.Phase{p}
	case v1alpha1.PhaseUpdating:
		return []v1alpha1.Phase{v1alpha1.PhaseProvisioning, v1alpha1.PhaseConfiguring, v1alpha1.PhaseDeploying}
	}
	return nil
}

// rolledOut: the StatefulSets' rollout is complete before the reconcile and none
// of the writes restarts it (a StatefulSet created, or its spec changed).
func rolledOut(before snapshot, writes []reconcile.Change) bool {
	for _, c := range writes {
		if c.Kind != phases.KindStatefulSet {
			continue
		}
		if c.Action == reconcile.ActionCreate {
			return false
		}
		for _, fc := range c.Fields {
			if strings.HasPrefix(fc.Path, "spec.") {
				return false
			}
		}
	}
	var r *phases.Rollout
	for id, u := range before {
		if !strings.HasPrefix(id, phases.KindStatefulSet+"/") {
			continue
		}
		ro := phases.RolloutOf(u)
		if r == nil {
			r = &ro
		} else {
			*r = r.And(ro)
		}
	}
	return r != nil && r.Current
}

// verifyDeadline is when the Verifying phase at path[i] times out: its start is
// the status's (Verifying at the start) or the time reconcile entered it.
func verifyDeadline(f runFacts, i int) time.Time {
	start := f.start
	if i == 0 && f.db != nil && f.db.Status.VerifyStartTime != nil {
		start = f.db.Status.VerifyStartTime.Time
	}
	for _, ev := range f.events {
		if ev.Type == reconcile.EventPhase && ev.To == v1alpha1.PhaseVerifying {
			start = ev.Time
		}
	}
	return start.Add(verifyTimeout(f.s.target))
}

// grows: the writes grow volumes (data PVCs expanded; the backups PVC is no
// volume of the pods).
func grows(writes []reconcile.Change) bool {
	for _, c := range writes {
		if c.Kind == reconcile.KindPersistentVolumeClaim && !strings.HasSuffix(c.Name, "-backups") {
			return true
		}
	}
	return false
}

// volumesStop is where reconcile stops waiting for volumes that never grow. It
// checks them again after each retry backoff, so when the verify deadline is
// within the longest backoff (retryMax) of the run's, either may come first.
func volumesStop(w want, f runFacts, i int, deadline time.Time) want {
	failed := w
	failed.rule, failed.phase, failed.exit = "volumes kept from growing: the verify deadline", v1alpha1.PhaseFailed, exitcode.Failed
	failed.edges = append(slices.Clone(w.edges), phases.Edge{From: v1alpha1.PhaseVerifying, To: v1alpha1.PhaseFailed})
	failed.message = "the volumes did not grow"
	w.rule, w.exit, w.message = "volumes kept from growing: the run's deadline", exitcode.Retryable, "waiting for the volumes to grow"
	switch vd := verifyDeadline(f, i); {
	case vd.Before(deadline.Add(-retryMax)):
		return failed
	case vd.Before(deadline):
		w.alt = &failed
	}
	return w
}

// rolloutStop is where reconcile stops waiting for a rollout that never completes:
// the verify deadline (Failed) or the run's (exit 3), whichever comes first.
func rolloutStop(w want, f runFacts, i int, deadline time.Time) want {
	if verifyDeadline(f, i).Before(deadline) {
		w.rule, w.phase, w.exit = "rollout kept from completing: the verify deadline", v1alpha1.PhaseFailed, exitcode.Failed
		w.edges = append(w.edges, phases.Edge{From: v1alpha1.PhaseVerifying, To: v1alpha1.PhaseFailed})
		w.message = "verification did not finish within"
		return w
	}
	w.rule, w.exit, w.message = "rollout kept from completing: the run's deadline", exitcode.Retryable, "timed out waiting for the StatefulSet rollout"
	return w
}

func verifyTimeout(s dbSpec) time.Duration {
	if s.VerifyTimeout == "" {
		return v1alpha1.DefaultVerifyTimeout
	}
	d, _ := time.ParseDuration(s.VerifyTimeout)
	return d
}

// compare lists every disagreement between the prediction (or its alternative)
// and the reconcile.
func compare(p *reconcile.Plan, w want, o *outcome) []string {
	out := compareOne(p, w, o)
	if len(out) > 0 && w.alt != nil {
		if alt := compareOne(p, *w.alt, o); len(alt) == 0 {
			return nil
		}
	}
	return out
}

func compareOne(p *reconcile.Plan, w want, o *outcome) []string {
	res, before, after := o.res, o.before, o.after
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	var wantWrites []write
	for _, c := range w.writes {
		wantWrites = append(wantWrites, changeWrite(c))
	}
	sort.Slice(wantWrites, func(i, j int) bool { return wantWrites[i].id < wantWrites[j].id })
	got := before.writes(after)
	if fmt.Sprint(got) != fmt.Sprint(wantWrites) {
		bad("writes: reconcile made %v, the plan predicts %v", got, wantWrites)
	}
	out = append(out, compareCreated(w.writes, after)...)
	if rc := resultWrites(res); fmt.Sprint(rc) != fmt.Sprint(ids(got)) {
		bad("Result.Changes %v, but the cluster changed %v", rc, ids(got))
	}
	if !w.dbUnknown {
		out = append(out, compareDatabase(p, w, before, after)...)
		out = append(out, compareTakeBacks(p, w, o.events)...)
	}
	if res.Phase != w.phase {
		bad("final phase %q, the plan predicts %q", res.Phase, w.phase)
	}
	if res.Outcome.ExitCode() != w.exit {
		bad("exit %d (%s), the plan predicts %d", res.Outcome.ExitCode(), res.Outcome, w.exit)
	}
	if fmt.Sprint(res.Transitions) != fmt.Sprint(w.edges) {
		bad("transitions %v, the plan predicts %v", res.Transitions, w.edges)
	}
	if !strings.Contains(res.Message, w.message) {
		bad("message %q lacks %q", res.Message, w.message)
	}
	return out
}

// resultWrites are the objects Result.Changes says were written, each with its
// net action (a create then an update is a create).
func resultWrites(res *reconcile.Result) []string {
	net := map[string]reconcile.Action{}
	for _, c := range res.Changes {
		id := c.Kind + "/" + c.Name
		if a, ok := net[id]; !ok || a == reconcile.ActionUnchanged {
			net[id] = c.Action
		}
	}
	var out []string
	for id, a := range net {
		if a != reconcile.ActionUnchanged {
			out = append(out, a.Symbol()+" "+id)
		}
	}
	sort.Strings(out)
	return out
}

func ids(ws []write) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.action.Symbol()+" "+w.id)
	}
	sort.Strings(out)
	return out
}

// compareDatabaseWrite is the change of the Database object itself between two
// snapshots.
func compareDatabaseWrite(name string, before, after snapshot) write {
	id := v1alpha1.Kind + "/" + name
	if before[id] == nil && after[id] == nil {
		return write{action: reconcile.ActionUnchanged, id: id}
	}
	return changeWrite(reconcile.NewChange("", v1alpha1.Kind, before[id], after[id]))
}

// compareDatabase compares the plan's change of the Database object itself.
func compareDatabase(p *reconcile.Plan, w want, before, after snapshot) []string {
	id := v1alpha1.Kind + "/" + p.Name
	got := compareDatabaseWrite(p.Name, before, after)
	wantDB := write{action: reconcile.ActionUnchanged, id: id}
	if w.dbApplied {
		wantDB = changeWrite(p.Database)
		wantDB.id = id
	}
	if fmt.Sprint(got) != fmt.Sprint(wantDB) {
		return []string{fmt.Sprintf("Database: reconcile made %v, the plan predicts %v", got, wantDB)}
	}
	return nil
}

// compareCreated compares each object the plan says is created with the one
// reconcile created, field by field (Secret values masked as plans mask them).
// Only what the API server allocates at the create differs: a Service's cluster
// IPs, and the Database's UID in the owner references of a new Database's
// children (the plan shows "(known after apply)").
func compareCreated(writes []reconcile.Change, after snapshot) []string {
	var out []string
	for _, c := range writes {
		live := after[c.Kind+"/"+c.Name]
		if c.Action != reconcile.ActionCreate || live == nil {
			continue
		}
		var generated []string
		for _, ch := range phases.Children(&v1alpha1.Database{ObjectMeta: objectMeta(c.Namespace, strings.TrimSuffix(c.Name, nameSuffix(c)))}) {
			if ch.Kind == c.Kind && ch.Name == c.Name {
				generated = ch.Generated
			}
		}
		got := reconcile.NewChange(c.Phase, c.Kind, nil, live, generated...).After
		for _, d := range phases.Diff(allocated(c.After), allocated(got)) {
			out = append(out, fmt.Sprintf("created %s/%s: %s is %s, the plan shows %s", c.Kind, c.Name, d.Path,
				reconcile.FlowValue(d.Right), reconcile.FlowValue(d.Left)))
		}
	}
	return out
}

// nameSuffix is the suffix of a child's name after the Database's name.
func nameSuffix(c reconcile.Change) string {
	for _, suffix := range []string{"-credentials", "-replication", "-headless", "-ro", "-config", "-replica", "-backups", "-backup"} {
		if strings.HasSuffix(c.Name, suffix) {
			return suffix
		}
	}
	return ""
}

// allocated is obj without what the API server allocates at a create.
func allocated(obj *unstructured.Unstructured) map[string]any {
	o := obj.DeepCopy()
	unstructured.RemoveNestedField(o.Object, "spec", "clusterIP")
	unstructured.RemoveNestedField(o.Object, "spec", "clusterIPs")
	refs := o.GetOwnerReferences()
	for i := range refs {
		refs[i].UID = ""
	}
	if len(refs) > 0 {
		o.SetOwnerReferences(refs)
	}
	return o.Object
}

// compareTakeBacks compares the fields the plan says reconcile takes from other
// managers (its notes: back from hand edits, or with --force-conflicts) with those
// reconcile says it took (its events), for the objects reconcile wrote.
func compareTakeBacks(p *reconcile.Plan, w want, events []reconcile.Event) []string {
	written := map[string]bool{}
	for _, c := range w.writes {
		written[c.ID()] = true
	}
	if w.dbApplied {
		written[p.Database.Kind+" "+p.Namespace+"/"+p.Name] = true
	}
	var planned, took []string
	for _, n := range p.Notes {
		id, rest, _ := strings.Cut(n, ": ")
		if !written[id] {
			continue
		}
		if fields, ok := strings.CutPrefix(rest, "takes back "); ok {
			planned = append(planned, "back "+fields)
		} else if pairs, ok := strings.CutPrefix(rest, "--force-conflicts takes "); ok {
			planned = append(planned, pairs+" with --force-conflicts")
		}
	}
	for _, ev := range events {
		if rest, ok := strings.CutPrefix(ev.Message, "took "); ok && ev.Type == reconcile.EventInfo {
			took = append(took, rest)
		}
	}
	sort.Strings(planned)
	sort.Strings(took)
	if !slices.Equal(planned, took) {
		return []string{fmt.Sprintf("reconcile took %q, the plan says it takes %q", took, planned)}
	}
	return nil
}
