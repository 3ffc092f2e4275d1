package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dbctl-io/dbctl/reconcile/redact"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
)

// Plan is what reconcile would do to one Database, computed without changing
// anything: the phases it would go through and every child it would create,
// update or delete (compared with server-side dry-run apply).
type Plan struct {
	Namespace, Name string
	// Source is where the spec came from, empty for the cluster; File and Line
	// locate it (for CI annotations).
	Source string
	File   string
	Line   int
	// New is true when the Database does not exist yet.
	New bool
	// Phase is the Database's phase now (Pending for a new one).
	Phase v1alpha1.Phase
	// Path is the phases reconcile would go through, starting with Phase; one
	// element when nothing would change.
	Path []v1alpha1.Phase
	// Database is the change to the Database object itself: a create (New), an
	// update of its spec or metadata (from a file), or unchanged. It is not counted
	// by Counts, which counts children. Values under spec.dependencies have their
	// URL credentials redacted.
	Database Change
	// Changes are the children, in phase order, each with its action.
	Changes []Change
	// Notes are things the reviewer should know ("namespace shop does not exist:
	// reconcile needs --create-namespace", "retry allowed at …").
	Notes []string
	// Offline is true for a plan rendered without cluster access.
	Offline bool
	// Refused says why reconcile would refuse the spec before any write (a change
	// the running database cannot take) and what to do instead; the Database would
	// go Failed. Changes then holds the refused StatefulSets only.
	Refused string
	// Saved is what the plan was computed from: the preconditions of `reconcile
	// --plan` (nil offline, or for a namespace that does not exist).
	Saved *SavedDatabase

	// live is the Database as it was before the plan (nil when absent).
	live *v1alpha1.Database
}

// Costs adds up the effects of the plan's changes on the running pods.
func (p *Plan) Costs() Costs {
	var c Costs
	for _, ch := range p.Changes {
		c.Add(ch.Cost)
	}
	return c
}

// Counts returns the number of creates, updates, deletes and unchanged objects.
func (p *Plan) Counts() (add, change, destroy, unchanged int) {
	for _, c := range p.Changes {
		switch c.Action {
		case ActionCreate:
			add++
		case ActionUpdate:
			change++
		case ActionDelete:
			destroy++
		default:
			unchanged++
		}
	}
	return
}

// Conflicts returns the number of children that another applier's fields would
// stop reconcile at (without --force-conflicts).
func (p *Plan) Conflicts() int {
	n := 0
	for _, c := range p.Changes {
		if c.Conflict != "" {
			n++
		}
	}
	return n
}

// HasChanges reports whether applying the plan would change anything: a child, or
// the Database's phase.
func (p *Plan) HasChanges() bool {
	add, change, destroy, _ := p.Counts()
	return add+change+destroy > 0 || len(p.Path) > 1 || p.New
}

// backupFirstNote says, for --backup-first, which changes a backup is taken before.
func backupFirstNote(db *v1alpha1.Database, changes []Change) []string {
	var risky []string
	for _, c := range changes {
		for _, e := range c.Cost {
			if e.Class == CostRestartsPrimary || e.Class == CostRemovesReplicas || e.Class == CostRecreatesStatefulSet {
				risky = append(risky, c.ID()+" ("+CostText(c.Cost)+")")
				break
			}
		}
	}
	if len(risky) == 0 {
		return nil
	}
	if db.Spec.Backup == nil {
		return []string{"--backup-first: " + strings.Join(risky, "; ") + " needs a backup first, but the Database has no spec.backup: reconcile would stop with exit 1"}
	}
	return []string{"--backup-first: a backup is taken, and must complete, before " + strings.Join(risky, "; ")}
}

// OfflineUID stands in for the UID of a Database that does not exist yet (offline,
// or a new Database whose dry-run create invented one): the children's owner
// references show it instead of a UID that would change with every plan.
const OfflineUID = "(known after apply)"

