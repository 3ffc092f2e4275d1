//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// resizer plays the volume resizer kwok does not have, in one namespace: a PVC
// whose request grows gets that capacity when a pod mounts it, and the
// FileSystemResizePending condition when none does (the file system grows at the
// next mount), after delay; never while off.
type resizer struct {
	off   atomic.Bool
	delay time.Duration
}

func startResizer(t *testing.T, ns string, delay time.Duration) *resizer {
	t.Helper()
	r := &resizer{delay: delay}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := newClient(t)
	w, err := c.Watch(ctx, &corev1.PersistentVolumeClaimList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			pvc, ok := ev.Object.(*corev1.PersistentVolumeClaim)
			if !ok || ev.Type == watch.Deleted || r.off.Load() {
				continue
			}
			want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
			have := pvc.Status.Capacity[corev1.ResourceStorage]
			if have.Cmp(want) >= 0 || pvc.Status.Phase != corev1.ClaimBound {
				continue
			}
			go r.resize(ctx, c, types.NamespacedName{Namespace: ns, Name: pvc.Name}, want)
		}
	}()
	return r
}

func (r *resizer) resize(ctx context.Context, c client.Client, key types.NamespacedName, size resource.Quantity) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(r.delay):
	}
	for attempt := 0; attempt < 10 && !r.off.Load(); attempt++ {
		pvc := &corev1.PersistentVolumeClaim{}
		if err := c.Get(ctx, key, pvc); err != nil {
			return
		}
		if mounted(ctx, c, pvc) {
			pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: size}
		} else {
			pvc.Status.Conditions = []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimFileSystemResizePending,
				Status: corev1.ConditionTrue, Message: "waiting for a pod to mount the volume"}}
		}
		if err := c.Status().Update(ctx, pvc); err == nil {
			return
		}
	}
}

// mounted reports whether a pod of the namespace uses the PVC.
func mounted(ctx context.Context, c client.Client, pvc *corev1.PersistentVolumeClaim) bool {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(pvc.Namespace)); err != nil {
		return false
	}
	for _, p := range pods.Items {
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name && p.DeletionTimestamp == nil {
				return true
			}
		}
	}
	return false
}

