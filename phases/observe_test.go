package phases

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// liveOf returns the desired children of db as live objects, owned by db, with a
// StatefulSet status of ready replicas.
func liveOf(t *testing.T, db *v1alpha1.Database, ready map[string]int64) Live {
	t.Helper()
	children, err := Desired(db, Inputs{Password: "pw", ReplicationPassword: "rpw"})
	if err != nil {
		t.Fatal(err)
	}
	live := Live{}
	for _, c := range children {
		if c.Desired == nil {
			continue
		}
		u := c.Desired.DeepCopy()
		u.SetGeneration(1)
		if c.Kind == KindStatefulSet {
			n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
			r := ready[c.Name]
			u.Object["status"] = map[string]any{"observedGeneration": int64(1), "replicas": n, "readyReplicas": r,
				"currentReplicas": n, "updatedReplicas": n, "currentRevision": "a", "updateRevision": "a"}
		}
		live[c.Ref] = u
	}
	return live
}

func stateOf(obs *Observation, kind, name string) *ChildState { return obs.Child(Ref{kind, name}) }

func TestObserveTopology(t *testing.T) {
	db := testDB(v1alpha1.PhaseReady) // 3 replicas
	live := liveOf(t, db, map[string]int64{"orders": 1, "orders-replica": 1})
	children, _ := Desired(db, Inputs{Password: "pw", ReplicationPassword: "rpw"})
	obs, err := Observe(db, children, live, "dbctl", t0)
	if err != nil {
		t.Fatal(err)
	}
	if obs.Rollout.Current || obs.Rollout.Ready != 2 || obs.Rollout.Desired != 3 {
		t.Errorf("rollout of 1/1 primary and 1/2 replicas: %+v", obs.Rollout)
	}
	for _, ref := range []Ref{{KindSecret, "orders-replication"}, {KindService, "orders-ro"}, {KindStatefulSet, "orders-replica"}, {KindPodDisruptionBudget, "orders"}} {
		if c := obs.Child(ref); c == nil || !c.Exists || c.Prune {
			t.Errorf("%s at 3 replicas: %+v", ref, c)
		}
	}

	// Scaled to 1: the replicas' StatefulSet is still written (to 0 replicas), the
	// read-only Service and the PDB are pruned, the replication Secret is kept.
	one := testDB(v1alpha1.PhaseReady, func(db *v1alpha1.Database) { r := int32(1); db.Spec.Replicas = &r })
	children, _ = Desired(one, Inputs{Password: "pw", ReplicationPassword: "rpw"})
	obs, err = Observe(one, children, live, "dbctl", t0)
	if err != nil {
		t.Fatal(err)
	}
	if c := stateOf(obs, KindStatefulSet, "orders-replica"); c == nil || !c.Exists || c.Prune || c.Desired == nil {
		t.Errorf("the replica StatefulSet at 1 replica: %+v", c)
	}
	for _, name := range []string{"orders-ro"} {
		if c := stateOf(obs, KindService, name); c == nil || !c.Prune {
			t.Errorf("Service %s at 1 replica: %+v", name, c)
		}
	}
	if c := stateOf(obs, KindSecret, "orders-replication"); c != nil {
		t.Errorf("the replication Secret is observed at 1 replica (to be written or pruned): %+v", c)
	}

	// Never scaled up: no replica StatefulSet is created at 1 replica.
	delete(live, Ref{KindStatefulSet, "orders-replica"})
	obs, _ = Observe(one, children, live, "dbctl", t0)
	if c := stateOf(obs, KindStatefulSet, "orders-replica"); c != nil {
		t.Errorf("a replica StatefulSet would be created at 1 replica: %+v", c)
	}
}

func TestObserveNotOwned(t *testing.T) {
	db := testDB(v1alpha1.PhaseReady)
	live := liveOf(t, db, nil)
	live[Ref{KindService, "orders-ro"}].SetOwnerReferences(nil)
	children, _ := Desired(db, Inputs{Password: "pw", ReplicationPassword: "rpw"})
	_, err := Observe(db, children, live, "dbctl", t0)
	var notOwned *NotOwnedError
	if !errors.As(err, &notOwned) || !strings.Contains(err.Error(), "Service shop/orders-ro exists but is not owned by Database orders") {
		t.Fatalf("err = %v", err)
	}
	// A credentials Secret without owner (restored from a backup) is adopted.
	live = liveOf(t, db, nil)
	live[Ref{KindSecret, "orders-credentials"}].SetOwnerReferences(nil)
	if _, err := Observe(db, children, live, "dbctl", t0); err != nil {
		t.Fatalf("a restored Secret is not adopted: %v", err)
	}
}
