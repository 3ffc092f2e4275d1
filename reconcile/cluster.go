package reconcile

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	// applyDatabase server-side applies a Database read from a file.
	applyDatabase(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error)
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

func (k *kubeCluster) applyDatabase(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	out, _, err := k.writer().Apply(ctx, obj, nil)
	return out, err
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
			err := k.e.Client.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: r.Name}, u)
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
