package reconcile_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/test/testenv"
)

// What the differential test does to the cluster: the dependencies a spec names,
// the controller of the StatefulSets (rollouts that complete when the engine waits
// for them), and the perturbations of a scenario.

// depFixture is a scenario's dependencies: an HTTP server (503 once unhealthy), a
// TCP listener (refusing once closed) and a port nothing listens on.
type depFixture struct {
	srv       *httptest.Server
	unhealthy atomic.Bool
	tcp       net.Listener
	closed    string
}

func newDepFixture(t *testing.T) *depFixture {
	t.Helper()
	f := &depFixture{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if f.unhealthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(f.srv.Close)
	var err error
	if f.tcp, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.tcp.Close() })
	go func() {
		for {
			c, err := f.tcp.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.closed = l.Addr().String()
	_ = l.Close()
	return f
}

func (f *depFixture) dependency(name string) map[string]any {
	switch name {
	case depHTTP:
		return map[string]any{"name": name, "url": f.srv.URL + "/healthz", "timeout": "2s"}
	case depTCP:
		return map[string]any{"name": name, "tcp": f.tcp.Addr().String(), "timeout": "2s"}
	}
	return map[string]any{"name": name, "tcp": f.closed, "timeout": "2s"}
}

// object is the Database document of spec s.
func (s dbSpec) object(ns, name string, f *depFixture) *unstructured.Unstructured {
	storage := map[string]any{"size": s.Size}
	if s.Class != "" {
		storage["storageClassName"] = s.Class
	}
	spec := map[string]any{"engine": s.Engine, "version": s.Version, "replicas": int64(s.Replicas), "storage": storage}
	if s.Image != "" {
		spec["image"] = s.Image
	}
	if len(s.Params) > 0 {
		params := map[string]any{}
		for k, v := range s.Params {
			params[k] = v
		}
		spec["parameters"] = params
	}
	if s.Username != "" {
		spec["credentials"] = map[string]any{"username": s.Username}
	}
	if s.VerifyTimeout != "" {
		spec["verify"] = map[string]any{"timeout": s.VerifyTimeout}
	}
	if s.Backup != "" {
		spec["backup"] = map[string]any{"schedule": s.Backup, "storage": map[string]any{"size": s.BackupSize}}
	}
	if s.DeletionPolicy != "" {
		spec["deletionPolicy"] = s.DeletionPolicy
	}
	if len(s.Deps) > 0 {
		var deps []any
		for _, d := range s.Deps {
			deps = append(deps, f.dependency(d))
		}
		spec["dependencies"] = deps
	}
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": v1alpha1.GroupVersion.String(), "kind": v1alpha1.Kind,
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec}}
}

// controller plays the controllers envtest lacks, for one namespace: the
// StatefulSet controller (while enabled, every StatefulSet is marked rolled out
// whenever it changes), the garbage collector (a StatefulSet deleted leaving its
// pods goes at once: envtest has no pods to orphan), the PVC protection
// controller (a PVC deleted goes: no pod uses it) and the volume resizer (while
// resizing, a PVC gets the capacity it requests).
type controller struct {
	c                 client.WithWatch
	ns                string
	enabled, resizing atomic.Bool
}

func startController(t *testing.T, c client.WithWatch, ns string) *controller {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ctl := &controller{c: c, ns: ns}
	sets, err := c.Watch(ctx, &appsv1.StatefulSetList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer sets.Stop()
		for ev := range sets.ResultChan() {
			sts, ok := ev.Object.(*appsv1.StatefulSet)
			switch {
			case !ok || ev.Type != watch.Added && ev.Type != watch.Modified:
			case sts.DeletionTimestamp != nil:
				testenv.ReleaseOrphans(ctx, c, sts)
			case ctl.enabled.Load():
				testenv.MarkRolledOut(ctx, c, sts)
			}
		}
	}()
	claims, err := c.Watch(ctx, &corev1.PersistentVolumeClaimList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer claims.Stop()
		for ev := range claims.ResultChan() {
			pvc, ok := ev.Object.(*corev1.PersistentVolumeClaim)
			switch {
			case !ok || ev.Type == watch.Deleted:
			case pvc.DeletionTimestamp != nil:
				releaseClaim(ctx, c, pvc)
			case ctl.resizing.Load():
				resize(ctx, c, pvc)
			}
		}
	}()
	return ctl
}

