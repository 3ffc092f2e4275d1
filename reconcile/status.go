package reconcile

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/reconcile/kube"
)

// StatusChanged reports whether writing st would change db's status.
func StatusChanged(db *v1alpha1.Database, st v1alpha1.DatabaseStatus) bool {
	return !equality.Semantic.DeepEqual(db.Status, st)
}

// writeStatus writes st to db's status subresource when it differs, with db's
// resourceVersion as precondition: a concurrent writer makes it fail with a Conflict
// (the caller reads the Database again and decides again). It returns the Database
// as the server has it afterwards.
func (e *Engine) writeStatus(ctx context.Context, db *v1alpha1.Database, st v1alpha1.DatabaseStatus) (*v1alpha1.Database, bool, error) {
	if !StatusChanged(db, st) {
		return db, false, nil
	}
	upd := db.DeepCopy()
	upd.Status = st
	if err := e.Client.Status().Update(ctx, upd, client.FieldOwner(kube.FieldManager)); err != nil {
		if apierrors.IsConflict(err) {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("writing the status of Database %s/%s: %w", db.Namespace, db.Name, kube.Explain(err))
	}
	return upd, true, nil
}

// getDatabase reads a Database.
func (e *Engine) getDatabase(ctx context.Context, namespace, name string) (*v1alpha1.Database, error) {
	db := &v1alpha1.Database{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, db); err != nil {
		if apierrors.IsNotFound(err) && !isCRDMissing(err) {
			return nil, &NotFoundError{Namespace: namespace, Name: name}
		}
		return nil, fmt.Errorf("reading Database %s/%s: %w", namespace, name, kube.Explain(err))
	}
	return db, nil
}

// NotFoundError: the named Database does not exist.
type NotFoundError struct{ Namespace, Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("Database %s/%s not found", e.Namespace, e.Name)
}

func isCRDMissing(err error) bool {
	return kube.Explain(err) != err
}
