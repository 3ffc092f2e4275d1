package phases

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// NotOwnedError reports a child that exists but belongs to something else.
type NotOwnedError struct{ Kind, Namespace, Name, Database string }

func (e *NotOwnedError) Error() string {
	advice := fmt.Sprintf("rename the Database or delete the %s", e.Kind)
	if e.Kind == KindSecret {
		advice = "if it was restored from a backup, remove its ownerReferences and run again (dbctl adopts a credentials Secret that has no owner); never delete it while the data exists"
	}
	return fmt.Sprintf("%s %s/%s exists but is not owned by Database %s: dbctl does not adopt objects it did not create; %s",
		e.Kind, e.Namespace, e.Name, e.Database, advice)
}

// Observe compares the live children with the desired ones (children as Desired
// built them) and returns the observation Decide takes: which child is missing,
// drifted or to be pruned, the StatefulSet's rollout and what it runs with.
// fieldManager is dbctl's server-side apply field manager: drift compares only the
// fields it owns. DataExists is set when the StatefulSet exists; the caller adds
// the PVCs when it matters (the credentials Secret is missing). A child that exists
// but is not the Database's is a *NotOwnedError.
func Observe(db *v1alpha1.Database, children []Child, live Live, fieldManager string, now time.Time) (*Observation, error) {
	obs := &Observation{Now: now}
	for _, c := range children {
		obj := live[c.Ref]
		switch {
		case c.Want == Present && obj == nil:
			obs.Children = append(obs.Children, ChildState{Child: c, Drift: []string{"missing"}})
		case c.Want.Applied(obj != nil):
			if !IsOwnedBy(obj, db) && !adoptable(c, obj) {
				return nil, &NotOwnedError{Kind: c.Kind, Namespace: c.Namespace, Name: c.Name, Database: db.Name}
			}
			drift, err := Drift(c.Desired, obj, fieldManager)
			if err != nil {
				return nil, err
			}
			if KeptOwned(db, c.Kind, obj) {
				drift = append(drift, "metadata.ownerReferences (deletionPolicy Retain keeps it when the Database is deleted)")
			}
			if obj.GetDeletionTimestamp() != nil {
				// Being deleted (a volume growth recreates the StatefulSets): it is
				// written again once it is gone.
				drift = append([]string{"being deleted"}, drift...)
			}
			obs.Children = append(obs.Children, ChildState{Child: c, Exists: true, Drift: drift})
		case c.Want == Absent && obj != nil && IsOwnedBy(obj, db):
			obs.Children = append(obs.Children, ChildState{Child: c, Exists: true, Prune: true})
		}
	}
	sts := live[Ref{Kind: KindStatefulSet, Name: db.StatefulSetName()}]
	obs.Rollout = RolloutOf(sts)
	replicas := Ref{Kind: KindStatefulSet, Name: db.ReplicaStatefulSetName()}
	if r := live[replicas]; r != nil && childWant(children, replicas).Applied(true) {
		obs.Rollout = obs.Rollout.And(RolloutOf(r))
	}
	obs.Workload = WorkloadOf(db, sts)
	obs.ReplicaWorkload = WorkloadOf(db, live[replicas])
	obs.DataExists = sts != nil
	return obs, nil
}

// childWant is what the spec wants of the child ref (Keep when it is not one).
func childWant(children []Child, ref Ref) Want {
	for _, c := range children {
		if c.Ref == ref {
			return c.Want
		}
	}
	return Keep
}

// adoptable: a Secret or a PVC without any owner is taken as the Database's, not
// refused: the Secrets and the backups PVC have none (deletionPolicy Retain keeps
// them when the Database is deleted, for a Database of the same name to take
// back), and a credentials Secret restored from a backup comes back without one.
func adoptable(c Child, live *unstructured.Unstructured) bool {
	return (c.Kind == KindSecret || c.Kind == KindPersistentVolumeClaim) && len(live.GetOwnerReferences()) == 0
}

// Workload is what the live StatefulSet runs with, as far as the state machine's
// refusals need it: an engine version or a volume claim it cannot change in place.
type Workload struct {
	// Name of the StatefulSet.
	Name string
	// Replicas is its spec.replicas: for the primary's, above 1 it was made by an
	// earlier dbctl, whose pods 1… hold independent databases.
	Replicas int32
	// Deleting is true while the StatefulSet is being deleted (a volume growth
	// recreates it around its pods).
	Deleting bool
	// Image of the engine's container; "" when it has none.
	Image string
	// Claim is the data volume claim template; nil when there is none.
	Claim *Claim
}

// Claim is a StatefulSet's data volume claim template.
type Claim struct {
	// Size is the requested storage as written ("10Gi"); "" when absent.
	Size string
	// StorageClass is the class; HasStorageClass is false when none is set.
	StorageClass    string
	HasStorageClass bool
}

// WorkloadOf reads the engine container's image and the data volume claim template
// of a live StatefulSet; nil when sts is nil.
func WorkloadOf(db *v1alpha1.Database, sts *unstructured.Unstructured) *Workload {
	if sts == nil {
		return nil
	}
	w := &Workload{Name: sts.GetName(), Replicas: 1, Deleting: sts.GetDeletionTimestamp() != nil}
	if n, found, _ := unstructured.NestedInt64(sts.Object, "spec", "replicas"); found {
		w.Replicas = int32(n)
	}
	containers, _, _ := unstructured.NestedSlice(sts.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		if cm, ok := c.(map[string]any); ok && cm["name"] == string(db.Spec.Engine) {
			w.Image, _ = cm["image"].(string)
			break
		}
	}
	templates, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	for _, t := range templates {
		tm, ok := t.(map[string]any)
		if !ok {
			continue
		}
		if name, _, _ := unstructured.NestedString(tm, "metadata", "name"); name != dataVolume {
			continue
		}
		c := &Claim{}
		c.StorageClass, c.HasStorageClass, _ = unstructured.NestedString(tm, "spec", "storageClassName")
		c.Size, _, _ = unstructured.NestedString(tm, "spec", "resources", "requests", "storage")
		w.Claim = c
		break
	}
	return w
}
