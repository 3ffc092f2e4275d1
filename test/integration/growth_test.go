package integration

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// storageClass creates a StorageClass (cluster-scoped, named for the test).
func storageClass(t *testing.T, name string, expand bool) string {
	t.Helper()
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/test", AllowVolumeExpansion: &expand}
	if err := env.Client.Create(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), sc) })
	return name
}

// boundPVC creates the PVC a StatefulSet's pod would have (data-<database>-0),
// bound, of size.
func boundPVC(t *testing.T, ns, name, class, size string) {
	t.Helper()
	q := resource.MustParse(size)
	db := strings.TrimSuffix(strings.TrimPrefix(name, "data-"), "-0")
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels: map[string]string{"app.kubernetes.io/name": "postgres", "app.kubernetes.io/instance": db}},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q}}},
	}
	if err := env.Client.Create(context.Background(), pvc); err != nil {
		t.Fatal(err)
	}
	pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: q}}
	if err := env.Client.Status().Update(context.Background(), pvc); err != nil {
		t.Fatal(err)
	}
}

// simulateResizer plays the volume resizer envtest lacks: a PVC whose request grows
// gets that capacity.
func simulateResizer(t *testing.T, ns string) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := env.Client.Watch(ctx, &corev1.PersistentVolumeClaimList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			pvc, ok := ev.Object.(*corev1.PersistentVolumeClaim)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
			if have := pvc.Status.Capacity[corev1.ResourceStorage]; have.Cmp(want) < 0 {
				pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: want}
				_ = env.Client.Status().Update(ctx, pvc)
			}
		}
	}()
}

// TestVolumeGrowth: a larger storage.size is one plan (a line per PVC, the
// StatefulSet recreated around its pods) and one reconcile (the PVCs expanded, the
// StatefulSet deleted leaving its pods, created again with the new size), through a
// real API server: its admission refuses a PVC whose StorageClass does not allow
// expansion, and then nothing is written.
func TestVolumeGrowth(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	growable := storageClass(t, "growable-"+f.ns, true)
	spec := func(size string) string {
		return strings.Replace(f.postgres("orders", 1, "    storageClassName: "+growable+"\n"), "storage: {size: 1Gi}", "storage:\n    size: "+size, 1)
	}
	f.reconcile(f.file("orders.yaml", spec("1Gi")))
	boundPVC(t, f.ns, "data-orders-0", growable, "1Gi")
	simulateResizer(t, f.ns)
	old := f.statefulSet("orders")
	pw := string(getSecretData(t, f.ns, "orders-credentials")["password"])

	grown := f.file("grown.yaml", spec("5Gi"))
	before := inventory(t)
	out, _ := f.plan(2, "-f", grown, "--detailed-exitcode")
	requireSameInventory(t, "plan of a volume growth", before, inventory(t))
	for _, want := range []string{"~ PersistentVolumeClaim " + f.ns + "/data-orders-0", "spec.resources.requests.storage: 1Gi → 5Gi",
		"~ StatefulSet " + f.ns + "/orders  (recreates the StatefulSet around its running pods, no restart)",
		"spec.volumeClaimTemplates[0].spec.resources.requests.storage: 1Gi → 5Gi", "; recreates 1 StatefulSet."} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}

	f.reconcile(grown)
	sts := f.statefulSet("orders")
	if sts.UID == old.UID {
		t.Error("the StatefulSet was not recreated")
	}
	if got := sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != "5Gi" {
		t.Errorf("the recreated StatefulSet claims %s", got.String())
	}
	if sts.Spec.Template.Annotations["dbctl.io/config-hash"] != old.Spec.Template.Annotations["dbctl.io/config-hash"] {
		t.Error("the pod template's config hash changed: the pods would roll")
	}
	pvc := &corev1.PersistentVolumeClaim{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "data-orders-0"}, pvc); err != nil {
		t.Fatal(err)
	}
	if got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != "5Gi" {
		t.Errorf("PVC data-orders-0 requests %s", got.String())
	}
	if string(getSecretData(t, f.ns, "orders-credentials")["password"]) != pw {
		t.Error("the password changed")
	}
	f.plan(0, "-f", grown, "--detailed-exitcode")
}

// TestLeftoverStatefulSetStatus: a StatefulSet created again (as a volume growth
// does) can carry the status of the one it replaced, ahead of its spec, which the
// StatefulSet controller never corrects (the simulator behaves alike): reconcile
// clears it, the controller writes it anew, and the Database ends Ready instead of
// waiting for a rollout until its deadline.
func TestLeftoverStatefulSetStatus(t *testing.T) {
	f := newPlanFixture(t)
	stop := env.SimulateRollouts(t, f.ns)
	file := f.file("orders.yaml", f.postgres("orders", 3, ""))
	f.reconcile(file)
	stop()
	env.SetLeftoverStatus(t, f.ns, "orders-replica")
	f.simulateRollouts()
	_, stderr := f.reconcile(file)
	if want := "StatefulSet orders-replica holds the status of the StatefulSet it replaced"; !strings.Contains(stderr, want) {
		t.Errorf("reconcile does not say %q:\n%s", want, stderr)
	}
	if sts := f.statefulSet("orders-replica"); sts.Status.ObservedGeneration != sts.Generation {
		t.Errorf("observedGeneration %d, generation %d", sts.Status.ObservedGeneration, sts.Generation)
	}
}

// TestVolumeGrowthRefused: a PVC whose StorageClass does not allow expansion: plan
// and reconcile refuse the growth before anything is written, naming the PVC.
func TestVolumeGrowthRefused(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	fixed := storageClass(t, "fixed-"+f.ns, false)
	spec := func(size string) string {
		return strings.Replace(f.postgres("orders", 1, "    storageClassName: "+fixed+"\n"), "storage: {size: 1Gi}", "storage:\n    size: "+size, 1)
	}
	f.reconcile(f.file("orders.yaml", spec("1Gi")))
	boundPVC(t, f.ns, "data-orders-0", fixed, "1Gi")
	sts := f.statefulSet("orders")
	grown := f.file("grown.yaml", spec("5Gi"))
	want := "spec.storage.size cannot grow from 1Gi to 5Gi: PVC data-orders-0 cannot grow: only dynamically provisioned pvc can be resized"
	before := inventory(t)
	if _, errOut := f.plan(1, "-f", grown); !strings.Contains(errOut, want) {
		t.Errorf("plan stderr:\n%s", errOut)
	}
	out, errOut, code := runDbctl(t, nil, "reconcile", "-f", grown, "--timeout", "1m")
	if code != 2 || !strings.Contains(out+errOut, want) {
		t.Errorf("reconcile: exit %d\n%s\n%s", code, out, errOut)
	}
	f.requireUnchanged(sts)
	after := inventory(t)
	delete(before, "DatabaseList "+f.ns+"/orders")
	delete(after, "DatabaseList "+f.ns+"/orders")
	requireSameInventory(t, "a refused growth", before, after)
}

// getSecretData reads a Secret's data.
func getSecretData(t *testing.T, ns, name string) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s.Data
}
