package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/kube"
	"github.com/dbctl-io/dbctl/test/testenv"
)

// The manifests that run dbctl in the cluster (config/controller, applied with
// kubectl apply -k, and the Indexed Job of config/jobs): decoded strictly, checked
// for what the README promises, and accepted by a real API server (a server-side
// dry-run apply of every object, and a dry-run create of each pod template in the
// namespace, which enforces the "restricted" Pod Security Standard).

const systemNamespace = "dbctl-system"

// decodeManifests splits a multi-document YAML stream and decodes each document
// strictly (unknown or duplicate fields are errors) into its typed object.
func decodeManifests(t *testing.T, name string, data []byte) []runtime.Object {
	t.Helper()
	codecs := serializer.NewCodecFactory(kube.NewScheme(), serializer.EnableStrict)
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: document %d: %v", name, len(out)+1, err)
		}
		out = append(out, obj)
	}
	return out
}

// stripComments drops the comment lines of a YAML document.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.Bytes()
}

// kustomize renders a kustomization directory of the repository with kubectl.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(bin, "kubectl"), "kustomize", filepath.Join(root, dir))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return out
}

// ensureSystemNamespace creates dbctl-system (for real: the dry runs of its objects
// need it) in the package's API server, if it is not there yet.
func ensureSystemNamespace(t *testing.T) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// dryRunApply server-side applies every object with dryRun=All: the API server
// validates and admits each, and persists nothing.
func dryRunApply(t *testing.T, objs []runtime.Object) {
	t.Helper()
	ctx := context.Background()
	for _, obj := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
		if err := env.Client.Patch(ctx, u, client.Apply, client.DryRunAll, client.FieldOwner("dbctl-manifests-test"), client.ForceOwnership); err != nil {
			t.Errorf("server-side dry-run apply of %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
}

// dryRunPod dry-run creates a pod of template in dbctl-system: the namespace
// enforces the restricted Pod Security Standard on pods (not on their Deployments
// or Jobs).
func dryRunPod(t *testing.T, what string, template corev1.PodTemplateSpec) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: template.ObjectMeta, Spec: template.Spec}
	pod.Namespace, pod.GenerateName = systemNamespace, "manifests-test-"
	pod.Spec.ServiceAccountName = "" // the ServiceAccount exists only in the dry run
	if pod.Spec.RestartPolicy == "" {
		pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if err := env.Client.Create(context.Background(), pod, client.DryRunAll); err != nil {
		t.Errorf("a pod of %s is refused in %s (restricted): %v", what, systemNamespace, err)
	}
}

// checkRestricted checks the security settings the README promises for a dbctl
// container and its pod.
func checkRestricted(t *testing.T, what string, spec corev1.PodSpec) {
	t.Helper()
	psc, c := spec.SecurityContext, spec.Containers[0]
	sc := c.SecurityContext
	switch {
	case psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532:
		t.Errorf("%s: the pod must run as non-root 65532: %+v", what, psc)
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("%s: seccomp must be RuntimeDefault", what)
	case sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("%s: the root filesystem must be read-only", what)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s: privilege escalation must be off", what)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Errorf("%s: capabilities must drop ALL", what)
	case c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().Cmp(resource.MustParse("64Mi")) < 0:
		t.Errorf("%s: resources %+v", what, c.Resources)
	}
}

func TestControllerManifests(t *testing.T) {
	t.Parallel()
	objs := decodeManifests(t, "kubectl kustomize config/controller", kustomize(t, "config/controller"))
	byKind := map[string][]runtime.Object{}
	for _, o := range objs {
		kind := o.GetObjectKind().GroupVersionKind().Kind
		byKind[kind] = append(byKind[kind], o)
	}
	for kind, n := range map[string]int{"Namespace": 1, "ServiceAccount": 1, "Deployment": 1, "PodDisruptionBudget": 1,
		"Role": 1, "RoleBinding": 2, "ClusterRoleBinding": 1, "ClusterRole": 5} {
		if len(byKind[kind]) != n {
			t.Errorf("%d %s(s), want %d", len(byKind[kind]), kind, n)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	checkDeployment(t, byKind["Deployment"][0].(*appsv1.Deployment))
	if pdb := byKind["PodDisruptionBudget"][0].(*policyv1.PodDisruptionBudget); pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 ||
		pdb.Spec.Selector.MatchLabels["app.kubernetes.io/component"] != "controller" {
		t.Errorf("PodDisruptionBudget %+v", pdb.Spec)
	}
	var controllerRole *rbacv1.ClusterRole
	for _, o := range byKind["ClusterRole"] {
		if r := o.(*rbacv1.ClusterRole); r.Name == "dbctl-controller" {
			controllerRole = r
		}
	}
	if controllerRole == nil {
		t.Fatal("no ClusterRole dbctl-controller")
	}
	checkControllerRole(t, controllerRole)
	checkControllerBindings(t, byKind)

	ensureSystemNamespace(t)
	dryRunApply(t, objs)
	dryRunPod(t, "Deployment dbctl-controller", byKind["Deployment"][0].(*appsv1.Deployment).Spec.Template)
}

// checkDeployment: two replicas running `dbctl controller` with the documented
// flags, probes on 8081, anti-affinity between the replicas, restricted security.
func checkDeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	if d.Namespace != systemNamespace || d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("Deployment %s/%s with %v replicas, want dbctl-system and 2", d.Namespace, d.Name, d.Spec.Replicas)
	}
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	want := "controller --leader-elect --leader-election-namespace dbctl-system --metrics-bind-address :8080 " +
		"--health-probe-bind-address :8081 --breaker-state cluster:dbctl-system/dbctl-breakers"
	if got := strings.Join(c.Args, " "); got != want {
		t.Errorf("args %q, want %q", got, want)
	}
	if !strings.HasPrefix(c.Image, "ghcr.io/dbctl-io/dbctl:") {
		t.Errorf("image %q", c.Image)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "health" {
		t.Errorf("liveness probe %+v", p)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "health" {
		t.Errorf("readiness probe %+v", p)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["health"] != 8081 || ports["metrics"] != 8080 {
		t.Errorf("ports %v", ports)
	}
	if spec.ServiceAccountName != "dbctl-controller" {
		t.Errorf("service account %q", spec.ServiceAccountName)
	}
	aa := spec.Affinity
	if aa == nil || aa.PodAntiAffinity == nil || len(aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("no pod anti-affinity: %+v", aa)
	}
	term := aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil || term.TopologyKey != "kubernetes.io/hostname" || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the anti-affinity does not keep the replicas apart: %+v", term)
	}
	checkRestricted(t, "Deployment "+d.Name, spec)
}

// checkControllerRole: everything role.yaml grants, and watch and list on every kind
// of child (the table of phases), mapped to resources by the API server.
func checkControllerRole(t *testing.T, role *rbacv1.ClusterRole) {
	t.Helper()
	granted := map[rbacPermission]bool{}
	for _, p := range rbacPermissions(t, role) {
		granted[p] = true
	}
	for _, p := range rbacPermissions(t, rbacRole(t, "role.yaml")) {
		if !granted[p] {
			t.Errorf("dbctl-controller does not grant %s, which role.yaml does", p)
		}
	}
	db := &v1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "y"}}
	db.Spec.Replicas = new(int32(3))
	seen := map[string]bool{}
	for _, ch := range phases.Children(db) {
		gvk := ch.GroupVersionKind()
		m, err := env.Client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("mapping %s: %v", gvk, err)
		}
		res := rbacResource(m.Resource.Group, m.Resource.Resource)
		if seen[res] {
			continue
		}
		seen[res] = true
		for _, verb := range []string{"watch", "list"} {
			if !granted[rbacPermission{verb, res}] {
				t.Errorf("dbctl-controller does not grant %s on %s, a kind of child it owns", verb, res)
			}
		}
	}
	for _, p := range []rbacPermission{{"create", "events"}, {"patch", "events"}} {
		if !granted[p] {
			t.Errorf("dbctl-controller does not grant %s", p)
		}
	}
	for p := range granted {
		if p.verb == "delete" && p.resource != "services" && p.resource != "poddisruptionbudgets.policy" && p.resource != "statefulsets.apps" && p.resource != "cronjobs.batch" {
			t.Errorf("dbctl-controller grants %s: dbctl deletes only the read-only Service, the PodDisruptionBudget, the backup CronJob and (to grow volumes) StatefulSets", p)
		}
	}
}

