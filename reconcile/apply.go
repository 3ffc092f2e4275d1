package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/reconcile/kube"
)

// Writer writes objects with server-side apply (field manager "dbctl") and the
// conflict policy of SPEC §6:
//
//   - a field another tool *applied* (a manager whose operation is Apply: another
//     GitOps tool, kubectl apply --server-side) is a conflict: reported, not forced,
//     unless ForceConflicts;
//   - a field changed by hand (a manager whose operation is Update: kubectl edit,
//     kubectl scale, kubectl patch) is drift from the spec: dbctl takes it back, and
//     says which fields it took from whom;
//   - a field dbctl owns through another operation (the Update entry of the Secret
//     it created with a POST) is its own.
//
// With DryRun every write is a server-side dry run: nothing is persisted.
type Writer struct {
	Client         client.Client
	ForceConflicts bool
	DryRun         bool
}

// ConflictError is a server-side apply conflict with another applier.
type ConflictError struct {
	Kind, Namespace, Name string
	// Conflicts are "manager: .field" pairs, sorted.
	Conflicts []string
	// Rejected, in a plan, is why the API server rejects the apply with
	// --force-conflicts too; nil when it does not, or was not asked.
	Rejected error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s %s/%s: fields are managed by another tool: %s; dbctl does not take fields another applier owns: "+
		"remove them from that tool's manifests, or rerun with --force-conflicts to take them",
		e.Kind, e.Namespace, e.Name, strings.Join(e.Conflicts, ", "))
}

// TakeOver records fields dbctl took from another manager: back from a hand edit,
// or (Forced) from another applier, with ForceConflicts.
type TakeOver struct {
	Manager string
	Fields  []string
	// Forced: the manager is another applier, whose fields only ForceConflicts takes.
	Forced bool
}

// Apply server-side applies desired. live is the current object (nil when absent),
// used to tell hand edits from other appliers on a conflict. It returns the object
// the server returned (for a dry run: what would be persisted) and the fields it
// took from other managers. The first apply is never forced, even with
// ForceConflicts: its conflicts say whose fields are taken.
func (w *Writer) Apply(ctx context.Context, desired, live *unstructured.Unstructured) (*unstructured.Unstructured, []TakeOver, error) {
	obj, err := w.apply(ctx, desired, false)
	if err == nil || !apierrors.IsConflict(err) {
		if err != nil {
			return nil, nil, w.wrap(desired, err)
		}
		return obj, nil, nil
	}
	conflicts := parseConflicts(err)
	if len(conflicts) == 0 && desired.GetResourceVersion() != "" {
		// Not another field manager: the resourceVersion precondition failed (the
		// object changed since it was read).
		return nil, nil, w.wrap(desired, err)
	}
	if live == nil {
		if live, err = w.get(ctx, desired); err != nil {
			return nil, nil, err
		}
	}
	takeOvers, appliers := classify(conflicts, live)
	switch {
	case w.ForceConflicts:
		takeOvers = append(takeOvers, appliers...)
	case len(appliers) > 0 || len(conflicts) == 0:
		pairs := conflictPairs(appliers)
		if len(pairs) == 0 {
			pairs = []string{err.Error()}
		}
		return nil, nil, &ConflictError{Kind: desired.GetKind(), Namespace: desired.GetNamespace(), Name: desired.GetName(), Conflicts: pairs}
	}
	obj, err = w.apply(ctx, desired, true)
	if err != nil {
		return nil, nil, w.wrap(desired, err)
	}
	return obj, takeOvers, nil
}