// uids returns the UIDs of the namespace's pods and PVCs, by "Kind name".
func uids(t *testing.T, ns string) map[string]types.UID {
	t.Helper()
	out := map[string]types.UID{}
	pods := &corev1.PodList{}
	pvcs := &corev1.PersistentVolumeClaimList{}
	for _, l := range []client.ObjectList{pods, pvcs} {
		if err := newClient(t).List(ctxFor(t), l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pods.Items {
		out["Pod "+p.Name] = p.UID
	}
	for _, p := range pvcs.Items {
		out["PVC "+p.Name] = p.UID
	}
	return out
}

// wantPVCSize checks the requested storage of each PVC.
func wantPVCSize(t *testing.T, ns, size string, names ...string) {
	t.Helper()
	for _, n := range names {
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: meta(ns, n)}
		if !exists(t, pvc) {
			t.Errorf("PVC %s is gone", n)
			continue
		}
		if got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != size {
			t.Errorf("PVC %s requests %s, want %s", n, got.String(), size)
		}
	}
}

func sizedYAML(ns, name string, replicas int, size, extra string) string {
	return strings.Replace(databaseYAML(ns, name, replicas, ""), "storage: {size: 1Gi}", "storage: {size: "+size+"}", 1) + extra
}

// TestGrowVolumes: a Ready three-replica Database, scaled to two (its third
// replica's PVC kept), grows from 1Gi to 5Gi in one plan and one reconcile: every
// data PVC expanded (the scaled-away one too), both StatefulSets recreated around
// their pods, no pod restarted (the same pod UIDs), no PVC deleted, the password
// unchanged; the PVC no pod mounts counts once its volume is expanded.
func TestGrowVolumes(t *testing.T) {
	t.Parallel()
	t.Cleanup(func() { noSecretLeaks(t) })
	ns, dir, name := namespace(t), t.TempDir(), "orders"
	startResizer(t, ns, 500*time.Millisecond)
	runReconcile(t, "-f", writeFile(t, dir, "db.yaml", sizedYAML(ns, name, 3, "1Gi", "")), "--timeout", "2m").wantExit(t, 0)
	runReconcile(t, "-f", writeFile(t, dir, "db.yaml", sizedYAML(ns, name, 2, "1Gi", "")), "--timeout", "2m").wantExit(t, 0)
	waitDatabaseRolledOut(t, ns, name, 2)
	pw := password(t, ns, name)
	before := uids(t, ns)

	grown := writeFile(t, dir, "db.yaml", sizedYAML(ns, name, 2, "5Gi", ""))
	out, _, code := runDbctl(t, "plan", "-f", grown, "--detailed-exitcode")
	if code != 2 {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	pvcs := []string{"data-orders-0", "data-orders-replica-0", "data-orders-replica-1"}
	for _, want := range append(slices.Clone(pvcs), "recreates the StatefulSet around its running pods, no restart", "recreates 2 StatefulSets") {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}
	r := runReconcile(t, "-f", grown, "-o", "json", "--timeout", "3m")
	r.wantExit(t, 0)
	waitDatabaseRolledOut(t, ns, name, 2)
	wantPVCSize(t, ns, "5Gi", pvcs...)
	after := uids(t, ns)
	for k, uid := range before {
		if after[k] != uid {
			t.Errorf("%s: UID %s → %s: it was deleted (a pod restarted, or a PVC lost)", k, uid, after[k])
		}
	}
	if string(password(t, ns, name)) != string(pw) {
		t.Error("the password changed")
	}
	runReconcile(t, "-f", grown, "--timeout", "1m").wantExit(t, 0)
}

// TestGrowVolumesRefusedOrStuck: a StorageClass without allowVolumeExpansion is
// refused before anything is written; a resize that never completes is reported by
// name and ends in Failed after verify.timeout.
func TestGrowVolumesRefusedOrStuck(t *testing.T) {
	t.Parallel()
	ns, dir := namespace(t), t.TempDir()
	c := newClient(t)
	fixed := "fixed-" + ns
	expand := false
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: fixed}, Provisioner: "kwok.x-k8s.io/volume",
		AllowVolumeExpansion: &expand, VolumeBindingMode: ptrTo(storagev1.VolumeBindingImmediate)}
	if err := c.Create(ctxFor(t), sc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), sc) })
	class := "    storageClassName: " + fixed + "\n"
	withClass := func(size string) string {
		return strings.Replace(databaseYAML(ns, "fixed", 1, ""), "storage: {size: 1Gi}", "storage:\n    size: "+size+"\n"+class, 1)
	}
	runReconcile(t, "-f", writeFile(t, dir, "fixed.yaml", withClass("1Gi")), "--timeout", "2m").wantExit(t, 0)
	before := resourceVersions(t, ns, "fixed")
	r := runReconcile(t, "-f", writeFile(t, dir, "fixed.yaml", withClass("2Gi")), "-o", "json", "--timeout", "1m")
	r.wantExit(t, 2)
	if res := r.result(t, "fixed"); !strings.Contains(res.Message, "PVC data-fixed-0 cannot grow") {
		t.Errorf("message %q", res.Message)
	}
	after := resourceVersions(t, ns, "fixed")
	delete(before, "Database fixed")
	delete(after, "Database fixed")
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s was written by a refused growth", k)
		}
	}

	// A resizer that never finishes.
	stuck := startResizer(t, ns, 0)
	stuck.off.Store(true)
	runReconcile(t, "-f", writeFile(t, dir, "stuck.yaml", sizedYAML(ns, "stuck", 1, "1Gi", "  verify: {timeout: 20s}\n")), "--timeout", "2m").wantExit(t, 0)
	r = runReconcile(t, "-f", writeFile(t, dir, "stuck.yaml", sizedYAML(ns, "stuck", 1, "2Gi", "  verify: {timeout: 20s}\n")), "-o", "json", "--timeout", "2m")
	r.wantExit(t, 2)
	if res := r.result(t, "stuck"); !strings.Contains(res.Message, "the volumes did not grow: PVC data-stuck-0 has 1Gi of 2Gi") {
		t.Errorf("message %q", res.Message)
	}
	if !exists(t, &corev1.PersistentVolumeClaim{ObjectMeta: meta(ns, "data-stuck-0")}) {
		t.Error("the PVC is gone")
	}
}

func ptrTo[T any](v T) *T { return &v }

// growthKillPoints are where TestReliabilityGrowthKilled kills a growth: after the
// first PVC is expanded, after each StatefulSet is deleted (before it is created
// again), once the StatefulSets are back, and at a random time.
var growthKillPoints = []*regexp.Regexp{
	regexp.MustCompile(`~ PersistentVolumeClaim \S+/data-orders-0`),
	regexp.MustCompile(`deleted StatefulSet orders leaving its pods`),
	regexp.MustCompile(`deleted StatefulSet orders-replica leaving its pods`),
	regexp.MustCompile(`Deploying → Verifying|Updating → Verifying`),
	nil,
}

