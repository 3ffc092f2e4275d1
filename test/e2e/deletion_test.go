//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// pvcUIDs are the UIDs of the namespace's PVCs, by name.
func pvcUIDs(t *testing.T, ns string) map[string]types.UID {
	t.Helper()
	out := map[string]types.UID{}
	for k, v := range uids(t, ns) {
		if name, ok := strings.CutPrefix(k, "PVC "); ok {
			out[name] = v
		}
	}
	return out
}

// deletionPolicy Retain (the default): `kubectl delete` of a Ready Database (a
// GitOps prune) leaves its Secrets and data PVCs; the same file reconciled again
// comes back Ready with the same password and the same PVCs. Delete: they go.
func TestDeletionPolicy(t *testing.T) {
	t.Cleanup(func() { noSecretLeaks(t) })
	ns, dir := namespace(t), t.TempDir()
	file := writeFile(t, dir, "orders.yaml", databaseYAML(ns, "orders", 3, ""))
	runReconcile(t, "-f", file, "--timeout", "2m").wantExit(t, 0)
	pw := password(t, ns, "orders")
	pvcs := pvcUIDs(t, ns)
	if len(pvcs) != 3 {
		t.Fatalf("PVCs %v", pvcs)
	}

	kubectl(t, "delete", "database", "orders", "-n", ns, "--wait=true", "--timeout=2m")
	waitUntil(t, 2*time.Minute, "the StatefulSets collected", func() bool {
		return !exists(t, &appsv1.StatefulSet{ObjectMeta: meta(ns, "orders")}) &&
			!exists(t, &appsv1.StatefulSet{ObjectMeta: meta(ns, "orders-replica")})
	})
	for _, name := range []string{"orders-credentials", "orders-replication"} {
		if !exists(t, &corev1.Secret{ObjectMeta: meta(ns, name)}) {
			t.Errorf("Secret %s was deleted with the Database (deletionPolicy Retain)", name)
		}
	}
	if got := pvcUIDs(t, ns); !sameUIDs(got, pvcs) {
		t.Errorf("PVCs after the delete %v, before %v", got, pvcs)
	}

	runReconcile(t, "-f", file, "--timeout", "2m").wantExit(t, 0)
	if got := password(t, ns, "orders"); string(got) != string(pw) {
		t.Error("the password changed after the Database came back")
	}
	if got := pvcUIDs(t, ns); !sameUIDs(got, pvcs) {
		t.Errorf("PVCs after the Database came back %v, before %v", got, pvcs)
	}

	// deletionPolicy Delete: the Secrets and the PVCs go with the Database.
	deleting := writeFile(t, dir, "delete.yaml", databaseYAML(ns, "orders", 3, "")+"  deletionPolicy: Delete\n")
	runReconcile(t, "-f", deleting, "--timeout", "2m").wantExit(t, 0)
	kubectl(t, "delete", "database", "orders", "-n", ns, "--wait=true", "--timeout=2m")
	waitUntil(t, 2*time.Minute, "the Secrets and PVCs collected", func() bool {
		return !exists(t, &corev1.Secret{ObjectMeta: meta(ns, "orders-credentials")}) &&
			!exists(t, &corev1.Secret{ObjectMeta: meta(ns, "orders-replication")}) && len(pvcUIDs(t, ns)) == 0
	})
}

func sameUIDs(a, b map[string]types.UID) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
