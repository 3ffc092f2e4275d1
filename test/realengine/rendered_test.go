package realengine

import (
	"encoding/base64"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
)

// rendered is what dbctl writes for the test's Database (phases.Desired): the
// ConfigMap's files, the Secrets' data and the pod templates. The tests run exactly
// these, so that what they prove is what dbctl puts into a pod.
type rendered struct {
	files   map[string]string
	secrets map[string]map[string]string // by Secret name: key -> value
	pods    map[string]corev1.PodSpec    // by role
}

// render renders the children of the Database the cluster stands for.
func renderChildren(t *testing.T, c *cluster, params map[string]string) rendered {
	t.Helper()
	// At least one replica, so that the replica pod template is rendered too (a test
	// may start a replica later); the primary's template and the files do not depend
	// on the count (phases' TestScaleNeverTouchesThePrimary).
	replicas := int32(max(c.replicaCount+1, 2))
	db := &v1alpha1.Database{
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: namespace, UID: "uid-1"},
		Spec: v1alpha1.DatabaseSpec{Engine: v1alpha1.Engine(c.drv.engine()), Version: "16", Replicas: &replicas,
			Storage: v1alpha1.StorageSpec{Size: storageSize()}, Credentials: v1alpha1.CredentialsSpec{Username: c.app.user}},
	}
	if len(params) > 0 {
		db.Spec.Parameters = map[string]v1alpha1.ParameterValue{}
		for k, v := range params {
			db.Spec.Parameters[k] = v1alpha1.ParameterValue(v)
		}
	}
	db.Default()
	children, err := phases.Desired(db, phases.Inputs{Password: c.app.password, ReplicationPassword: c.repl.password})
	if err != nil {
		t.Fatalf("rendering the children: %v", err)
	}
	out := rendered{files: map[string]string{}, secrets: map[string]map[string]string{}, pods: map[string]corev1.PodSpec{}}
	for _, ch := range children {
		if ch.Desired == nil {
			continue
		}
		switch ch.Kind {
		case phases.KindConfigMap:
			data, _, _ := unstructured.NestedStringMap(ch.Desired.Object, "data")
			out.files = data
		case phases.KindSecret:
			out.secrets[ch.Name] = secretData(t, ch.Desired)
		case phases.KindStatefulSet:
			spec, role := podSpecOf(t, ch.Desired)
			out.pods[role] = spec
		}
	}
	return out
}

func secretData(t *testing.T, u *unstructured.Unstructured) map[string]string {
	data, _, _ := unstructured.NestedStringMap(u.Object, "data")
	out := map[string]string{}
	for k, v := range data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			t.Fatalf("Secret %s key %s: %v", u.GetName(), k, err)
		}
		out[k] = string(b)
	}
	return out
}

func podSpecOf(t *testing.T, u *unstructured.Unstructured) (corev1.PodSpec, string) {
	tmpl, _, _ := unstructured.NestedMap(u.Object, "spec", "template")
	var pt corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, &pt); err != nil {
		t.Fatalf("StatefulSet %s: %v", u.GetName(), err)
	}
	return pt.Spec, pt.Labels[phases.LabelRole]
}

// containerEnv resolves the rendered container's environment for pod name of role
// as the kubelet does: literal values, secretKeyRef from the rendered Secrets,
// fieldRef metadata.name from the pod's name.
func (r rendered) containerEnv(t *testing.T, role, name string) []string {
	t.Helper()
	spec, ok := r.pods[role]
	if !ok || len(spec.Containers) != 1 {
		t.Fatalf("no pod template of role %q rendered", role)
	}
	var env []string
	for _, e := range spec.Containers[0].Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := r.secrets[ref.Name][ref.Key]
			if !ok {
				t.Fatalf("env %s: no key %s in the rendered Secret %s", e.Name, ref.Key, ref.Name)
			}
			env = append(env, e.Name+"="+v)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env = append(env, e.Name+"="+name)
		default:
			t.Fatalf("env %s: a source the test cannot resolve", e.Name)
		}
	}
	return env
}