// TestReliabilityGrowthKilled grows a Ready three-replica Database's volumes five
// times (2Gi … 6Gi), killing `dbctl reconcile` (SIGKILL) at a different point of
// the procedure each time, then once more at random, then letting a run finish.
// After every kill no PVC was deleted and every pod is the one it was; after each
// growth the Database is Ready, every PVC at the new size, the same pods (UIDs),
// the password unchanged.
func TestReliabilityGrowthKilled(t *testing.T) {
	reliability(t)
	t.Parallel()
	t.Cleanup(func() { noSecretLeaks(t) })
	ns, dir, name := namespace(t), t.TempDir(), "orders"
	startResizer(t, ns, 300*time.Millisecond)
	runReconcile(t, "-f", writeFile(t, dir, "db.yaml", sizedYAML(ns, name, 3, "1Gi", "")), "--timeout", "2m").wantExit(t, 0)
	waitDatabaseRolledOut(t, ns, name, 3)
	pw := password(t, ns, name)
	before := uids(t, ns)
	flags := []string{"--timeout", "2m", "--retry-initial", "100ms", "--retry-max", "1s"}
	for i, point := range growthKillPoints {
		size := fmt.Sprintf("%dGi", i+2)
		grown := writeFile(t, dir, "db.yaml", sizedYAML(ns, name, 3, size, ""))
		for attempt := 0; ; attempt++ {
			p := startDbctl(t, append([]string{"reconcile", "-f", grown}, flags...)...)
			switch {
			case attempt == 0 && point != nil:
				if p.waitLine(point, 0, time.Minute) < 0 {
					t.Logf("%s: %v never showed; killing anyway", size, point)
				}
			case attempt < 2:
				p.sleepUnlessDone(jitter(time.Duration(300+attempt*300) * time.Millisecond))
			}
			if attempt >= 2 || !p.kill() {
				if code := p.wait(); code != 0 {
					t.Fatalf("%s: the run that was not killed: exit %d\n%s", size, code, p)
				}
				break
			}
			wantSameUIDs(t, fmt.Sprintf("%s, after kill %d", size, attempt), before, uids(t, ns))
		}
		waitDatabaseRolledOut(t, ns, name, 3)
		wantPVCSize(t, ns, size, podPVCs(name, 3)...)
		wantSameUIDs(t, size, before, uids(t, ns))
		if string(password(t, ns, name)) != string(pw) {
			t.Fatalf("%s: the password changed", size)
		}
		runReconcile(t, "-f", grown, "--timeout", "1m").wantExit(t, 0)
	}

	// Interrupted (SIGINT, SIGTERM) or out of time just after a StatefulSet was
	// deleted: the run writes it again before it exits.
	for i, stop := range []func(p *bgDbctl){
		func(p *bgDbctl) { _ = p.cmd.Process.Signal(syscall.SIGINT) },
		func(p *bgDbctl) { _ = p.cmd.Process.Signal(syscall.SIGTERM) },
	} {
		size := fmt.Sprintf("%dGi", len(growthKillPoints)+2+i)
		grown := writeFile(t, dir, "db.yaml", sizedYAML(ns, name, 3, size, ""))
		p := startDbctl(t, append([]string{"reconcile", "-f", grown}, flags...)...)
		if p.waitLine(growthKillPoints[1], 0, time.Minute) < 0 {
			t.Fatalf("%s: the StatefulSet was not deleted\n%s", size, p)
		}
		stop(p)
		if code := p.wait(); code != 3 && code != 0 {
			t.Errorf("%s: interrupted run: exit %d, want 3\n%s", size, code, p)
		}
		for _, sts := range []string{name, name + "-replica"} {
			if !exists(t, &appsv1.StatefulSet{ObjectMeta: meta(ns, sts)}) {
				t.Errorf("%s: the interrupted run left no StatefulSet %s", size, sts)
			}
		}
		runReconcile(t, "-f", grown, "--timeout", "2m").wantExit(t, 0)
		wantSameUIDs(t, size, before, uids(t, ns))
	}
}

// wantSameUIDs checks that every pod and PVC of before still has its UID.
func wantSameUIDs(t *testing.T, what string, before, after map[string]types.UID) {
	t.Helper()
	for k, uid := range before {
		if after[k] != uid {
			t.Errorf("%s: %s: UID %s → %s (deleted)", what, k, uid, after[k])
		}
	}
}

// podPVCs are the data PVCs of a Database of replicas.
func podPVCs(name string, replicas int) []string {
	var out []string
	for _, p := range podNames(name, replicas) {
		out = append(out, "data-"+p)
	}
	return out
}
