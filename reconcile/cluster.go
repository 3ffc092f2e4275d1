package reconcile

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/kube"
)

// cluster is everything the engine's step loop asks of the cluster. kubeCluster
// implements it on the API server; the engine's unit tests (engine_unit_test.go)
// implement it in memory, with faults injected where they want them, to test the
// orchestration (the step loop, the retry and conflict paths, which decision
// writes what) without an API server.
type cluster interface {
	// getDatabase reads a Database; a *NotFoundError when it does not exist.
	getDatabase(ctx context.Context, namespace, name string) (*v1alpha1.Database, error)
	// applyDatabase server-side applies a Database read from a file, with
	// dbctl's conflict policy (Writer.Apply).
	applyDatabase(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, []TakeOver, error)
	// createNamespace creates (applies) a namespace.
	createNamespace(ctx context.Context, name string) error
	// updateStatus writes db's status subresource with db's resourceVersion as a
	// precondition (an API Conflict when another writer came first) and updates
	// db's resourceVersion.
	updateStatus(ctx context.Context, db *v1alpha1.Database) error
	// readChildren reads the children refs of db; a child that does not exist is
	// left out.
	readChildren(ctx context.Context, db *v1alpha1.Database, refs []phases.Ref) (phases.Live, error)
	// pvcsExist reports whether a data PVC of db (data-<name>-<ordinal>) exists.
	pvcsExist(ctx context.Context, db *v1alpha1.Database) (bool, error)
	// apply server-side applies desired with dbctl's conflict policy (Writer.Apply);
	// live is the object before, nil when absent.
	apply(ctx context.Context, desired, live *unstructured.Unstructured) (*unstructured.Unstructured, []TakeOver, error)
	// create creates desired with a POST (AlreadyExists when it exists).
	create(ctx context.Context, desired *unstructured.Unstructured) (*unstructured.Unstructured, error)
	// delete deletes live, with its UID as a precondition.
	delete(ctx context.Context, live *unstructured.Unstructured) error
	// listVolumes lists db's PVCs (by its labels; the data PVCs among them).
	listVolumes(ctx context.Context, db *v1alpha1.Database) ([]corev1.PersistentVolumeClaim, error)
	// growVolume sets PVC name's requested storage to size (a merge patch: dbctl
	// did not create the PVC); with dryRun the API server only checks it (its
	// admission refuses a PVC that cannot grow).
	growVolume(ctx context.Context, namespace, name string, size resource.Quantity, dryRun bool) error
	// latestBackup is the newest complete backup among db's backup Jobs (nil when
	// none).
	latestBackup(ctx context.Context, db *v1alpha1.Database) (*v1alpha1.BackupRecord, error)
	// disown removes live's owner references (a merge patch with live's
	// resourceVersion as a precondition): a Secret kept when the Database is
	// deleted must not be collected with it.
	disown(ctx context.Context, live *unstructured.Unstructured) (*unstructured.Unstructured, error)
	// deleteOrphan deletes live, leaving its dependents (the pods of a
	// StatefulSet), with its UID as a precondition; with dryRun the API server
	// only checks it (the permission, the precondition).
	deleteOrphan(ctx context.Context, live *unstructured.Unstructured, dryRun bool) error
	// clearLeftoverStatus sets the observedGeneration of StatefulSet live's status
	// to 0 (a merge patch of the status subresource, live's resourceVersion as a
	// precondition) when it holds the status of the StatefulSet it replaced
	// (phases.Rollout.LeftoverStatus): the StatefulSet controller then writes the
	// status anew. A precondition that fails (the status changed meanwhile) or a
	// StatefulSet gone is not an error.
	clearLeftoverStatus(ctx context.Context, live *unstructured.Unstructured) error
	// waitGone waits until live no longer exists (the garbage collector removes
	// an object deleted with orphans only after releasing them).
	waitGone(ctx context.Context, live *unstructured.Unstructured) error
	// waitRollout waits for db's StatefulSets to roll out, until until (the verify
	// deadline), or ctx ends; sets are the StatefulSets by name, as last observed.
	waitRollout(ctx context.Context, db *v1alpha1.Database, sets map[string]*unstructured.Unstructured, until time.Time, report func(phases.Rollout, string)) error
}

