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
		return offline(p, db)
	}
	snap, err := observe(ctx, e.kube(), db, nil, e.now())
	if err != nil {
		return nil, err
	}
	if e.Secrets != nil {
		e.Secrets.Add(snap.passwords()...)
	}
	p.Phase = db.Phase()
	path, notes, refused := simulate(db, snap.obs, nil)
	if refused != "" {
		// Reconcile would refuse before any write (the Database goes Failed): the
		// plan is an error that says what to do instead.
		return nil, errors.New(refused)
	}
	changes, childNotes, err := e.planChildren(ctx, w, snap)
	if err != nil {
		return nil, err
	}
	p.Notes = append(append(p.Notes, childNotes...), notes...)
	p.Path, p.Changes = path, changes
	return p, nil
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
	p.Path, p.Notes, _ = simulate(db, obs, p.Notes)
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
// result with the live object; prunable children are deletes. The notes say which
// fields reconcile would take back from hand edits, or take with --force-conflicts.
func (e *Engine) planChildren(ctx context.Context, w *Writer, snap *snapshot) ([]Change, []string, error) {
	changes := make([]Change, len(snap.obs.Children))
	notes := make([][]string, len(snap.obs.Children))
	errs := make([]error, len(snap.obs.Children))
	var wg sync.WaitGroup
	for i, cs := range snap.obs.Children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			changes[i], notes[i], errs[i] = e.planChild(ctx, w, snap, cs)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	var all []string
	for _, n := range notes {
		all = append(all, n...)
	}
	return changes, all, nil
}

func (e *Engine) planChild(ctx context.Context, w *Writer, snap *snapshot, cs phases.ChildState) (Change, []string, error) {
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
	c := NewChange(cs.Phase, cs.Kind, live, after)
	p := &Plan{}
	e.noteConflict(p, &c, conflict)
	for _, t := range took {
		p.Notes = append(p.Notes, fmt.Sprintf("%s: takes back %s from hand edits by %q", c.ID(), strings.Join(t.Fields, ", "), t.Manager))
	}
	return c, p.Notes, nil
}

// simulate runs the state machine forward on the observation, as if every write
// succeeded, the rollout completed and the dependencies were available, and returns
// the phases reconcile would go through and, when the machine refuses a step (a
// change the running database cannot take), why.
func simulate(db *v1alpha1.Database, obs *phases.Observation, notes []string) ([]v1alpha1.Phase, []string, string) {
	db = db.DeepCopy()
	o := *obs
	o.Children = append([]phases.ChildState(nil), obs.Children...)
	o.Dependencies = &phases.DependencyResult{}
	path := []v1alpha1.Phase{db.Phase()}
	for i := 0; i < 20; i++ {
		d := phases.Decide(db, &o)
		if d.Derived != "" && i == 0 {
			notes = append(notes, fmt.Sprintf("status says %s, but the current phase is %s: %s", db.Phase(), d.From, d.Derived))
			path[0] = d.From
		}
		switch {
		case d.Refused != "":
			return path, notes, d.Refused
		case d.Done:
			return path, notes, ""
		case d.Wait == phases.WaitBackoff:
			notes = append(notes, "Failed: "+d.Message)
			o.Now = d.WaitUntil
			continue
		case d.Wait == phases.WaitRollout:
			o.Rollout.Current, o.Rollout.Exists = true, true
			o.Rollout.Ready = db.ReplicaCount()
			continue
		}
		simulateWrites(&o, d)
		db.Status = d.Status
		db.Status.ObservedGeneration = db.Generation
		if d.Transition() {
			path = append(path, d.To)
		}
		if d.To == v1alpha1.PhaseFailed {
			break
		}
	}
	return path, notes, ""
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
}