// Plan computes the plan of one target. It writes nothing: the Database and the
// children are compared through server-side dry runs, and dependencies are not
// checked (they are assumed available).
//
// A child (or the Database) that another applier owns fields of is planned as
// --force-conflicts would apply it, and its Change.Conflict names the fields and
// their managers: without --force-conflicts reconcile stops there. With
// ForceConflicts the fields it would take are listed in Notes instead.
func (e *Engine) Plan(ctx context.Context, t Target) (*Plan, error) {
	p := &Plan{Namespace: t.Namespace, Name: t.Name, Source: t.Source, File: t.File, Line: t.Line}
	// Never force the first dry run: a conflict must be seen to be reported.
	w := &Writer{Client: e.Client, DryRun: true}
	db, nsMissing, err := e.planDatabase(ctx, w, t, p)
	if err != nil {
		return nil, err
	}
	if nsMissing {
		p.Notes = append(p.Notes, fmt.Sprintf("namespace %s does not exist: reconcile needs --create-namespace (or create it first)", t.Namespace))
		if p, err = offline(p, db); err != nil {
			return nil, err
		}
		// Nothing exists: every precondition is an absence.
		p.Saved, err = saved(t, nil, db, nil, append([]Change{p.Database}, p.Changes...))
		return p, err
	}
	snap, err := observe(ctx, e.kube(), db, nil, e.now())
	if err != nil {
		return nil, err
	}
	if e.Secrets != nil {
		e.Secrets.Add(snap.passwords()...)
	}
	p.Phase = db.Phase()
	sim := simulate(db, snap.obs, nil)
	p.Path = sim.path
	if sim.refused != "" {
		// Reconcile would refuse before any write (the Database goes Failed): the
		// plan says so, and what to do instead.
		p.Refused, p.Notes = sim.refused, append(p.Notes, sim.notes...)
		p.Changes = refusedChanges(db, snap)
	} else {
		changes, childNotes, err := e.planChildren(ctx, w, db, snap, sim.grow)
		if err != nil {
			return nil, err
		}
		p.Notes = append(append(p.Notes, childNotes...), sim.notes...)
		p.Changes = changes
		if e.BackupFirst {
			p.Notes = append(p.Notes, backupFirstNote(db, changes)...)
		}
	}
	if p.Saved, err = saved(t, p.live, db, snap, append([]Change{p.Database}, p.Changes...)); err != nil {
		return nil, err
	}
	return p, nil
}

// refusedChanges are the StatefulSets a refused spec would have changed.
func refusedChanges(db *v1alpha1.Database, snap *snapshot) []Change {
	var out []Change
	for _, cs := range snap.obs.Children {
		if cs.Kind != phases.KindStatefulSet || !cs.Exists {
			continue
		}
		c := Change{Action: ActionUpdate, Phase: cs.Phase, Kind: cs.Kind, Namespace: db.Namespace, Name: cs.Name,
			Before: Clean(snap.liveOf(cs.Ref)), Cost: []Effect{{Class: CostRefused}}}
		out = append(out, c)
	}
	return out
}

// PlanOffline renders the plan of a Database from a file against an empty cluster:
// no cluster access at all; every child is a create.
func PlanOffline(db *v1alpha1.Database, source string) (*Plan, error) {
	p := &Plan{Namespace: db.Namespace, Name: db.Name, Source: source, New: true, Offline: true}
	return offline(p, db.DeepCopy())
}

func offline(p *Plan, db *v1alpha1.Database) (*Plan, error) {
	if db.UID == "" {
		db.UID = types.UID(OfflineUID)
	}
	p.New, p.Phase = true, v1alpha1.PhasePending
	db.Status = v1alpha1.DatabaseStatus{}
	obj, err := databaseObject(db)
	if err != nil {
		return nil, err
	}
	p.Database = databaseChange(nil, obj)
	children, err := phases.Desired(db, phases.Inputs{Password: GeneratedAtApply, ReplicationPassword: GeneratedAtApply})
	if err != nil {
		return nil, err
	}
	obs := &phases.Observation{Now: time.Now()}
	p.Changes = nil
	for _, c := range children {
		if c.Want != phases.Present {
			continue
		}
		obs.Children = append(obs.Children, phases.ChildState{Child: c, Drift: []string{"missing"}})
		p.Changes = append(p.Changes, NewChange(c.Phase, c.Kind, nil, c.Desired, c.Generated...))
	}
	sim := simulate(db, obs, p.Notes)
	p.Path, p.Notes = sim.path, sim.notes
	return p, nil
}

// databaseObject is db as an unstructured object with its apiVersion and kind.
func databaseObject(db *v1alpha1.Database) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(db)
	if err != nil {
		return nil, fmt.Errorf("encoding Database %s/%s: %w", db.Namespace, db.Name, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(v1alpha1.Kind))
	return u, nil
}