// kubeCluster is the cluster on the API server.
type kubeCluster struct{ e *Engine }

// writer writes with the engine's conflict policy as it is now.
func (k *kubeCluster) writer() *Writer {
	return &Writer{Client: k.e.Client, ForceConflicts: k.e.ForceConflicts}
}

func (k *kubeCluster) getDatabase(ctx context.Context, namespace, name string) (*v1alpha1.Database, error) {
	return GetDatabase(ctx, k.e.Client, namespace, name)
}

func (k *kubeCluster) applyDatabase(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, []TakeOver, error) {
	return k.writer().Apply(ctx, obj, nil)
}

func (k *kubeCluster) createNamespace(ctx context.Context, name string) error {
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(name)
	_, _, err := k.writer().Apply(ctx, ns, nil)
	return err
}

func (k *kubeCluster) updateStatus(ctx context.Context, db *v1alpha1.Database) error {
	if err := k.e.Client.Status().Update(ctx, db, client.FieldOwner(kube.FieldManager)); err != nil {
		if apierrors.IsConflict(err) {
			return err
		}
		return fmt.Errorf("writing the status of Database %s/%s: %w", db.Namespace, db.Name, kube.Explain(err))
	}
	return nil
}

// readChildren reads the children concurrently.
func (k *kubeCluster) readChildren(ctx context.Context, db *v1alpha1.Database, refs []phases.Ref) (phases.Live, error) {
	objs := make([]*unstructured.Unstructured, len(refs))
	errs := make([]error, len(refs))
	var wg sync.WaitGroup
	for i, r := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(r.GroupVersionKind())
			err := k.get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: r.Name}, u)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				errs[i] = fmt.Errorf("reading %s %s/%s: %w", r.Kind, db.Namespace, r.Name, kube.Explain(err))
			default:
				objs[i] = u
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	live := phases.Live{}
	for i, r := range refs {
		if objs[i] != nil {
			live[r] = objs[i]
		}
	}
	return live, nil
}

// readAttempts and readRetryDelay bound get's retries: a read is idempotent, so a
// transient failure of one of a step's dozen reads is retried on the spot instead of
// failing the whole step (under a flaky API server, the chance that every read of a
// step succeeds at once falls with each child).
const (
	readAttempts   = 3
	readRetryDelay = 50 * time.Millisecond
)

// get reads one object, retrying a transient failure (Transient) up to readAttempts
// times, readRetryDelay apart, doubling, and never past ctx.
func (k *kubeCluster) get(ctx context.Context, key client.ObjectKey, obj client.Object) error {
	delay := readRetryDelay
	for attempt := 1; ; attempt++ {
		err := k.e.Client.Get(ctx, key, obj)
		if err == nil || attempt == readAttempts || !Transient(err) || apierrors.IsConflict(err) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay *= 2
	}
}

func (k *kubeCluster) pvcsExist(ctx context.Context, db *v1alpha1.Database) (bool, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaimList"})
	if err := k.e.Client.List(ctx, list, client.InNamespace(db.Namespace)); err != nil {
		return false, fmt.Errorf("listing PersistentVolumeClaims in %s: %w", db.Namespace, kube.Explain(err))
	}
	re := regexp.MustCompile("^data-" + regexp.QuoteMeta(db.Name) + "-[0-9]+$")
	for _, pvc := range list.Items {
		if re.MatchString(pvc.GetName()) {
			return true, nil
		}
	}
	return false, nil
}

func (k *kubeCluster) apply(ctx context.Context, desired, live *unstructured.Unstructured) (*unstructured.Unstructured, []TakeOver, error) {
	return k.writer().Apply(ctx, desired, live)
}

func (k *kubeCluster) create(ctx context.Context, desired *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return k.writer().Create(ctx, desired)
}

func (k *kubeCluster) delete(ctx context.Context, live *unstructured.Unstructured) error {
	return k.writer().Delete(ctx, live)
}

func (k *kubeCluster) listVolumes(ctx context.Context, db *v1alpha1.Database) ([]corev1.PersistentVolumeClaim, error) {
	list := &corev1.PersistentVolumeClaimList{}
	if err := k.e.Client.List(ctx, list, client.InNamespace(db.Namespace), client.MatchingLabels(phases.SelectorLabels(db))); err != nil {
		return nil, fmt.Errorf("listing the PersistentVolumeClaims of Database %s/%s: %w", db.Namespace, db.Name, kube.Explain(err))
	}
	return list.Items, nil
}