// checkControllerBindings: the ServiceAccount is bound to the controller's role
// cluster-wide, and to the Lease and breaker state roles in dbctl-system only.
func checkControllerBindings(t *testing.T, byKind map[string][]runtime.Object) {
	t.Helper()
	sa := rbacv1.Subject{Kind: "ServiceAccount", Name: "dbctl-controller", Namespace: systemNamespace}
	crb := byKind["ClusterRoleBinding"][0].(*rbacv1.ClusterRoleBinding)
	if crb.RoleRef.Name != "dbctl-controller" || !slices.Contains(crb.Subjects, sa) {
		t.Errorf("ClusterRoleBinding %+v", crb)
	}
	refs := map[string]bool{}
	for _, o := range byKind["RoleBinding"] {
		rb := o.(*rbacv1.RoleBinding)
		if rb.Namespace != systemNamespace || !slices.Contains(rb.Subjects, sa) {
			t.Errorf("RoleBinding %s/%s: %+v", rb.Namespace, rb.Name, rb.Subjects)
		}
		refs[rb.RoleRef.Kind+"/"+rb.RoleRef.Name] = true
	}
	if !refs["Role/dbctl-controller-leader-election"] || !refs["ClusterRole/dbctl-breaker-state"] {
		t.Errorf("RoleBindings to %v", refs)
	}
	role := byKind["Role"][0].(*rbacv1.Role)
	if role.Namespace != systemNamespace || len(role.Rules) != 1 || !slices.Equal(role.Rules[0].Resources, []string{"leases"}) ||
		!slices.Equal(role.Rules[0].Verbs, []string{"get", "create", "update"}) {
		t.Errorf("leader election Role %+v", role)
	}
}

