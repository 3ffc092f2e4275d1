package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/resilience"
)

// SavedDatabase is what a saved plan (`plan --out`) records of one Database besides
// its changes: the state of everything the plan was computed from, the
// preconditions `reconcile --plan` checks before its first write. It holds no
// secret value.
type SavedDatabase struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Database is the Database object's state; SpecDigest the digest of the spec
	// the plan was computed for (from the file, or the cluster).
	Database   ObjectState `json:"database"`
	SpecDigest string      `json:"specDigest"`
	// Children are the states of every child the Database can have.
	Children []ObjectState `json:"children"`
	// Volumes are the data PVCs' requested sizes, when a volume growth was planned.
	Volumes []VolumeState `json:"volumes,omitempty"`
	// Writes are the objects the plan writes ("Kind/name": create, update,
	// delete): reconcile --plan writes no other.
	Writes []string `json:"writes"`
}

// ObjectState is an object's state as a precondition: absent, or its generation
// where the object has one (so that the status the cluster rewrites on its own is
// no difference: a StatefulSet, a PodDisruptionBudget, the Database), else its
// resourceVersion.
type ObjectState struct {
	Kind            string `json:"kind"`
	Name            string `json:"name"`
	Exists          bool   `json:"exists"`
	Generation      int64  `json:"generation,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// VolumeState is a data PVC's requested size.
type VolumeState struct {
	Name      string `json:"name"`
	Requested string `json:"requested"`
}

// stateOf is the precondition state of obj (nil: absent) of kind and name.
func stateOf(kind, name string, obj *unstructured.Unstructured) ObjectState {
	s := ObjectState{Kind: kind, Name: name}
	if obj == nil {
		return s
	}
	s.Exists = true
	if obj.GetGeneration() > 0 {
		s.Generation = obj.GetGeneration()
	} else {
		s.ResourceVersion = obj.GetResourceVersion()
	}
	return s
}

// describe says what changed between a recorded state and the live one; "" when
// nothing did.
func (s ObjectState) describe(namespace string, live ObjectState) string {
	id := fmt.Sprintf("%s %s/%s", s.Kind, namespace, s.Name)
	switch {
	case s.Exists && !live.Exists:
		return id + " was deleted since the plan"
	case !s.Exists && live.Exists:
		return id + " was created since the plan"
	case s.Generation != live.Generation:
		return fmt.Sprintf("%s changed since the plan (generation %d → %d)", id, s.Generation, live.Generation)
	case s.ResourceVersion != live.ResourceVersion:
		return fmt.Sprintf("%s changed since the plan (resourceVersion %s → %s)", id, s.ResourceVersion, live.ResourceVersion)
	}
	return ""
}

// SpecDigest is the digest of a Database's spec, its defaults applied: the same
// for the spec of a file and the spec the API server stores from it.
func SpecDigest(db *v1alpha1.Database) (string, error) {
	c := db.DeepCopy()
	c.Default()
	b, err := json.Marshal(c.Spec)
	if err != nil {
		return "", fmt.Errorf("digesting the spec of Database %s/%s: %w", db.Namespace, db.Name, err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// targetDigest is the digest of the spec a target asks for: its file's, or the
// cluster's Database (db) when it has no file.
func targetDigest(t Target, db *v1alpha1.Database) (string, error) {
	if t.Object == nil {
		if db == nil {
			return "", nil
		}
		return SpecDigest(db)
	}
	fromFile := &v1alpha1.Database{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(t.Object.Object, fromFile); err != nil {
		return "", fmt.Errorf("decoding Database %s/%s: %w", t.Namespace, t.Name, err)
	}
	return SpecDigest(fromFile)
}

// saved records the preconditions of a plan: the Database (live, nil when absent)
// and every child in snap (nil: nothing exists, the namespace neither).
func saved(t Target, live *v1alpha1.Database, db *v1alpha1.Database, snap *snapshot, changes []Change) (*SavedDatabase, error) {
	s := &SavedDatabase{Namespace: t.Namespace, Name: t.Name, Database: ObjectState{Kind: v1alpha1.Kind, Name: t.Name}, Writes: []string{}}
	if live != nil {
		s.Database.Exists, s.Database.Generation = true, live.Generation
	}
	digest, err := targetDigest(t, live)
	if err != nil {
		return nil, err
	}
	s.SpecDigest = digest
	for _, c := range phases.Children(db) {
		var live *unstructured.Unstructured
		if snap != nil {
			live = snap.liveOf(c.Ref)
		}
		s.Children = append(s.Children, stateOf(c.Kind, c.Name, live))
	}
	if snap != nil {
		for _, v := range snap.obs.Volumes {
			s.Volumes = append(s.Volumes, VolumeState{Name: v.Name, Requested: v.Requested.String()})
		}
	}
	for _, c := range changes {
		if c.Action == ActionCreate || c.Action == ActionUpdate || c.Action == ActionDelete {
			s.Writes = append(s.Writes, c.Kind+"/"+c.Name)
		}
	}
	return s, nil
}

// differences lists what changed since the plan: the Database (live, nil when
// absent) and its spec digest, the children, the volumes.
func (s *SavedDatabase) differences(live *v1alpha1.Database, digest string, children phases.Live, volumes []phases.Volume) []string {
	var out []string
	dbState := ObjectState{Kind: v1alpha1.Kind, Name: s.Name}
	if live != nil {
		dbState.Exists, dbState.Generation = true, live.Generation
	}
	if d := s.Database.describe(s.Namespace, dbState); d != "" {
		out = append(out, d)
	}
	if digest != s.SpecDigest {
		out = append(out, fmt.Sprintf("Database %s/%s: the spec is not the one planned (%s, planned %s)", s.Namespace, s.Name, short(digest), short(s.SpecDigest)))
	}
	for _, c := range s.Children {
		if d := c.describe(s.Namespace, stateOf(c.Kind, c.Name, children[phases.Ref{Kind: c.Kind, Name: c.Name}])); d != "" {
			out = append(out, d)
		}
	}
	for _, v := range s.Volumes {
		i := slices.IndexFunc(volumes, func(l phases.Volume) bool { return l.Name == v.Name })
		switch {
		case i < 0:
			out = append(out, fmt.Sprintf("PersistentVolumeClaim %s/%s was deleted since the plan", s.Namespace, v.Name))
		case volumes[i].Requested.String() != v.Requested:
			out = append(out, fmt.Sprintf("PersistentVolumeClaim %s/%s changed since the plan (requests %s → %s)",
				s.Namespace, v.Name, v.Requested, volumes[i].Requested.String()))
		}
	}
	return out
}

func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19]
	}
	if digest == "" {
		return "none"
	}
	return digest
}

// PlanChangedError: the cluster or the spec changed since the saved plan (exit 1):
// plan again. Found by the check before the first write (Checked: nothing was
// written), or by a write's precondition (the writes before it stand).
type PlanChangedError struct {
	Differences []string
	Checked     bool
}

func (e *PlanChangedError) Error() string {
	if e.Checked {
		return fmt.Sprintf("the cluster changed since the plan, nothing was written: %s; run dbctl plan again", joinList(e.Differences))
	}
	return fmt.Sprintf("the cluster changed while the plan was applied, stopped before that write: %s; run dbctl plan again", joinList(e.Differences))
}

// PlanDivergedError: the state machine needs a write the saved plan does not
// contain; reconcile stops there (exit 3).
type PlanDivergedError struct{ Write, Why string }

func (e *PlanDivergedError) Error() string {
	return fmt.Sprintf("reconcile would write %s, which the plan does not contain (%s): stopped; run dbctl plan again", e.Write, e.Why)
}

func joinList(items []string) string { return strings.Join(items, "; ") }

// checkPlan checks, before any write, that nothing the saved plan was computed
// from changed: the Database and its spec, every child, the volumes. It records
// the children's states the writes must find.
func (r *run) checkPlan(ctx context.Context) error {
	s := r.t.Planned
	live, err := r.c.getDatabase(ctx, r.t.Namespace, r.t.Name)
	var notFound *NotFoundError
	switch {
	case errors.As(err, &notFound):
		live = nil
	case err != nil:
		return err
	}
	digest, err := targetDigest(r.t, live)
	if err != nil {
		return err
	}
	refs := make([]phases.Ref, len(s.Children))
	for i, c := range s.Children {
		refs[i] = phases.Ref{Kind: c.Kind, Name: c.Name}
	}
	names := &v1alpha1.Database{}
	names.Namespace, names.Name = r.t.Namespace, r.t.Name
	children, err := r.c.readChildren(ctx, names, refs)
	if err != nil {
		return err
	}
	var volumes []phases.Volume
	if len(s.Volumes) > 0 {
		pvcs, err := r.c.listVolumes(ctx, names)
		if err != nil {
			return err
		}
		for _, p := range pvcs {
			volumes = append(volumes, volumeOf(p, false))
		}
	}
	if diffs := s.differences(live, digest, children, volumes); len(diffs) > 0 {
		return resilience.Permanent(&PlanChangedError{Differences: diffs, Checked: true})
	}
	r.expected = map[phases.Ref]ObjectState{}
	for _, c := range s.Children {
		r.expected[phases.Ref{Kind: c.Kind, Name: c.Name}] = c
	}
	if live != nil && r.t.Object != nil {
		// The Database's own apply carries the resourceVersion just checked.
		r.t.Object = r.t.Object.DeepCopy()
		r.t.Object.SetResourceVersion(live.ResourceVersion)
	}
	return nil
}

// guardWrite checks, following a saved plan, that the plan contains the write of
// child ref and that the child is as the plan (or this run's own writes) left it;
// it returns the desired object carrying the live resourceVersion as a
// precondition. Without a plan it returns desired as it is.
func (r *run) guardWrite(ref phases.Ref, desired, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	s := r.t.Planned
	if s == nil {
		return desired, nil
	}
	if !slices.Contains(s.Writes, ref.String()) {
		return nil, resilience.Permanent(&PlanDivergedError{Write: ref.Kind + " " + r.t.Namespace + "/" + ref.Name,
			Why: "it differs from the spec now"})
	}
	if want, ok := r.expected[ref]; ok {
		if d := want.describe(r.t.Namespace, stateOf(ref.Kind, ref.Name, live)); d != "" {
			return nil, resilience.Permanent(&PlanChangedError{Differences: []string{d}})
		}
	}
	if desired == nil || live == nil {
		return desired, nil
	}
	d := desired.DeepCopy()
	d.SetResourceVersion(live.GetResourceVersion())
	return d, nil
}

// wrote records, following a saved plan, the state this run's write left.
func (r *run) wrote(ref phases.Ref, after *unstructured.Unstructured) {
	if r.expected != nil {
		r.expected[ref] = stateOf(ref.Kind, ref.Name, after)
	}
}

// planConflict turns, following a saved plan, a failed precondition (an object
// changed between the check and the write) into a PlanChangedError: never retried.
func (r *run) planConflict(err error, ref phases.Ref) error {
	if r.t.Planned == nil || !apierrors.IsConflict(err) {
		return err
	}
	var conflict *ConflictError
	if errors.As(err, &conflict) {
		return err
	}
	return resilience.Permanent(&PlanChangedError{Differences: []string{
		fmt.Sprintf("%s %s/%s changed while it was being written (%v)", ref.Kind, r.t.Namespace, ref.Name, err)}})
}
