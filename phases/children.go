package phases

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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

// Label keys every child carries (SPEC §2).
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "dbctl"

	// AnnotationConfigHash on the pod template rolls the pods when the config changes.
	AnnotationConfigHash = "dbctl.io/config-hash"
)

// Child is one object a phase owns.
type Child struct {
	// Phase is the phase that writes the child.
	Phase v1alpha1.Phase
	// Kind, Namespace and Name identify it.
	Kind, Namespace, Name string
	// APIVersion of the object, e.g. "apps/v1".
	APIVersion string
	// Desired is the apply configuration dbctl writes with server-side apply; nil
	// for an object that is only to be pruned.
	Desired *unstructured.Unstructured
}

// ID is "Kind namespace/name".
func (c Child) ID() string { return fmt.Sprintf("%s %s/%s", c.Kind, c.Namespace, c.Name) }

// Inputs are what the children are built from besides the spec.
type Inputs struct {
	// Password of the credentials Secret: the live Secret's when it exists (never
	// regenerated), else a new one from NewPassword.
	Password string
}

// Desired returns every child the Database should have, in the order the phases
// write them: Secret, headless Service, Service (Provisioning); ConfigMap
// (Configuring); StatefulSet and, when replicas > 1, the PodDisruptionBudget
// (Deploying).
func Desired(db *v1alpha1.Database, in Inputs) ([]Child, error) {
	e, err := engineFor(db.Spec.Engine)
	if err != nil {
		return nil, err
	}
	var out []Child
	for _, b := range []struct {
		phase v1alpha1.Phase
		kind  string
		build func() (any, error)
	}{
		{v1alpha1.PhaseProvisioning, KindSecret, func() (any, error) { return secret(db, e, in.Password), nil }},
		{v1alpha1.PhaseProvisioning, KindService, func() (any, error) { return headlessService(db, e), nil }},
		{v1alpha1.PhaseProvisioning, KindService, func() (any, error) { return service(db, e), nil }},
		{v1alpha1.PhaseConfiguring, KindConfigMap, func() (any, error) { return configMap(db, e), nil }},
		{v1alpha1.PhaseDeploying, KindStatefulSet, func() (any, error) { return statefulSet(db, e) }},
		{v1alpha1.PhaseDeploying, KindPodDisruptionBudget, func() (any, error) {
			if db.ReplicaCount() <= 1 {
				return nil, nil
			}
			return pdb(db), nil
		}},
	} {
		ac, err := b.build()
		if err != nil {
			return nil, err
		}
		if ac == nil { // the PodDisruptionBudget at replicas 1
			continue
		}
		u, err := toUnstructured(ac)
		if err != nil {
			return nil, fmt.Errorf("building %s for Database %s/%s: %w", b.kind, db.Namespace, db.Name, err)
		}
		out = append(out, Child{Phase: b.phase, Kind: b.kind, Namespace: db.Namespace, Name: u.GetName(),
			APIVersion: u.GetAPIVersion(), Desired: u})
	}
	return out, nil
}

// Prunable returns the children that must not exist for this spec: the
// PodDisruptionBudget when replicas is 1.
func Prunable(db *v1alpha1.Database) []Child {
	if db.ReplicaCount() > 1 {
		return nil
	}
	return []Child{{Phase: v1alpha1.PhaseDeploying, Kind: KindPodDisruptionBudget, Namespace: db.Namespace,
		Name: db.PodDisruptionBudgetName(), APIVersion: "policy/v1"}}
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
