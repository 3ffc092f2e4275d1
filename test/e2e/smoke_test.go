//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestSmokeInstall runs `dbctl install` twice: the second run changes nothing.
func TestSmokeInstall(t *testing.T) {
	stdout, stderr, code := runDbctl(t, "install")
	if code != 0 {
		t.Fatalf("dbctl install: exit %d\nstderr:\n%s", code, stderr)
	}
	if !regexp.MustCompile(`^customresourcedefinition\.apiextensions\.k8s\.io/databases\.dbctl\.io (created|configured|unchanged)\n$`).MatchString(stdout) {
		t.Errorf("dbctl install printed %q", stdout)
	}
	rv := kubectl(t, "get", "crd", "databases.dbctl.io", "-o", "jsonpath={.metadata.resourceVersion}")
	if got := kubectl(t, "get", "crd", "databases.dbctl.io", "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`); got != "True" {
		t.Errorf("CRD Established = %q, want True", got)
	}

	stdout, stderr, code = runDbctl(t, "install")
	if code != 0 {
		t.Fatalf("second dbctl install: exit %d\nstderr:\n%s", code, stderr)
	}
	if want := "customresourcedefinition.apiextensions.k8s.io/databases.dbctl.io unchanged\n"; stdout != want {
		t.Errorf("second dbctl install printed %q, want %q", stdout, want)
	}
	if after := kubectl(t, "get", "crd", "databases.dbctl.io", "-o", "jsonpath={.metadata.resourceVersion}"); after != rv {
		t.Errorf("second dbctl install changed the CRD's resourceVersion %s -> %s", rv, after)
	}
}

// TestSmokeStatefulSetRollout proves the cluster runs what the engine creates: a
// 3-replica StatefulSet with a volumeClaimTemplate rolls out (pods scheduled on kwok
// nodes and Ready, PVCs provisioned and Bound), observed with a watch.
func TestSmokeStatefulSetRollout(t *testing.T) {
	ns := namespace(t)
	c := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	labels := map[string]string{"app.kubernetes.io/name": "smoke"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "smoke"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    new(int32(3)),
			ServiceName: "smoke",
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:           "postgres",
					Image:          "postgres:16",
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(5432)}}},
					VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/postgresql/data"}},
				}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	start := time.Now()
	if err := c.Create(ctx, sts); err != nil {
		t.Fatalf("creating the StatefulSet: %v", err)
	}
	got, err := waitStatefulSet(ctx, c, client.ObjectKeyFromObject(sts), rolledOut)
	if err != nil {
		t.Fatalf("waiting for the rollout: %v\n%s", err, kubectl(t, "-n", ns, "get", "statefulset,pods,pvc", "-o", "wide"))
	}
	t.Logf("3-replica StatefulSet rolled out in %v: %d/%d ready", time.Since(start).Round(time.Millisecond), got.Status.ReadyReplicas, *got.Spec.Replicas)

	pvcs := &corev1.PersistentVolumeClaimList{}
	if err := c.List(ctx, pvcs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(pvcs.Items) != 3 {
		t.Errorf("%d PVCs, want 3", len(pvcs.Items))
	}
	for _, pvc := range pvcs.Items {
		if pvc.Status.Phase != corev1.ClaimBound || pvc.Status.Capacity.Storage().String() != "1Gi" {
			t.Errorf("PVC %s: %s, capacity %s; want Bound, 1Gi", pvc.Name, pvc.Status.Phase, pvc.Status.Capacity.Storage())
		}
	}
}

// rolledOut is the StatefulSet's rollout-complete condition (what `kubectl rollout
// status` and kstatus check).
func rolledOut(sts *appsv1.StatefulSet) bool {
	want := int32(1)
	if sts.Spec.Replicas != nil {
		want = *sts.Spec.Replicas
	}
	s := sts.Status
	return s.ObservedGeneration >= sts.Generation && s.Replicas == want && s.ReadyReplicas == want &&
		s.AvailableReplicas == want && s.UpdatedReplicas == want && s.CurrentRevision == s.UpdateRevision
}

// waitStatefulSet watches the StatefulSet until done returns true.
func waitStatefulSet(ctx context.Context, c client.WithWatch, key client.ObjectKey, done func(*appsv1.StatefulSet) bool) (*appsv1.StatefulSet, error) {
	for {
		sts := &appsv1.StatefulSet{}
		if err := c.Get(ctx, key, sts); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		if sts.Name != "" && done(sts) {
			return sts, nil
		}
		w, err := c.Watch(ctx, &appsv1.StatefulSetList{}, &client.ListOptions{
			Namespace:     key.Namespace,
			FieldSelector: fields.OneTermEqualSelector("metadata.name", key.Name),
			Raw:           &metav1.ListOptions{ResourceVersion: sts.ResourceVersion},
		})
		if err != nil {
			return nil, err
		}
		err = func() error {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return fmt.Errorf("StatefulSet %s: %w (last status %+v)", key, ctx.Err(), sts.Status)
				case ev, ok := <-w.ResultChan():
					if !ok || ev.Type == watch.Error {
						return nil // re-read and re-watch
					}
					if s, isSTS := ev.Object.(*appsv1.StatefulSet); isSTS {
						sts = s
						if done(s) {
							return errDone
						}
					}
				}
			}
		}()
		switch {
		case errors.Is(err, errDone):
			return sts, nil
		case err != nil:
			return nil, err
		}
	}
}

var errDone = errors.New("done")
