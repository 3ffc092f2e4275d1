package reconcile

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/equality"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/kube"
)

// memCluster is an in-memory cluster for the engine's orchestration tests: one
// namespace, one Database, its children. A server-side apply stores the desired
// object with a managedFields entry of dbctl naming every field it set, so the
// engine's drift detection works on it as on the API server; fault decides, before
// every operation, whether it fails (and how). It is not a stand-in for the API
// server's behaviour (apply merging, conflicts, dry runs, the status subresource):
// the envtest tests cover those.
type memCluster struct {
	mu      sync.Mutex
	db      *v1alpha1.Database
	objs    phases.Live
	pvcs    bool
	rv      int
	ops     []string // every successful write, in order: "apply StatefulSet/orders"
	statusW int      // successful status writes
	// fault is called before every operation ("get", "read", "apply", "create",
	// "delete", "status", "wait", "pvcs") with the object's "Kind/name"; a non-nil
	// error fails the operation.
	fault func(op, obj string) error
	// afterApply runs after a successful apply, under the lock: a controller
	// fighting dbctl changes the object here.
	afterApply func(u *unstructured.Unstructured)
	// rollout: waitRollout marks the StatefulSet rolled out (true by default).
	noRollout bool
	// pvcs are the Database's PVCs; growVolume grows them at once (their capacity
	// follows) unless noResize, or refuses like the admission plugin when
	// noExpansion.
	volumes     []corev1.PersistentVolumeClaim
	noResize    bool
	noExpansion bool
	// backup is what latestBackup returns.
	backup *v1alpha1.BackupRecord
}

func newMemCluster(db *v1alpha1.Database) *memCluster {
	db = db.DeepCopy()
	db.UID, db.ResourceVersion = "uid-1", "1"
	if db.Generation == 0 {
		db.Generation = 1
	}
	return &memCluster{db: db, objs: phases.Live{}, rv: 1}
}

func (m *memCluster) check(op, obj string) error {
	if m.fault == nil {
		return nil
	}
	return m.fault(op, obj)
}

func (m *memCluster) nextRV() string { m.rv++; return fmt.Sprint(m.rv) }

func (m *memCluster) getDatabase(_ context.Context, ns, name string) (*v1alpha1.Database, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("get", "Database/"+name); err != nil {
		return nil, err
	}
	if m.db == nil || m.db.Name != name {
		return nil, &NotFoundError{Namespace: ns, Name: name}
	}
	return m.db.DeepCopy(), nil
}

func (m *memCluster) applyDatabase(_ context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, []TakeOver, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("apply", "Database/"+obj.GetName()); err != nil {
		return nil, nil, err
	}
	in := &v1alpha1.Database{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, in); err != nil {
		return nil, nil, err
	}
	in.Default()
	if !apierrors.Semantic.DeepEqual(in.Spec, m.db.Spec) {
		m.db.Spec = in.Spec
		m.db.Generation++
		m.db.ResourceVersion = m.nextRV()
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(m.db)
	return &unstructured.Unstructured{Object: u}, nil, err
}

func (m *memCluster) createNamespace(context.Context, string) error { return nil }

func (m *memCluster) updateStatus(_ context.Context, db *v1alpha1.Database) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("status", "Database/"+db.Name); err != nil {
		return err
	}
	if db.ResourceVersion != m.db.ResourceVersion {
		return kerrors.NewConflict(schema.GroupResource{Group: "dbctl.io", Resource: "databases"}, db.Name,
			fmt.Errorf("the object has been modified"))
	}
	m.db.Status = *db.Status.DeepCopy()
	m.db.ResourceVersion = m.nextRV()
	db.ResourceVersion = m.db.ResourceVersion
	m.statusW++
	return nil
}

func (m *memCluster) readChildren(_ context.Context, _ *v1alpha1.Database, refs []phases.Ref) (phases.Live, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := phases.Live{}
	for _, r := range refs {
		if err := m.check("read", r.String()); err != nil {
			return nil, err
		}
		if o := m.objs[r]; o != nil {
			live[r] = o.DeepCopy()
		}
	}
	return live, nil
}

func (m *memCluster) pvcsExist(context.Context, *v1alpha1.Database) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pvcs, m.check("pvcs", "PersistentVolumeClaim/*")
}

func refOf(u *unstructured.Unstructured) phases.Ref {
	return phases.Ref{Kind: u.GetKind(), Name: u.GetName()}
}

func (m *memCluster) apply(_ context.Context, desired, _ *unstructured.Unstructured) (*unstructured.Unstructured, []TakeOver, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ref := refOf(desired)
	if err := m.check("apply", ref.String()); err != nil {
		return nil, nil, err
	}
	obj, err := m.store(desired, m.objs[ref])
	if err != nil {
		return nil, nil, err
	}
	m.ops = append(m.ops, "apply "+ref.String())
	if m.afterApply != nil {
		m.afterApply(obj)
	}
	return obj.DeepCopy(), nil, nil
}

// store keeps desired as the object dbctl applied: the fields it set are the ones
// its managedFields entry names; the status, uid and generation of the old object
// stay (the generation moves when the spec does).
func (m *memCluster) store(desired, old *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	obj := desired.DeepCopy()
	// A resourceVersion sent is a precondition, not a field anyone owns.
	owned := desired.DeepCopy()
	owned.SetResourceVersion("")
	fields, err := fieldpath.SetFromValue(value.NewValueInterface(owned.Object)).ToJSON()
	if err != nil {
		return nil, err
	}
	obj.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: kube.FieldManager, Operation: metav1.ManagedFieldsOperationApply,
		APIVersion: desired.GetAPIVersion(), FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: fields}}})
	obj.SetGeneration(1)
	obj.SetUID(types.UID("uid-" + obj.GetName()))
	if old != nil {
		obj.SetUID(old.GetUID())
		obj.SetGeneration(old.GetGeneration())
		if !apierrors.Semantic.DeepEqual(old.Object["spec"], obj.Object["spec"]) {
			obj.SetGeneration(old.GetGeneration() + 1)
		}
		if st, ok := old.Object["status"]; ok {
			obj.Object["status"] = st
		}
	}
	obj.SetResourceVersion(m.nextRV())
	m.objs[refOf(obj)] = obj
	return obj, nil
}