// databaseChange is the change to the Database object itself. Dependency URLs may
// carry credentials: they are redacted in the fields and in Before/After.
func databaseChange(live, after *unstructured.Unstructured) Change {
	c := NewChange("", v1alpha1.Kind, live, after)
	for i := range c.Fields {
		if strings.HasPrefix(c.Fields[i].Path, "spec.dependencies") {
			c.Fields[i].Old = redact.Text(c.Fields[i].Old)
			c.Fields[i].New = redact.Text(c.Fields[i].New)
		}
	}
	for _, obj := range []*unstructured.Unstructured{c.Before, c.After} {
		if obj == nil {
			continue
		}
		deps, _, _ := unstructured.NestedSlice(obj.Object, "spec", "dependencies")
		for _, d := range deps {
			if m, ok := d.(map[string]any); ok {
				if u, ok := m["url"].(string); ok {
					m["url"] = redact.URL(u)
				}
			}
		}
		if deps != nil {
			_ = unstructured.SetNestedSlice(obj.Object, deps, "spec", "dependencies")
		}
	}
	return c
}

// planDatabase dry-run applies the Database from its file (or reads it from the
// cluster) and returns it as reconcile would see it.
func (e *Engine) planDatabase(ctx context.Context, w *Writer, t Target, p *Plan) (*v1alpha1.Database, bool, error) {
	if t.Object == nil {
		db, err := GetDatabase(ctx, e.Client, t.Namespace, t.Name)
		if err != nil {
			return nil, false, err
		}
		p.Database = Change{Action: ActionUnchanged, Kind: v1alpha1.Kind, Namespace: db.Namespace, Name: db.Name}
		p.live = db
		return db, false, nil
	}
	live, err := w.get(ctx, t.Object)
	if err != nil {
		if isNamespaceMissing(err) {
			return e.fromObject(t.Object, true)
		}
		return nil, false, err
	}
	p.New = live == nil
	if live != nil {
		if p.live, _, err = e.fromObject(live, false); err != nil {
			return nil, false, err
		}
	}
	obj, conflict, _, err := e.dryApply(ctx, w, t.Object, live)
	if err != nil {
		if isNamespaceMissing(err) || (live == nil && apierrors.IsNotFound(err) && e.namespaceMissing(ctx, t.Namespace)) {
			return e.fromObject(t.Object, true)
		}
		return nil, false, specRejected(t, err)
	}
	db, _, err := e.fromObject(obj, false)
	if err != nil {
		return nil, false, err
	}
	if live == nil {
		// A dry-run create shows no status and invents a UID: plan against an empty
		// Database whose UID is not known yet.
		db.Status = v1alpha1.DatabaseStatus{}
		db.UID = types.UID(OfflineUID)
	}
	p.Database = databaseChange(live, obj)
	e.noteConflict(p, &p.Database, conflict)
	return db, false, nil
}

// namespaceMissing reports whether the namespace does not exist (an error reading it
// is not taken as missing).
func (e *Engine) namespaceMissing(ctx context.Context, namespace string) bool {
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	err := e.Client.Get(ctx, types.NamespacedName{Name: namespace}, ns)
	return apierrors.IsNotFound(err)
}

// dryApply dry-run applies desired without forcing. On a conflict with another
// applier it dry-runs again with force, so that the plan shows what
// --force-conflicts would change, and returns the conflict.
func (e *Engine) dryApply(ctx context.Context, w *Writer, desired, live *unstructured.Unstructured) (*unstructured.Unstructured, *ConflictError, []TakeOver, error) {
	after, took, err := w.Apply(ctx, desired, live)
	var conflict *ConflictError
	if !errors.As(err, &conflict) {
		return after, nil, took, err
	}
	forced := &Writer{Client: w.Client, DryRun: true, ForceConflicts: true}
	after, _, err = forced.Apply(ctx, desired, live)
	if err != nil {
		return nil, nil, nil, err
	}
	return after, conflict, nil, nil
}

// noteConflict records a conflict on the change (reconcile would stop there) or,
// with ForceConflicts, as a note of the fields reconcile would take.
func (e *Engine) noteConflict(p *Plan, c *Change, conflict *ConflictError) {
	if conflict == nil {
		return
	}
	if e.ForceConflicts {
		p.Notes = append(p.Notes, fmt.Sprintf("%s: --force-conflicts takes %s", c.ID(), strings.Join(conflict.Conflicts, ", ")))
		return
	}
	c.Conflict = strings.Join(conflict.Conflicts, ", ")
}