// releaseClaim does the PVC protection controller's part of a PVC's deletion: no
// pod uses it (envtest has none), so its finalizer goes, and the PVC.
func releaseClaim(ctx context.Context, c client.Client, pvc *corev1.PersistentVolumeClaim) {
	const protection = "kubernetes.io/pvc-protection"
	if !slices.Contains(pvc.Finalizers, protection) {
		return
	}
	pvc = pvc.DeepCopy()
	pvc.Finalizers = slices.DeleteFunc(pvc.Finalizers, func(f string) bool { return f == protection })
	_ = c.Update(ctx, pvc)
}

// resize gives a PVC the capacity it requests.
func resize(ctx context.Context, c client.Client, pvc *corev1.PersistentVolumeClaim) {
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if have := pvc.Status.Capacity[corev1.ResourceStorage]; have.Cmp(want) >= 0 {
		return
	}
	pvc = pvc.DeepCopy()
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: want}
	_ = c.Status().Update(ctx, pvc)
}

// createVolumes creates the bound data PVCs of the pods of a Database of spec s,
// as the StatefulSet controller and a provisioner would have.
func createVolumes(ctx context.Context, c client.Client, ns, name string, s dbSpec) error {
	names := []string{fmt.Sprintf("data-%s-0", name)}
	for i := range s.Replicas - 1 {
		names = append(names, fmt.Sprintf("data-%s-replica-%d", name, i))
	}
	size := resource.MustParse(s.Size)
	for _, n := range names {
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n, Labels: map[string]string{phases.LabelName: s.Engine, phases.LabelInstance: name}},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &s.Class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}}},
		}
		if err := c.Create(ctx, pvc); err != nil {
			return fmt.Errorf("creating PVC %s: %w", n, err)
		}
		pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: size}}
		if err := c.Status().Update(ctx, pvc); err != nil {
			return fmt.Errorf("binding PVC %s: %w", n, err)
		}
	}
	return nil
}

// createStorageClasses creates classExpand and classFixed (cluster-scoped, kept).
func createStorageClasses(ctx context.Context, c client.Client) error {
	for name, expand := range map[string]bool{classExpand: true, classFixed: false} {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/test", AllowVolumeExpansion: &expand}
		if err := c.Create(ctx, sc); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating StorageClass %s: %w", name, err)
		}
	}
	return nil
}

// enable completes every rollout of the namespace, now and from now on.
func (ctl *controller) enable(ctx context.Context) {
	if ctl.enabled.Swap(true) {
		return
	}
	var list appsv1.StatefulSetList
	if err := ctl.c.List(ctx, &list, client.InNamespace(ctl.ns)); err != nil {
		return // the watch marks them as they change
	}
	for i := range list.Items {
		testenv.MarkRolledOut(ctx, ctl.c, &list.Items[i])
	}
}

func (ctl *controller) disable() { ctl.enabled.Store(false) }

// getChild reads a child by kind and name; nil when it does not exist.
func getChild(ctx context.Context, c client.Client, ns, kind, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	switch kind {
	case v1alpha1.Kind:
		u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(v1alpha1.Kind))
	case reconcile.KindPersistentVolumeClaim:
		u.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	default:
		u.SetGroupVersionKind(phases.Ref{Kind: kind}.GroupVersionKind())
	}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s/%s: %w", kind, ns, name, err)
	}
	return u, nil
}

