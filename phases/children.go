package phases

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases/engine"
)

// Kinds of the children.
const (
	KindSecret                = "Secret"
	KindService               = "Service"
	KindConfigMap             = "ConfigMap"
	KindStatefulSet           = "StatefulSet"
	KindPodDisruptionBudget   = "PodDisruptionBudget"
	KindPersistentVolumeClaim = "PersistentVolumeClaim"
	KindCronJob               = "CronJob"
	KindJob                   = "Job"
)

// kindGVKs are the group, version and kind of every child kind.
var kindGVKs = map[string]schema.GroupVersionKind{
	KindSecret:                {Version: "v1", Kind: KindSecret},
	KindService:               {Version: "v1", Kind: KindService},
	KindConfigMap:             {Version: "v1", Kind: KindConfigMap},
	KindStatefulSet:           {Group: "apps", Version: "v1", Kind: KindStatefulSet},
	KindPodDisruptionBudget:   {Group: "policy", Version: "v1", Kind: KindPodDisruptionBudget},
	KindPersistentVolumeClaim: {Version: "v1", Kind: KindPersistentVolumeClaim},
	KindCronJob:               {Group: "batch", Version: "v1", Kind: KindCronJob},
}

// Label keys every child carries (SPEC §2).
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "dbctl"

	// AnnotationConfigHash on the pod template rolls the pods when the config changes.
	AnnotationConfigHash = "dbctl.io/config-hash"

	// LabelRole on a pod template says whether its pods are the primary or
	// replicas: the Services select by it.
	LabelRole   = "dbctl.io/role"
	RolePrimary = engine.RolePrimary
	RoleReplica = engine.RoleReplica
)

// Ref identifies a child of a Database: its kind and its name, in the Database's
// namespace. It is comparable, the key of Live.
type Ref struct{ Kind, Name string }

// String is "Kind/name".
func (r Ref) String() string { return r.Kind + "/" + r.Name }

// GroupVersionKind is the child's group, version and kind.
func (r Ref) GroupVersionKind() schema.GroupVersionKind { return kindGVKs[r.Kind] }

// Want is what a Database's spec wants of one child.
type Want int

const (
	// Present: the child is created, or updated to the spec.
	Present Want = iota
	// Absent: the child must not exist; one that does (and is the Database's) is
	// deleted.
	Absent
	// IfPresent: the child is updated to the spec when it exists, never created
	// (the replica StatefulSet at one replica: scaled to 0, its PVCs kept).
	IfPresent
	// Keep: the child is left as it is, present or not (the replication Secret at
	// one replica: never deleted, so that its password outlives a scale-down).
	Keep
)

// Applied reports whether a child with this want and whose live object exists (or
// not) is written to the spec.
func (w Want) Applied(exists bool) bool { return w == Present || w == IfPresent && exists }

// Child is one object a Database can have.
type Child struct {
	Ref
	// Phase is the phase that writes the child.
	Phase v1alpha1.Phase
	// Namespace is the Database's.
	Namespace string
	// Want is what the spec wants of it.
	Want Want
	// Generated are the keys of a Secret whose values dbctl generates when it
	// creates it (a plan shows them as generated at apply).
	Generated []string
	// Desired is the apply configuration dbctl writes with server-side apply; nil
	// unless Desired built it (for a child the spec wants, or wants updated if it
	// exists).
	Desired *unstructured.Unstructured
}

// ID is "Kind namespace/name".
func (c Child) ID() string { return fmt.Sprintf("%s %s/%s", c.Kind, c.Namespace, c.Name) }

// CreateKey is the one data key of a Secret that dbctl creates with a POST (which
// fails when another run created it first, so that only one password ever exists)
// before applying the rest: the password. A key in the POST stays owned by that
// create for good; the others are owned by dbctl's apply alone, so that a key the
// spec no longer wants (ro-host at one replica) is removed by the next apply.
const CreateKey = "password"

// CreateBody is what the POST creating a new Secret carries: Desired with only
// CreateKey of its data.
func (c Child) CreateBody() *unstructured.Unstructured {
	body := c.Desired.DeepCopy()
	if v, ok, _ := unstructured.NestedString(body.Object, "data", CreateKey); ok {
		_ = unstructured.SetNestedField(body.Object, map[string]any{CreateKey: v}, "data")
	}
	return body
}

// Live holds the live objects of a Database's children; a child that does not exist
// has no entry.
type Live map[Ref]*unstructured.Unstructured

// Inputs are what the children are built from besides the spec.
type Inputs struct {
	// Password of the credentials Secret: the live Secret's when it exists (never
	// regenerated), else a new one from NewPassword.
	Password string
	// ReplicationPassword of the replication Secret, the same way.
	ReplicationPassword string
}

// childDef is one child in the table of every child a Database can have.
type childDef struct {
	phase v1alpha1.Phase
	kind  string
	name  func(*v1alpha1.Database) string
	want  func(*v1alpha1.Database) Want
	build func(*v1alpha1.Database, *engineSpec, Inputs) (any, error)
	// generated are the keys of a Secret whose values dbctl generates when it
	// creates it (never shown, never regenerated).
	generated []string
}