// TestReconcileShardsJob: config/jobs/reconcile-shards.yaml is an Indexed Job of 3
// whose pods pass their index as --shard INDEX/3 and share the cluster breaker
// state, run as a ServiceAccount bound to the dbctl ClusterRole; the API server
// accepts every object and the pod (restricted).
func TestReconcileShardsJob(t *testing.T) {
	t.Parallel()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "config", "jobs", "reconcile-shards.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeManifests(t, "config/jobs/reconcile-shards.yaml", data)
	var job *batchv1.Job
	roles := map[string]bool{}
	for _, o := range objs {
		switch o := o.(type) {
		case *batchv1.Job:
			job = o
		case *rbacv1.ClusterRoleBinding:
			roles[o.RoleRef.Name] = slices.Contains(o.Subjects, rbacv1.Subject{Kind: "ServiceAccount", Name: "dbctl-reconcile", Namespace: systemNamespace})
		case *rbacv1.RoleBinding:
			roles[o.RoleRef.Name] = o.Namespace == systemNamespace && slices.Contains(o.Subjects, rbacv1.Subject{Kind: "ServiceAccount", Name: "dbctl-reconcile", Namespace: systemNamespace})
		}
	}
	if job == nil {
		t.Fatal("no Job")
	}
	if !roles["dbctl"] || !roles["dbctl-breaker-state"] {
		t.Errorf("the ServiceAccount must be bound to dbctl (cluster-wide) and dbctl-breaker-state (dbctl-system): %v", roles)
	}
	s := job.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion || s.Completions == nil || *s.Completions != 3 ||
		s.Parallelism == nil || *s.Parallelism != 3 {
		t.Errorf("not an Indexed Job of 3 at once: %+v", s)
	}
	c := s.Template.Spec.Containers[0]
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"reconcile --all-namespaces ", " --shard $(JOB_COMPLETION_INDEX)/3 ", " --breaker-state cluster:dbctl-system/dbctl-breakers "} {
		if !strings.Contains(args+" ", want) {
			t.Errorf("args %q do not hold %q", args, want)
		}
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "JOB_COMPLETION_INDEX" }) {
		t.Error("JOB_COMPLETION_INDEX is not in the container's env, so $(JOB_COMPLETION_INDEX) would not be expanded")
	}
	if s.Template.Spec.ServiceAccountName != "dbctl-reconcile" || c.Image != "ghcr.io/dbctl-io/dbctl:v0.1.0" {
		t.Errorf("service account %q, image %q", s.Template.Spec.ServiceAccountName, c.Image)
	}
	checkRestricted(t, "Job "+job.Name, s.Template.Spec)

	ensureSystemNamespace(t)
	dryRunApply(t, objs)
	dryRunPod(t, "Job "+job.Name, s.Template)
}