func (e *Engine) fromObject(obj *unstructured.Unstructured, nsMissing bool) (*v1alpha1.Database, bool, error) {
	db := &v1alpha1.Database{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, db); err != nil {
		return nil, false, fmt.Errorf("decoding Database %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	db.Default()
	return db, nsMissing, nil
}

// planChildren dry-run applies every desired child (concurrently) and compares the
// result with the live object; prunable children are deletes. A volume growth adds
// the PVCs it expands and plans the StatefulSets it recreates. Each change gets its
// cost. The notes say which fields reconcile would take back from hand edits, or
// take with --force-conflicts.
func (e *Engine) planChildren(ctx context.Context, w *Writer, db *v1alpha1.Database, snap *snapshot, grow *phases.Growth) ([]Change, []string, error) {
	n := len(snap.obs.Children)
	changes, notes, errs := make([]Change, n), make([][]string, n), make([]error, n)
	recreate := map[string]bool{}
	if grow != nil {
		for _, name := range grow.StatefulSets {
			recreate[name] = true
		}
	}
	var wg sync.WaitGroup
	for i, cs := range snap.obs.Children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cs.Kind == phases.KindStatefulSet && recreate[cs.Name] {
				changes[i], errs[i] = e.planRecreate(ctx, w, snap, cs)
				return
			}
			changes[i], notes[i], errs[i] = e.planChild(ctx, w, db, snap, cs)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	var out []Change
	var all []string
	for i, c := range changes {
		if grow != nil && c.Phase == v1alpha1.PhaseDeploying {
			// The growth expands the PVCs before it writes the StatefulSets.
			for _, pvc := range grow.PVCs {
				out = append(out, volumeChange(db.Namespace, pvc, grow))
			}
			grow = nil
		}
		c.Cost = costOf(c, db, recreate[c.Name] && c.Kind == phases.KindStatefulSet)
		out = append(out, c)
		all = append(all, notes[i]...)
	}
	return out, all, nil
}

// planRecreate plans a StatefulSet that a volume growth recreates: its volume claim
// templates cannot change in place, so the dry run applies the rest of it over the
// live claim templates, and the planned object takes the new ones.
func (e *Engine) planRecreate(ctx context.Context, w *Writer, snap *snapshot, cs phases.ChildState) (Change, error) {
	live := snap.liveOf(cs.Ref)
	desired := cs.Desired.DeepCopy()
	templates, _, _ := unstructured.NestedSlice(live.Object, "spec", "volumeClaimTemplates")
	if err := unstructured.SetNestedSlice(desired.Object, templates, "spec", "volumeClaimTemplates"); err != nil {
		return Change{}, err
	}
	after, _, _, err := e.dryApply(ctx, w, desired, live)
	if err != nil {
		return Change{}, err
	}
	wanted, _, _ := unstructured.NestedSlice(cs.Desired.Object, "spec", "volumeClaimTemplates")
	merged := after.DeepCopy()
	if err := unstructured.SetNestedSlice(merged.Object, mergeClaims(templates, wanted), "spec", "volumeClaimTemplates"); err != nil {
		return Change{}, err
	}
	return NewChange(cs.Phase, cs.Kind, live, merged), nil
}

// mergeClaims is the live claim templates with the requested storage of the wanted
// ones (by name): what the recreated StatefulSet will have.
func mergeClaims(live, wanted []any) []any {
	out := runtime.DeepCopyJSONValue(live).([]any)
	for _, w := range wanted {
		wm, _ := w.(map[string]any)
		name, _, _ := unstructured.NestedString(wm, "metadata", "name")
		size, found, _ := unstructured.NestedString(wm, "spec", "resources", "requests", "storage")
		for _, l := range out {
			lm, _ := l.(map[string]any)
			if n, _, _ := unstructured.NestedString(lm, "metadata", "name"); n == name && found {
				_ = unstructured.SetNestedField(lm, size, "spec", "resources", "requests", "storage")
			}
		}
	}
	return out
}

func (e *Engine) planChild(ctx context.Context, w *Writer, db *v1alpha1.Database, snap *snapshot, cs phases.ChildState) (Change, []string, error) {
	live := snap.liveOf(cs.Ref)
	if cs.Prune {
		return NewChange(cs.Phase, cs.Kind, live, nil), nil, nil
	}
	if cs.Kind == phases.KindSecret && live == nil {
		// The dry run of the POST reconcile makes (its permission, its validity);
		// the change shown is the whole Secret the apply after it writes.
		if _, err := w.Create(ctx, cs.CreateBody()); err != nil && !apierrors.IsAlreadyExists(err) {
			return Change{}, nil, err
		}
		return NewChange(cs.Phase, cs.Kind, nil, cs.Desired, cs.Generated...), nil, nil
	}
	if live != nil && !cs.Drifted() {
		// Every field dbctl applies is in the live object as dbctl owns it: a
		// server-side apply would be a no-op, so the dry run is skipped (the same
		// answer, one request less per child).
		return NewChange(cs.Phase, cs.Kind, live, live), nil, nil
	}
	after, conflict, took, err := e.dryApply(ctx, w, cs.Desired, live)
	if err != nil {
		return Change{}, nil, err
	}
	if phases.KeptOwned(db, cs.Kind, after) {
		after = after.DeepCopy() // reconcile removes it after the apply
		after.SetOwnerReferences(nil)
	}
	c := NewChange(cs.Phase, cs.Kind, live, after)
	p := &Plan{}
	e.noteConflict(p, &c, conflict)
	for _, t := range took {
		p.Notes = append(p.Notes, fmt.Sprintf("%s: takes back %s from hand edits by %q", c.ID(), strings.Join(t.Fields, ", "), t.Manager))
	}
	return c, p.Notes, nil
}

// simulation is what simulate found: the phases reconcile would go through, the
// notes, why the machine refuses a step (a change the running database cannot
// take), and the volume growth it would perform.
type simulation struct {
	path    []v1alpha1.Phase
	notes   []string
	refused string
	grow    *phases.Growth
}

// simulate runs the state machine forward on the observation, as if every write
// succeeded, the rollout completed, the volumes grew and the dependencies were
// available.
func simulate(db *v1alpha1.Database, obs *phases.Observation, notes []string) simulation {
	db = db.DeepCopy()
	o := *obs
	o.Children = append([]phases.ChildState(nil), obs.Children...)
	o.Dependencies = &phases.DependencyResult{}
	sim := simulation{path: []v1alpha1.Phase{db.Phase()}, notes: notes}
	for i := 0; i < 20; i++ {
		d := phases.Decide(db, &o)
		if d.Derived != "" && i == 0 {
			sim.notes = append(sim.notes, fmt.Sprintf("status says %s, but the current phase is %s: %s", db.Phase(), d.From, d.Derived))
			sim.path[0] = d.From
		}
		if sim.grow == nil {
			sim.grow = d.Grow
		}
		switch {
		case d.Refused != "":
			sim.refused = d.Refused
			sim.path = append(sim.path, v1alpha1.PhaseFailed)
			return sim
		case d.Done:
			return sim
		case d.Wait == phases.WaitBackoff:
			sim.notes = append(sim.notes, "Failed: "+d.Message)
			o.Now = d.WaitUntil
			continue
		case d.Wait == phases.WaitRollout:
			o.Rollout.Current, o.Rollout.Exists = true, true
			o.Rollout.Ready = db.ReplicaCount()
			continue
		case d.Wait == phases.WaitVolumes:
			o.Volumes = nil
			continue
		}
		simulateWrites(&o, d)
		db.Status = d.Status
		db.Status.ObservedGeneration = db.Generation
		if d.Transition() {
			sim.path = append(sim.path, d.To)
		}
		if d.To == v1alpha1.PhaseFailed {
			break
		}
	}
	return sim
}

// simulateWrites marks the children of the phases d applies as written.
func simulateWrites(o *phases.Observation, d phases.Decision) {
	for _, p := range d.Apply {
		for j := range o.Children {
			if o.Children[j].Phase == p {
				o.Children[j].Drift, o.Children[j].Exists, o.Children[j].Prune = nil, true, false
			}
		}
	}
	if d.To == v1alpha1.PhaseDeploying || d.To == v1alpha1.PhaseVerifying {
		o.DataExists = true
	}
	if d.Grow != nil {
		o.Workload, o.ReplicaWorkload, o.Volumes = nil, nil, nil // grown, written again
	}
}