func (m *memCluster) create(_ context.Context, desired *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ref := refOf(desired)
	if err := m.check("create", ref.String()); err != nil {
		return nil, err
	}
	if m.objs[ref] != nil {
		return nil, kerrors.NewAlreadyExists(schema.GroupResource{Resource: "secrets"}, ref.Name)
	}
	obj, err := m.store(desired, nil)
	if err != nil {
		return nil, err
	}
	m.ops = append(m.ops, "create "+ref.String())
	return obj.DeepCopy(), nil
}

func (m *memCluster) delete(_ context.Context, live *unstructured.Unstructured) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ref := refOf(live)
	if err := m.check("delete", ref.String()); err != nil {
		return err
	}
	delete(m.objs, ref)
	m.ops = append(m.ops, "delete "+ref.String())
	return nil
}

func (m *memCluster) latestBackup(context.Context, *v1alpha1.Database) (*v1alpha1.BackupRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.backup.DeepCopy(), m.check("backups", "Job/*")
}

func (m *memCluster) disown(_ context.Context, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ref := refOf(live)
	if err := m.check("disown", ref.String()); err != nil {
		return nil, err
	}
	obj := m.objs[ref]
	if obj == nil {
		return nil, kerrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, ref.Name)
	}
	obj.SetOwnerReferences(nil)
	obj.SetResourceVersion(m.nextRV())
	m.ops = append(m.ops, "disown "+ref.String())
	return obj.DeepCopy(), nil
}

func (m *memCluster) listVolumes(context.Context, *v1alpha1.Database) ([]corev1.PersistentVolumeClaim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("list", "PersistentVolumeClaim/*"); err != nil {
		return nil, err
	}
	return append([]corev1.PersistentVolumeClaim(nil), m.volumes...), nil
}

func (m *memCluster) growVolume(_ context.Context, _, name string, size resource.Quantity, dryRun bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("grow", "PersistentVolumeClaim/"+name); err != nil {
		return err
	}
	if m.noExpansion {
		return kerrors.NewForbidden(schema.GroupResource{Resource: "persistentvolumeclaims"}, name,
			fmt.Errorf("only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"))
	}
	for i := range m.volumes {
		if m.volumes[i].Name != name || dryRun {
			continue
		}
		m.volumes[i].Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: size}
		if !m.noResize {
			m.volumes[i].Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: size}
		}
		m.ops = append(m.ops, "grow PersistentVolumeClaim/"+name)
	}
	return nil
}

func (m *memCluster) deleteOrphan(_ context.Context, live *unstructured.Unstructured, dryRun bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ref := refOf(live)
	if err := m.check("delete-orphan", ref.String()); err != nil || dryRun {
		return err
	}
	delete(m.objs, ref)
	m.ops = append(m.ops, "delete-orphan "+ref.String())
	return nil
}

func (m *memCluster) clearLeftoverStatus(_ context.Context, live *unstructured.Unstructured) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ref := refOf(live)
	if err := m.check("clear-status", ref.String()); err != nil {
		return err
	}
	if obj := m.objs[ref]; obj != nil {
		_ = unstructured.SetNestedField(obj.Object, int64(0), "status", "observedGeneration")
	}
	m.ops = append(m.ops, "clear-status "+ref.String())
	return nil
}

func (m *memCluster) waitGone(context.Context, *unstructured.Unstructured) error { return nil }

// withVolumes gives the cluster the data PVCs of a Database of replicas, of size.
func (m *memCluster) withVolumes(replicas int, size string) *memCluster {
	names := []string{"data-orders-0"}
	for i := range replicas - 1 {
		names = append(names, fmt.Sprintf("data-orders-replica-%d", i))
	}
	for _, n := range names {
		q := resource.MustParse(size)
		m.volumes = append(m.volumes, corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: n},
			Spec:   corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q}}},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: q}}})
	}
	return m
}

// waitRollout plays the StatefulSet controller: the StatefulSet is rolled out.
func (m *memCluster) waitRollout(ctx context.Context, db *v1alpha1.Database, _ map[string]*unstructured.Unstructured, until time.Time, _ func(phases.Rollout, string)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("wait", "StatefulSet/"+db.StatefulSetName()); err != nil {
		return err
	}
	if m.noRollout {
		m.mu.Unlock()
		defer m.mu.Lock()
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(until)):
		}
		return nil
	}
	m.rollOut(db.StatefulSetName())
	m.rollOut(db.ReplicaStatefulSetName())
	return nil
}

// rollOut sets the StatefulSet's status as the controller does once every replica
// is updated and ready.
func (m *memCluster) rollOut(name string) {
	sts := m.objs[phases.Ref{Kind: phases.KindStatefulSet, Name: name}]
	if sts == nil {
		return
	}
	n, found, _ := unstructured.NestedInt64(sts.Object, "spec", "replicas")
	if !found {
		n = 1
	}
	sts.Object["status"] = map[string]any{"observedGeneration": sts.GetGeneration(), "replicas": n, "readyReplicas": n,
		"currentReplicas": n, "updatedReplicas": n, "currentRevision": "r1", "updateRevision": "r1"}
}

// writes returns the successful writes so far and forgets them.
func (m *memCluster) writes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.ops
	m.ops = nil
	return out
}
