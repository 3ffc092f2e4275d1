package reconcile

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// StatusChanged reports whether writing st would change db's status.
func StatusChanged(db *v1alpha1.Database, st v1alpha1.DatabaseStatus) bool {
	return !equality.Semantic.DeepEqual(db.Status, st)
}

// writeStatus writes st to db's status subresource when it differs, with db's
// resourceVersion as precondition: a concurrent writer makes it fail with a Conflict
// (the caller reads the Database again and decides again). It returns the Database
// as the server has it afterwards (db itself when nothing changed).
func (r *run) writeStatus(ctx context.Context, db *v1alpha1.Database, st v1alpha1.DatabaseStatus) (*v1alpha1.Database, error) {
	if !StatusChanged(db, st) {
		return db, nil
	}
	upd := db.DeepCopy()
	upd.Status = st
	if err := r.c.updateStatus(ctx, upd); err != nil {
		return nil, err
	}
	return upd, nil
}