// classify splits the conflicts of an apply by manager: hand edits (a manager with
// only Update entries: dbctl takes the fields back) and other appliers (Forced:
// only ForceConflicts takes them), each sorted by manager, its fields sorted.
// dbctl's own Update entry (the Secret it created) is nothing to report.
func classify(conflicts []conflict, live *unstructured.Unstructured) (hand, appliers []TakeOver) {
	byManager := map[string][]string{}
	for _, c := range conflicts {
		byManager[c.manager] = append(byManager[c.manager], c.field)
	}
	for _, m := range slices.Sorted(maps.Keys(byManager)) {
		fields := slices.Sorted(slices.Values(byManager[m]))
		switch {
		case m == kube.FieldManager:
		case live == nil || managerApplies(live, m):
			appliers = append(appliers, TakeOver{Manager: m, Fields: fields, Forced: true})
		default:
			hand = append(hand, TakeOver{Manager: m, Fields: fields})
		}
	}
	return hand, appliers
}

// conflictPairs are the "manager: .field" pairs of take-overs, sorted.
func conflictPairs(takeOvers []TakeOver) []string {
	var out []string
	for _, t := range takeOvers {
		for _, f := range t.Fields {
			out = append(out, fmt.Sprintf("%s: %s", t.Manager, f))
		}
	}
	sort.Strings(out)
	return out
}

func (w *Writer) get(ctx context.Context, desired *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(desired.GroupVersionKind())
	if err := w.Client.Get(ctx, client.ObjectKeyFromObject(desired), live); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, w.wrap(desired, err)
	}
	return live, nil
}

func (w *Writer) apply(ctx context.Context, desired *unstructured.Unstructured, force bool) (*unstructured.Unstructured, error) {
	obj := desired.DeepCopy()
	opts := []client.ApplyOption{client.FieldOwner(kube.FieldManager)}
	if force {
		opts = append(opts, client.ForceOwnership)
	}
	if w.DryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := w.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), opts...); err != nil {
		return nil, err
	}
	return obj, nil
}

// Create creates obj (a POST, which fails if it exists: used for the credentials
// Secret so that two concurrent runs can never both generate a password).
func (w *Writer) Create(ctx context.Context, desired *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	obj := desired.DeepCopy()
	opts := []client.CreateOption{client.FieldOwner(kube.FieldManager)}
	if w.DryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := w.Client.Create(ctx, obj, opts...); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil, err
		}
		return nil, w.wrap(desired, err)
	}
	return obj, nil
}

// Delete deletes live if its UID and resourceVersion are still the ones observed
// (preconditions: a re-created or changed object of that name is never deleted by
// mistake; the conflict is retried after reading it again).
func (w *Writer) Delete(ctx context.Context, live *unstructured.Unstructured) error {
	uid, rv := live.GetUID(), live.GetResourceVersion()
	opts := []client.DeleteOption{client.Preconditions{UID: &uid, ResourceVersion: &rv}}
	if w.DryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := w.Client.Delete(ctx, live.DeepCopy(), opts...); err != nil && !apierrors.IsNotFound(err) {
		return w.wrap(live, err)
	}
	return nil
}

func (w *Writer) wrap(obj *unstructured.Unstructured, err error) error {
	verb := "applying"
	if w.DryRun {
		verb = "dry-run applying"
	}
	return fmt.Errorf("%s %s %s/%s: %w", verb, obj.GetKind(), obj.GetNamespace(), obj.GetName(), kube.Explain(err))
}

type conflict struct{ manager, field string }

var conflictRE = regexp.MustCompile(`conflict with "([^"]+)"`)

// parseConflicts reads the managers and fields of an apply conflict from the
// status causes ("conflict with \"kubectl-edit\" using apps/v1", field ".spec.replicas").
func parseConflicts(err error) []conflict {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return nil
	}
	var out []conflict
	for _, c := range status.Status().Details.Causes {
		if c.Type != metav1.CauseTypeFieldManagerConflict {
			continue
		}
		m := conflictRE.FindStringSubmatch(c.Message)
		if m == nil {
			continue
		}
		out = append(out, conflict{manager: m[1], field: c.Field})
	}
	return out
}

// managerApplies reports whether manager has an Apply entry in live's managedFields
// (another applier), as opposed to only Update entries (hand edits).
func managerApplies(live *unstructured.Unstructured, manager string) bool {
	for _, mf := range live.GetManagedFields() {
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}
