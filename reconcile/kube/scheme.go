package kube

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// NewScheme returns a scheme with the built-in kinds, apiextensions and dbctl.io.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err) // only on a programming error in the registrations above
		}
	}
	return s
}

type mapping struct {
	gvk      schema.GroupVersionKind
	plural   string
	singular string
	scope    meta.RESTScope
}

var mappings = []mapping{
	{v1alpha1.GroupVersionKind, "databases", "database", meta.RESTScopeNamespace},
	{corev1.SchemeGroupVersion.WithKind("Secret"), "secrets", "secret", meta.RESTScopeNamespace},
	{corev1.SchemeGroupVersion.WithKind("Service"), "services", "service", meta.RESTScopeNamespace},
	{corev1.SchemeGroupVersion.WithKind("ConfigMap"), "configmaps", "configmap", meta.RESTScopeNamespace},
	{corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), "persistentvolumeclaims", "persistentvolumeclaim", meta.RESTScopeNamespace},
	{corev1.SchemeGroupVersion.WithKind("Pod"), "pods", "pod", meta.RESTScopeNamespace},
	{corev1.SchemeGroupVersion.WithKind("Event"), "events", "event", meta.RESTScopeNamespace},
	{corev1.SchemeGroupVersion.WithKind("Namespace"), "namespaces", "namespace", meta.RESTScopeRoot},
	{corev1.SchemeGroupVersion.WithKind("Node"), "nodes", "node", meta.RESTScopeRoot},
	{corev1.SchemeGroupVersion.WithKind("PersistentVolume"), "persistentvolumes", "persistentvolume", meta.RESTScopeRoot},
	{appsv1.SchemeGroupVersion.WithKind("StatefulSet"), "statefulsets", "statefulset", meta.RESTScopeNamespace},
	{appsv1.SchemeGroupVersion.WithKind("ControllerRevision"), "controllerrevisions", "controllerrevision", meta.RESTScopeNamespace},
	{batchv1.SchemeGroupVersion.WithKind("CronJob"), "cronjobs", "cronjob", meta.RESTScopeNamespace},
	{batchv1.SchemeGroupVersion.WithKind("Job"), "jobs", "job", meta.RESTScopeNamespace},
	{policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"), "poddisruptionbudgets", "poddisruptionbudget", meta.RESTScopeNamespace},
	{apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"), "customresourcedefinitions", "customresourcedefinition", meta.RESTScopeRoot},
}

// NewRESTMapper returns a static RESTMapper for exactly the kinds dbctl uses, so a
// run makes no discovery requests. A kind outside this list is a programming error
// and fails with meta.NoKindMatchError.
func NewRESTMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, mp := range mappings {
		gv := mp.gvk.GroupVersion()
		m.AddSpecific(mp.gvk, gv.WithResource(mp.plural), gv.WithResource(mp.singular), mp.scope)
		listGVK := mp.gvk
		listGVK.Kind += "List"
		m.AddSpecific(listGVK, gv.WithResource(mp.plural), gv.WithResource(mp.singular), mp.scope)
	}
	return m
}