func (k *kubeCluster) growVolume(ctx context.Context, namespace, name string, size resource.Quantity, dryRun bool) error {
	patch := fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":%q}}}}`, size.String())
	opts := []client.PatchOption{client.FieldOwner(kube.FieldManager)}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	pvc := &corev1.PersistentVolumeClaim{}
	pvc.Namespace, pvc.Name = namespace, name
	if err := k.e.Client.Patch(ctx, pvc, client.RawPatch(types.MergePatchType, []byte(patch)), opts...); err != nil {
		return fmt.Errorf("growing PersistentVolumeClaim %s/%s to %s: %w", namespace, name, size.String(), kube.Explain(err))
	}
	return nil
}

func (k *kubeCluster) disown(ctx context.Context, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	obj := live.DeepCopy()
	patch := fmt.Sprintf(`{"metadata":{"ownerReferences":null,"resourceVersion":%q}}`, live.GetResourceVersion())
	if err := k.e.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch)), client.FieldOwner(kube.FieldManager)); err != nil {
		return nil, fmt.Errorf("removing the owner references of %s %s/%s: %w", live.GetKind(), live.GetNamespace(), live.GetName(), kube.Explain(err))
	}
	return obj, nil
}

func (k *kubeCluster) deleteOrphan(ctx context.Context, live *unstructured.Unstructured, dryRun bool) error {
	uid := live.GetUID()
	opts := []client.DeleteOption{client.PropagationPolicy(metav1.DeletePropagationOrphan), client.Preconditions{UID: &uid}}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	err := k.e.Client.Delete(ctx, live.DeepCopy(), opts...)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s/%s (its pods stay): %w", live.GetKind(), live.GetNamespace(), live.GetName(), kube.Explain(err))
	}
	return nil
}

func (k *kubeCluster) clearLeftoverStatus(ctx context.Context, live *unstructured.Unstructured) error {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(live.GroupVersionKind())
	obj.SetNamespace(live.GetNamespace())
	obj.SetName(live.GetName())
	patch := fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"status":{"observedGeneration":0}}`, live.GetResourceVersion())
	err := k.e.Client.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch)), client.FieldOwner(kube.FieldManager))
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		return fmt.Errorf("clearing the leftover status of %s %s/%s: %w", live.GetKind(), live.GetNamespace(), live.GetName(), kube.Explain(err))
	}
	return nil
}

func (k *kubeCluster) waitGone(ctx context.Context, live *unstructured.Unstructured) error {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(live.GroupVersionKind().GroupVersion().WithKind(live.GetKind() + "List"))
	lw := kube.ListWatch(k.e.Client, list, client.InNamespace(live.GetNamespace()), client.MatchingFields{"metadata.name": live.GetName()})
	err := kube.WaitFor(ctx, lw, live.DeepCopy(), func(ev watch.Event) (bool, error) {
		return ev.Type == watch.Deleted, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s %s/%s to be deleted: %w", live.GetKind(), live.GetNamespace(), live.GetName(), kube.Explain(err))
	}
	return nil
}

func (k *kubeCluster) waitRollout(ctx context.Context, db *v1alpha1.Database, sets map[string]*unstructured.Unstructured, until time.Time, report func(phases.Rollout, string)) error {
	return k.e.waitRollout(ctx, db, sets, until, report)
}

// GetDatabase reads a Database: a *NotFoundError when it does not exist, an error
// naming `dbctl install` when the CRD is missing.
func GetDatabase(ctx context.Context, c client.Client, namespace, name string) (*v1alpha1.Database, error) {
	db := &v1alpha1.Database{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, db); err != nil {
		err = kube.Explain(err)
		if apierrors.IsNotFound(err) {
			return nil, &NotFoundError{Namespace: namespace, Name: name}
		}
		return nil, fmt.Errorf("reading Database %s/%s: %w", namespace, name, err)
	}
	return db, nil
}

// NotFoundError: the named Database does not exist.
type NotFoundError struct{ Namespace, Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("Database %s/%s not found", e.Namespace, e.Name)
}