// childDefs are every child a Database can have, in the order the phases write them.
// Adding a child is one entry here and its builder, in the file of the phase that
// writes it.
var childDefs = []childDef{
	{v1alpha1.PhaseProvisioning, KindSecret, (*v1alpha1.Database).SecretName, always, buildSecret, []string{"password", "uri", "ro-uri"}},
	{v1alpha1.PhaseProvisioning, KindSecret, (*v1alpha1.Database).ReplicationSecretName, replicatedOr(Keep), buildReplicationSecret, []string{"password"}},
	{v1alpha1.PhaseProvisioning, KindService, (*v1alpha1.Database).HeadlessServiceName, always, buildHeadlessService, nil},
	{v1alpha1.PhaseProvisioning, KindService, (*v1alpha1.Database).ServiceName, always, buildService, nil},
	{v1alpha1.PhaseProvisioning, KindService, (*v1alpha1.Database).ReadOnlyServiceName, replicatedOr(Absent), buildReadOnlyService, nil},
	{v1alpha1.PhaseProvisioning, KindPersistentVolumeClaim, (*v1alpha1.Database).BackupPVCName, backupOr(Keep), buildBackupPVC, nil},
	{v1alpha1.PhaseConfiguring, KindConfigMap, (*v1alpha1.Database).ConfigMapName, always, buildConfigMap, nil},
	{v1alpha1.PhaseDeploying, KindStatefulSet, (*v1alpha1.Database).StatefulSetName, always, buildStatefulSet, nil},
	{v1alpha1.PhaseDeploying, KindStatefulSet, (*v1alpha1.Database).ReplicaStatefulSetName, replicatedOr(IfPresent), buildReplicaStatefulSet, nil},
	{v1alpha1.PhaseDeploying, KindPodDisruptionBudget, (*v1alpha1.Database).PodDisruptionBudgetName, replicatedOr(Absent), buildPDB, nil},
	{v1alpha1.PhaseDeploying, KindCronJob, (*v1alpha1.Database).BackupCronJobName, backupOr(Absent), buildBackupCronJob, nil},
}

func always(*v1alpha1.Database) Want { return Present }

// replicatedOr: Present with replicas, else w.
func replicatedOr(w Want) func(*v1alpha1.Database) Want {
	return func(db *v1alpha1.Database) Want {
		if db.Replicated() {
			return Present
		}
		return w
	}
}

// Children returns every child a Database can have, whatever its spec, with what the
// spec wants of each, in the order the phases write them. Nothing is built (Desired
// is nil).
func Children(db *v1alpha1.Database) []Child {
	out := make([]Child, 0, len(childDefs))
	for _, d := range childDefs {
		out = append(out, Child{Ref: Ref{Kind: d.kind, Name: d.name(db)}, Phase: d.phase, Namespace: db.Namespace,
			Want: d.want(db), Generated: d.generated})
	}
	return out
}

// Desired returns Children with the apply configuration of every child the spec
// wants written (Want Present or IfPresent) built.
func Desired(db *v1alpha1.Database, in Inputs) ([]Child, error) {
	e, err := engineFor(db.Spec.Engine)
	if err != nil {
		return nil, err
	}
	out := Children(db)
	for i, d := range childDefs {
		if out[i].Want != Present && out[i].Want != IfPresent {
			continue
		}
		ac, err := d.build(db, e, in)
		if err != nil {
			return nil, err
		}
		u, err := toUnstructured(ac)
		if err != nil {
			return nil, fmt.Errorf("building %s for Database %s/%s: %w", d.kind, db.Namespace, db.Name, err)
		}
		out[i].Desired = u
	}
	return out, nil
}

// Labels are the labels of every child.
func Labels(db *v1alpha1.Database) map[string]string {
	return map[string]string{
		LabelName:      string(db.Spec.Engine),
		LabelInstance:  db.Name,
		LabelManagedBy: ManagedBy,
	}
}

// SelectorLabels select the Database's pods, primary and replicas.
func SelectorLabels(db *v1alpha1.Database) map[string]string {
	return map[string]string{LabelName: string(db.Spec.Engine), LabelInstance: db.Name}
}

// RoleSelectorLabels select the Database's pods of one role.
func RoleSelectorLabels(db *v1alpha1.Database, role string) map[string]string {
	l := SelectorLabels(db)
	l[LabelRole] = role
	return l
}

// OwnerReference points a child at its Database (controller: true). The Database's
// UID must be known: children are built from the live Database.
func OwnerReference(db *v1alpha1.Database) *metav1ac.OwnerReferenceApplyConfiguration {
	return metav1ac.OwnerReference().
		WithAPIVersion(v1alpha1.GroupVersion.String()).
		WithKind(v1alpha1.Kind).
		WithName(db.Name).
		WithUID(db.UID).
		WithController(true)
}

// IsOwnedBy reports whether obj's controller owner reference is the Database.
func IsOwnedBy(obj metav1.Object, db *v1alpha1.Database) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == db.UID && ref.Kind == v1alpha1.Kind && ref.Name == db.Name
}

func toUnstructured(ac any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ac)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}