// applyLiveEdit makes one live edit; it says what it did ("absent" when there was
// nothing to edit).
func applyLiveEdit(ctx context.Context, c client.Client, ns string, e liveEdit) (string, error) {
	live, err := getChild(ctx, c, ns, e.kind, e.name)
	if err != nil || live == nil {
		return "absent", err
	}
	switch e.op {
	case "delete":
		return "deleted", c.Delete(ctx, live)
	case "rollout":
		return "mid-rollout", midRollout(ctx, c, live)
	}
	content := editContent(live, e.field, e.value)
	if content == nil {
		return "nothing to edit", nil
	}
	if e.op == "edit" {
		body, err := json.Marshal(content)
		if err != nil {
			return "", err
		}
		if e.field == "replicas" {
			sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: e.name}}
			return "scaled", c.SubResource("scale").Patch(ctx, sts, client.RawPatch(types.MergePatchType, body), client.FieldOwner("kubectl-scale"))
		}
		return "edited", c.Patch(ctx, live, client.RawPatch(types.MergePatchType, body), client.FieldOwner("kubectl-edit"))
	}
	obj := &unstructured.Unstructured{Object: content}
	obj.SetAPIVersion(live.GetAPIVersion())
	obj.SetKind(live.GetKind())
	obj.SetName(live.GetName())
	obj.SetNamespace(ns)
	return "applied", c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("argocd-controller"), client.ForceOwnership)
}

// midRollout sets a StatefulSet's status to a rollout in progress: a replica not
// ready and not updated (or, at zero replicas, one still terminating).
func midRollout(ctx context.Context, c client.Client, live *unstructured.Unstructured) error {
	sts := &appsv1.StatefulSet{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(live), sts); err != nil {
		return err
	}
	n := int32(1)
	if sts.Spec.Replicas != nil {
		n = *sts.Spec.Replicas
	}
	behind := max(n-1, 0)
	sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, Replicas: max(n, 1), ReadyReplicas: behind,
		CurrentReplicas: behind, UpdatedReplicas: behind, AvailableReplicas: behind, CurrentRevision: "r0", UpdateRevision: "r1"}
	return c.Status().Update(ctx, sts)
}

// editContent is the merge patch of a hand edit of field, and the apply
// configuration's content of another applier's apply of it, given the live object.
func editContent(live *unstructured.Unstructured, field, value string) map[string]any {
	same := value == "same"
	switch field {
	case "data.host", "data.password":
		key := field[len("data."):]
		v, _, _ := unstructured.NestedString(live.Object, "data", key)
		if !same {
			v = base64.StdEncoding.EncodeToString([]byte("hand-" + key))
		}
		return map[string]any{"data": map[string]any{key: v}}
	case "label":
		v := "dbctl"
		if !same {
			v = "someone-else"
		}
		return map[string]any{"metadata": map[string]any{"labels": map[string]any{phases.LabelManagedBy: v}}}
	case "foreign-label":
		return map[string]any{"metadata": map[string]any{"labels": map[string]any{"team": "payments"}}}
	case "selector":
		v, _, _ := nestedOr(live, "other", same, "spec", "selector", phases.LabelInstance)
		return map[string]any{"spec": map[string]any{"selector": map[string]any{phases.LabelInstance: v}}}
	case "data":
		data, _, _ := unstructured.NestedStringMap(live.Object, "data")
		keys := slices.Sorted(maps.Keys(data))
		if len(keys) == 0 {
			return nil
		}
		v := data[keys[0]]
		if !same {
			v = "# edited by hand\n"
		}
		return map[string]any{"data": map[string]any{keys[0]: v}}
	case "template-annotation":
		v, _, _ := nestedOr(live, "edited", same, "spec", "template", "metadata", "annotations", phases.AnnotationConfigHash)
		return map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
			"annotations": map[string]any{phases.AnnotationConfigHash: v}}}}}
	case "schedule":
		v, _, _ := nestedOr(live, "30 5 * * *", same, "spec", "schedule")
		return map[string]any{"spec": map[string]any{"schedule": v}}
	case "maxUnavailable":
		v := int64(2)
		if same {
			v = 1
		}
		return map[string]any{"spec": map[string]any{"maxUnavailable": v}}
	case "replicas":
		var n int64
		fmt.Sscan(value, &n)
		return map[string]any{"spec": map[string]any{"replicas": n}}
	}
	return nil
}

func nestedOr(live *unstructured.Unstructured, other string, same bool, path ...string) (string, bool, error) {
	if !same {
		return other, true, nil
	}
	return unstructured.NestedString(live.Object, path...)
}
