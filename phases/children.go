package phases

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// Kinds of the children.
const (
	KindSecret              = "Secret"
	KindService             = "Service"
	KindConfigMap           = "ConfigMap"
	KindStatefulSet         = "StatefulSet"
	KindPodDisruptionBudget = "PodDisruptionBudget"
)

// kindGVKs are the group, version and kind of every child kind.
var kindGVKs = map[string]schema.GroupVersionKind{
	KindSecret:              {Version: "v1", Kind: KindSecret},
	KindService:             {Version: "v1", Kind: KindService},
	KindConfigMap:           {Version: "v1", Kind: KindConfigMap},
	KindStatefulSet:         {Group: "apps", Version: "v1", Kind: KindStatefulSet},
	KindPodDisruptionBudget: {Group: "policy", Version: "v1", Kind: KindPodDisruptionBudget},
}

// Label keys every child carries (SPEC §2).
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "dbctl"

	// AnnotationConfigHash on the pod template rolls the pods when the config changes.
	AnnotationConfigHash = "dbctl.io/config-hash"
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
)

// Child is one object a Database can have.
type Child struct {
	Ref
	// Phase is the phase that writes the child.
	Phase v1alpha1.Phase
	// Namespace is the Database's.
	Namespace string
	// Want is what the spec wants of it.
	Want Want
	// Desired is the apply configuration dbctl writes with server-side apply; nil
	// unless Desired built it for a child the spec wants.
	Desired *unstructured.Unstructured
}

// ID is "Kind namespace/name".
func (c Child) ID() string { return fmt.Sprintf("%s %s/%s", c.Kind, c.Namespace, c.Name) }

// Live holds the live objects of a Database's children; a child that does not exist
// has no entry.
type Live map[Ref]*unstructured.Unstructured

// Inputs are what the children are built from besides the spec.
type Inputs struct {
	// Password of the credentials Secret: the live Secret's when it exists (never
	// regenerated), else a new one from NewPassword.
	Password string
}

// childDef is one child in the table of every child a Database can have.
type childDef struct {
	phase v1alpha1.Phase
	kind  string
	name  func(*v1alpha1.Database) string
	want  func(*v1alpha1.Database) Want
	build func(*v1alpha1.Database, *engine, Inputs) (any, error)
}

// childDefs are every child a Database can have, in the order the phases write them.
// Adding a child is one entry here and its builder, in the file of the phase that
// writes it.
var childDefs = []childDef{
	{v1alpha1.PhaseProvisioning, KindSecret, (*v1alpha1.Database).SecretName, always, buildSecret},
	{v1alpha1.PhaseProvisioning, KindService, (*v1alpha1.Database).HeadlessServiceName, always, buildHeadlessService},
	{v1alpha1.PhaseProvisioning, KindService, (*v1alpha1.Database).ServiceName, always, buildService},
	{v1alpha1.PhaseConfiguring, KindConfigMap, (*v1alpha1.Database).ConfigMapName, always, buildConfigMap},
	{v1alpha1.PhaseDeploying, KindStatefulSet, (*v1alpha1.Database).StatefulSetName, always, buildStatefulSet},
	{v1alpha1.PhaseDeploying, KindPodDisruptionBudget, (*v1alpha1.Database).PodDisruptionBudgetName, aboveOneReplica, buildPDB},
}

func always(*v1alpha1.Database) Want { return Present }

func aboveOneReplica(db *v1alpha1.Database) Want {
	if db.ReplicaCount() > 1 {
		return Present
	}
	return Absent
}

// Children returns every child a Database can have, whatever its spec, with what the
// spec wants of each, in the order the phases write them. Nothing is built (Desired
// is nil).
func Children(db *v1alpha1.Database) []Child {
	out := make([]Child, 0, len(childDefs))
	for _, d := range childDefs {
		out = append(out, Child{Ref: Ref{Kind: d.kind, Name: d.name(db)}, Phase: d.phase, Namespace: db.Namespace, Want: d.want(db)})
	}
	return out
}

// Desired returns Children with the apply configuration of every child the spec
// wants (Want Present) built.
func Desired(db *v1alpha1.Database, in Inputs) ([]Child, error) {
	e, err := engineFor(db.Spec.Engine)
	if err != nil {
		return nil, err
	}
	out := Children(db)
	for i, d := range childDefs {
		if out[i].Want != Present {
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

// SelectorLabels select the Database's pods.
func SelectorLabels(db *v1alpha1.Database) map[string]string {
	return map[string]string{LabelName: string(db.Spec.Engine), LabelInstance: db.Name}
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
