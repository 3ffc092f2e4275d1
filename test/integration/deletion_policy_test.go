package integration

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// deletionPolicy moves the Secrets' owner references and the data PVCs' retention
// both ways; plan shows it, reconcile does it, the password stays.
func TestDeletionPolicyChanges(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	ctx := context.Background()
	owners := func() (credentials, replication int, whenDeleted string) {
		t.Helper()
		for name, n := range map[string]*int{"orders-credentials": &credentials, "orders-replication": &replication} {
			s := &corev1.Secret{}
			if err := env.Client.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: name}, s); err != nil {
				t.Fatal(err)
			}
			*n = len(s.OwnerReferences)
		}
		sts := &appsv1.StatefulSet{}
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "orders"}, sts); err != nil {
			t.Fatal(err)
		}
		return credentials, replication, string(sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted)
	}

	deleting := f.file("orders.yaml", f.postgres("orders", 3, "  deletionPolicy: Delete\n"))
	f.reconcile(deleting)
	if c, r, w := owners(); c != 1 || r != 1 || w != "Delete" {
		t.Fatalf("deletionPolicy Delete: owner references %d and %d, whenDeleted %s", c, r, w)
	}
	password := f.password("orders")

	// Retain (the default): the owner references, which the Secrets' create wrote,
	// are removed by reconcile, as the plan says.
	retaining := f.file("retain.yaml", f.postgres("orders", 3, ""))
	out, _ := f.plan(2, "-f", retaining, "--detailed-exitcode")
	for _, want := range []string{"~ Secret " + f.ns + "/orders-credentials", "~ Secret " + f.ns + "/orders-replication",
		"metadata.ownerReferences", "spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Delete → Retain"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	f.reconcile(retaining)
	if c, r, w := owners(); c != 0 || r != 0 || w != "Retain" {
		t.Fatalf("deletionPolicy Retain: owner references %d and %d, whenDeleted %s", c, r, w)
	}
	if f.password("orders") != password {
		t.Error("the password changed")
	}
	out, _ = f.plan(0, "-f", retaining, "--detailed-exitcode")
	if !strings.Contains(out, "0 to add, 0 to change, 0 to delete") {
		t.Errorf("a second plan:\n%s", out)
	}
	// And back.
	f.reconcile(deleting)
	if c, r, w := owners(); c != 1 || r != 1 || w != "Delete" {
		t.Fatalf("back to Delete: owner references %d and %d, whenDeleted %s", c, r, w)
	}
}
