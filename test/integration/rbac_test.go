package integration

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/cmd/root"
	"github.com/dbctl-io/dbctl/test/testdb"
	"github.com/dbctl-io/dbctl/test/testenv"
)

// The RBAC tests run dbctl as users bound to the ClusterRoles of config/rbac (read
// from the files, not copied), to prove that each role is enough for what dbctl does,
// and that each of its verbs is needed: with the verb removed, dbctl fails with
// "forbidden: dbctl needs <verb> on <resource>", exit 1. Every output, and every
// breaker state file, is scanned for the password and the dependency's credentials.

// rbacRole reads a ClusterRole from config/rbac.
func rbacRole(t *testing.T, file string) *rbacv1.ClusterRole {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		t.Fatalf("config/rbac/%s: %v", file, err)
	}
	if role.Kind != "ClusterRole" || role.APIVersion != "rbac.authorization.k8s.io/v1" {
		t.Fatalf("config/rbac/%s is a %s %s, not a ClusterRole", file, role.APIVersion, role.Kind)
	}
	return role
}

// rbacPermission is one verb on one resource of a role.
type rbacPermission struct{ verb, resource string }

func (p rbacPermission) String() string { return p.verb + " " + p.resource }

// rbacRemoveCRD deletes the Database CRD from e, if there, and waits until it is gone.
func rbacRemoveCRD(t *testing.T, e *testenv.Env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: crdName}}
	if err := e.Client.Delete(ctx, crd); apierrors.IsNotFound(err) {
		return
	} else if err != nil {
		t.Fatal(err)
	}
	for {
		err := e.Client.Get(ctx, client.ObjectKey{Name: crdName}, crd)
		switch {
		case apierrors.IsNotFound(err):
			return
		case err != nil:
			t.Fatalf("waiting for CustomResourceDefinition %s to be deleted: %v", crdName, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("CustomResourceDefinition %s still there: %v", crdName, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// rbacResource names a rule's resource as dbctl's errors do: resource.group
// ("databases.dbctl.io", "secrets").
func rbacResource(group, resource string) string {
	if group == "" {
		return resource
	}
	if r, sub, ok := strings.Cut(resource, "/"); ok {
		return r + "." + group + "/" + sub
	}
	return resource + "." + group
}

// rbacPermissions lists every verb of every rule of role.
func rbacPermissions(t *testing.T, role *rbacv1.ClusterRole) []rbacPermission {
	t.Helper()
	var out []rbacPermission
	for _, r := range role.Rules {
		if len(r.APIGroups) != 1 || len(r.Resources) != 1 || len(r.NonResourceURLs) > 0 {
			t.Fatalf("rule %+v: one API group and one resource per rule, so that each verb is proven on its own", r)
		}
		for _, v := range r.Verbs {
			if v == "*" {
				t.Fatalf("rule %+v: a wildcard is not minimal", r)
			}
			out = append(out, rbacPermission{v, rbacResource(r.APIGroups[0], r.Resources[0])})
		}
	}
	return out
}

// rbacWithout is role without one permission (and without rules left empty).
func rbacWithout(role *rbacv1.ClusterRole, p rbacPermission) *rbacv1.ClusterRole {
	out := role.DeepCopy()
	out.Rules = nil
	for _, r := range role.Rules {
		r = *r.DeepCopy()
		if rbacResource(r.APIGroups[0], r.Resources[0]) == p.resource {
			r.Verbs = slices.DeleteFunc(r.Verbs, func(v string) bool { return v == p.verb })
		}
		if len(r.Verbs) > 0 {
			out.Rules = append(out.Rules, r)
		}
	}
	return out
}

// rbacUser is an identity of the test's own with role bound to it: in namespace ns
// (a RoleBinding), or cluster-wide when ns is "" (a ClusterRoleBinding). A nil role
// binds nothing. It returns the path of the user's kubeconfig once the API server's
// authorizer knows the binding.
func rbacUser(t *testing.T, e *testenv.Env, name, ns string, roles ...*rbacv1.ClusterRole) string {
	t.Helper()
	ctx := context.Background()
	for i, role := range roles {
		cr := role.DeepCopy()
		cr.ResourceVersion = ""
		cr.Name = fmt.Sprintf("%s-%s-%d", role.Name, name, i)
		if err := e.Client.Create(ctx, cr); err != nil {
			t.Fatalf("creating ClusterRole %s: %v", cr.Name, err)
		}
		subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}}
		ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name}
		var binding client.Object = &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: cr.Name, Namespace: ns}, RoleRef: ref, Subjects: subjects}
		if ns == "" {
			binding = &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: cr.Name}, RoleRef: ref, Subjects: subjects}
		}
		if err := e.Client.Create(ctx, binding); err != nil {
			t.Fatalf("binding ClusterRole %s: %v", cr.Name, err)
		}
		rbacWaitAuthorized(t, e, name, ns, cr)
	}
	return e.KubeconfigFor(t, name)
}

// rbacWaitAuthorized waits until the authorizer allows user the first verb of role
// (its cache follows the bindings a moment later).
func rbacWaitAuthorized(t *testing.T, e *testenv.Env, user, ns string, role *rbacv1.ClusterRole) {
	t.Helper()
	if len(role.Rules) == 0 {
		return
	}
	r := role.Rules[0]
	attrs := &authorizationv1.ResourceAttributes{Namespace: ns, Verb: r.Verbs[0], Group: r.APIGroups[0], Resource: r.Resources[0]}
	if res, sub, ok := strings.Cut(r.Resources[0], "/"); ok {
		attrs.Resource, attrs.Subresource = res, sub
	}
	if len(r.ResourceNames) > 0 {
		attrs.Name = r.ResourceNames[0]
	}
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: attrs}}
		if err := e.Client.Create(ctx, sar); err != nil {
			return false, err
		}
		return sar.Status.Allowed, nil
	})
	if err != nil {
		t.Fatalf("waiting until %s may %s %s: %v", user, attrs.Verb, attrs.Resource, err)
	}
}

// rbacRun is one dbctl run as some identity and what it printed.
type rbacRun struct {
	args           []string
	stdout, stderr string
	code           int
	breakerState   string
}

// rbacTranscript runs dbctl in-process as the identity of a kubeconfig file, the way
// the binary builds its clients (from --kubeconfig), and keeps every run for the
// secret scan.
type rbacTranscript struct {
	t    *testing.T
	dir  string
	mu   sync.Mutex
	runs []*rbacRun
}

func newRBACTranscript(t *testing.T) *rbacTranscript {
	return &rbacTranscript{t: t, dir: t.TempDir()}
}

// run runs `dbctl --kubeconfig kubeconfig args...` with a breaker state file of its
// own, and checks the exit code.
func (tr *rbacTranscript) run(wantCode int, kubeconfig string, args ...string) *rbacRun {
	tr.t.Helper()
	tr.mu.Lock()
	r := &rbacRun{args: args, breakerState: filepath.Join(tr.dir, fmt.Sprintf("breakers-%d.json", len(tr.runs)))}
	tr.runs = append(tr.runs, r)
	tr.mu.Unlock()

	var out, errOut bytes.Buffer
	f := cmdutil.New()
	f.IOStreams = cmdutil.Test(strings.NewReader(""), &out, &errOut)
	cmd := root.NewCmdRoot(f)
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig, "--breaker-state", r.breakerState}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	r.code = int(root.HandleError(f.IOStreams, cmd, err))
	r.stdout, r.stderr = out.String(), errOut.String()
	if r.code != wantCode {
		tr.t.Fatalf("dbctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, wantCode, r.stdout, r.stderr)
	}
	return r
}

// scan checks every output and breaker state file for the secrets.
func (tr *rbacTranscript) scan(secrets ...string) {
	tr.t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, r := range tr.runs {
		assertNoSecret(tr.t, r.stdout+r.stderr, secrets...)
		assertNoSecretInFile(tr.t, r.breakerState, secrets...)
	}
}

// rbacErrorLine is the only line of stderr that says "Error:" (reconcile prints its
// progress on stderr too).
func rbacErrorLine(t *testing.T, r *rbacRun) string {
	t.Helper()
	var found []string
	for _, l := range strings.Split(strings.TrimRight(r.stderr, "\n"), "\n") {
		if strings.HasPrefix(l, "Error: ") {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("dbctl %s: %d error lines, want 1; stderr:\n%s", strings.Join(r.args, " "), len(found), r.stderr)
	}
	return found[0]
}

// rbacWantForbidden checks that r failed because it lacks p, saying so.
func rbacWantForbidden(t *testing.T, r *rbacRun, p rbacPermission) {
	t.Helper()
	line := rbacErrorLine(t, r)
	res, sub, _ := strings.Cut(p.resource, "/")
	want := "forbidden: dbctl needs " + p.verb + " on " + p.resource + " (see config/rbac)"
	if !strings.Contains(line, want) {
		t.Errorf("dbctl %s: the error does not say %q:\n%s", strings.Join(r.args, " "), want, line)
	}
	if sub != "" && !strings.Contains(line, fmt.Sprintf("cannot %s resource %q", p.verb, strings.SplitN(res, ".", 2)[0]+"/"+sub)) {
		t.Errorf("dbctl %s: the error does not name the subresource %s:\n%s", strings.Join(r.args, " "), sub, line)
	}
}

// rbacDatabase writes a Database file (namespace from -n) and returns its path.
func rbacDatabase(t *testing.T, dir, name string, replicas int, extra string) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("%s-%d.yaml", name, replicas))
	doc := testdb.Postgres("", name, replicas, extra)
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// rbacGrowable writes a one-replica Database name on StorageClass class of size.
func rbacGrowable(t *testing.T, dir, name, class, size string) string {
	t.Helper()
	doc := strings.Replace(testdb.Postgres("", name, 1, "    storageClassName: "+class+"\n"), "storage: {size: 1Gi}", "storage:\n    size: "+size, 1)
	p := filepath.Join(dir, name+"-"+size+".yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// rbacPassword reads the generated password as the admin.
func rbacPassword(t *testing.T, ns, name string) string {
	t.Helper()
	sec := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name + "-credentials"}, sec); err != nil {
		t.Fatal(err)
	}
	pw := string(sec.Data["password"])
	if len(pw) < 32 {
		t.Fatalf("password of %d bytes", len(pw))
	}
	return pw
}

// rbacDependency is an HTTP dependency that requires basic auth, so that the
// Database's dependency URL carries a secret of its own; it fails (503) until
// healthy is set.
func rbacDependency(t *testing.T) (url, secret string, healthy *atomic.Bool) {
	secret = "dep-" + strings.Repeat("Zq7", 8)
	healthy = &atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "dbctl" || p != secret {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if !healthy.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return strings.Replace(srv.URL, "http://", "http://dbctl:"+secret+"@", 1) + "/healthz", secret, healthy
}

// rbacInventory is the resourceVersion of every object dbctl could touch in ns.
func rbacInventory(t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "dbctl.io", Version: "v1alpha1", Kind: "DatabaseList"}, {Version: "v1", Kind: "SecretList"},
		{Version: "v1", Kind: "ServiceList"}, {Version: "v1", Kind: "ConfigMapList"},
		{Version: "v1", Kind: "PersistentVolumeClaimList"}, {Group: "apps", Version: "v1", Kind: "StatefulSetList"},
		{Group: "policy", Version: "v1", Kind: "PodDisruptionBudgetList"},
	} {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk)
		if err := env.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			out[o.GetKind()+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	return out
}

// TestRBACRoleIsEnough runs plan, reconcile (from a file, by name, --all) and status
// (by name, --all, --watch) as a user bound to exactly config/rbac/role.yaml in one
// namespace, through a first reconcile that stops waiting for the rollout, a second
// that completes it, and one that prunes the PodDisruptionBudget.
func TestRBACRoleIsEnough(t *testing.T) {
	t.Parallel()
	role := rbacRole(t, "role.yaml")
	ns := env.Namespace(t)
	kc := rbacUser(t, env, "rbac-enough-"+ns, ns, role)
	tr := newRBACTranscript(t)
	depURL, depSecret, healthy := rbacDependency(t)
	deps := fmt.Sprintf("  dependencies:\n  - {name: backup, url: %q}\n", depURL)
	file := rbacDatabase(t, tr.dir, "orders", 3, deps)

	tr.run(0, kc, "plan", "-n", ns, "-f", file)
	if inv := rbacInventory(t, ns); len(inv) != 0 {
		t.Fatalf("plan created objects: %v", inv)
	}
	// The dependency is down: reconcile applies the Database and stops in Pending
	// (exit 3), its breaker state file recording the failure.
	down := tr.run(3, kc, "reconcile", "-n", ns, "-f", file, "--timeout", "3s")
	if state := string(rbacReadFile(t, down.breakerState)); !strings.Contains(state, "backup") {
		t.Errorf("the breaker state file does not record the dependency:\n%s", state)
	}
	healthy.Store(true)
	// No rollout yet: reconcile writes everything, then waits (watching the
	// StatefulSet) until --timeout: exit 3.
	tr.run(3, kc, "reconcile", "-n", ns, "-f", file, "--timeout", "3s")
	tr.run(3, kc, "status", "orders", "-n", ns, "--watch", "--timeout", "1s")
	tr.run(3, kc, "status", "--all", "-n", ns, "-o", "json")

	env.SimulateRollouts(t, ns)
	tr.run(0, kc, "reconcile", "orders", "-n", ns, "--timeout", "1m")
	tr.run(0, kc, "plan", "-n", ns, "-f", file, "--detailed-exitcode")
	tr.run(0, kc, "status", "orders", "-n", ns, "-o", "yaml")
	tr.run(0, kc, "reconcile", "--all", "-n", ns, "--timeout", "1m")

	// Replicas 3 → 1: the read-only Service and the PodDisruptionBudget are deleted.
	tr.run(0, kc, "reconcile", "-n", ns, "-f", rbacDatabase(t, tr.dir, "orders", 1, deps), "--timeout", "1m")
	pdb := &policyv1.PodDisruptionBudget{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "orders"}, pdb); !apierrors.IsNotFound(err) {
		t.Errorf("the PodDisruptionBudget was not pruned: %v", err)
	}
	tr.run(0, kc, "status", "orders", "-n", ns)

	// A volume growth: the PVCs expanded, the StatefulSet recreated.
	class := storageClass(t, "growable-"+ns, true)
	tr.run(0, kc, "reconcile", "-n", ns, "-f", rbacGrowable(t, tr.dir, "growing", class, "1Gi"), "--timeout", "1m")
	boundPVC(t, ns, "data-growing-0", class, "1Gi")
	simulateResizer(t, ns)
	tr.run(0, kc, "reconcile", "-n", ns, "-f", rbacGrowable(t, tr.dir, "growing", class, "2Gi"), "--timeout", "1m")

	tr.scan(rbacPassword(t, ns, "orders"), depSecret)
}

// TestRBACWithoutBinding runs reconcile, plan and status as a user with no binding,
// on a Ready Database: each fails with one line naming what it needs, exit 1, and
// changes nothing.
func TestRBACWithoutBinding(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	tr := newRBACTranscript(t)
	env.SimulateRollouts(t, ns)
	tr.run(0, env.Kubeconfig, "reconcile", "-n", ns, "-f", rbacDatabase(t, tr.dir, "orders", 3, ""), "--timeout", "1m")
	before := rbacInventory(t, ns)

	kc := rbacUser(t, env, "rbac-nobody-"+ns, ns)
	changed := rbacDatabase(t, tr.dir, "orders", 2, "")
	for _, tc := range []struct {
		args []string
		want rbacPermission
	}{
		{[]string{"reconcile", "-n", ns, "-f", changed}, rbacPermission{"patch", "databases.dbctl.io"}},
		{[]string{"reconcile", "orders", "-n", ns}, rbacPermission{"get", "databases.dbctl.io"}},
		{[]string{"plan", "-n", ns, "-f", changed}, rbacPermission{"get", "databases.dbctl.io"}},
		{[]string{"plan", "orders", "-n", ns}, rbacPermission{"get", "databases.dbctl.io"}},
		{[]string{"status", "orders", "-n", ns}, rbacPermission{"get", "databases.dbctl.io"}},
		{[]string{"status", "--all", "-n", ns}, rbacPermission{"list", "databases.dbctl.io"}},
	} {
		r := tr.run(1, kc, tc.args...)
		rbacWantForbidden(t, r, tc.want)
		if lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n"); len(lines) != 1 {
			t.Errorf("dbctl %s: %d lines on stderr, want 1:\n%s", strings.Join(tc.args, " "), len(lines), r.stderr)
		}
	}
	if after := rbacInventory(t, ns); !equality.Semantic.DeepEqual(before, after) {
		t.Errorf("objects changed:\nbefore %v\nafter  %v", before, after)
	}
	tr.scan(rbacPassword(t, ns, "orders"))
}

func rbacReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rbacScenario sets up a namespace for a user and runs the dbctl command that needs
// one permission, returning the run (exit 1 expected).
type rbacScenario func(t *testing.T, tr *rbacTranscript, ns, kubeconfig string) *rbacRun

// rbacBackup is a spec.backup block for rbacDatabase.
const rbacBackup = "  backup: {schedule: '0 3 * * *', storage: {size: 1Gi}}\n"

// cronJobSucceeded writes in CronJob ns/name's status that a Job succeeded now (as
// the CronJob controller, which envtest does not run, would).
func cronJobSucceeded(t *testing.T, ns, name string) {
	t.Helper()
	cj := &batchv1.CronJob{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cj); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	cj.Status.LastScheduleTime, cj.Status.LastSuccessfulTime = &now, &now
	if err := env.Client.Status().Update(context.Background(), cj); err != nil {
		t.Fatal(err)
	}
}

// rbacProofs maps each permission of role.yaml to the scenario that needs it. A verb
// added to role.yaml without a proof here fails TestRBACEachVerbIsNeeded.
func rbacProofs() map[string]rbacScenario {
	// reconcile from a file on a new Database, the rollout simulated: every write of
	// every phase is needed to get to Ready.
	reconcileNew := func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
		env.SimulateRollouts(t, ns)
		return tr.run(1, kc, "reconcile", "-n", ns, "-f", rbacDatabase(t, tr.dir, "orders", 3, ""), "--timeout", "1m")
	}
	// An existing Database, created by the admin, not Ready.
	existing := func(t *testing.T, ns string) {
		db := &v1alpha1.Database{
			ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns},
			Spec: v1alpha1.DatabaseSpec{Engine: v1alpha1.EnginePostgres, Version: "16",
				Storage: v1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}},
		}
		if err := env.Client.Create(context.Background(), db); err != nil {
			t.Fatal(err)
		}
	}
	// A Ready Database with 3 replicas (the admin's), scaled to 1 by the user: the
	// read-only Service and the PodDisruptionBudget are deleted.
	scaledDown := func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
		env.SimulateRollouts(t, ns)
		tr.run(0, env.Kubeconfig, "reconcile", "-n", ns, "-f", rbacDatabase(t, tr.dir, "orders", 3, ""), "--timeout", "1m")
		return tr.run(1, kc, "reconcile", "-n", ns, "-f", rbacDatabase(t, tr.dir, "orders", 1, ""), "--timeout", "1m")
	}
	// A Ready Database on a growable StorageClass (the admin's), grown by the user:
	// the PVC is expanded, the StatefulSet deleted with its pods left (both checked
	// by dry runs before anything is written).
	grown := func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
		env.SimulateRollouts(t, ns)
		class := storageClass(t, "growable-"+ns, true)
		tr.run(0, env.Kubeconfig, "reconcile", "-n", ns, "-f", rbacGrowable(t, tr.dir, "orders", class, "1Gi"), "--timeout", "1m")
		boundPVC(t, ns, "data-orders-0", class, "1Gi")
		return tr.run(1, kc, "reconcile", "-n", ns, "-f", rbacGrowable(t, tr.dir, "orders", class, "2Gi"), "--timeout", "1m")
	}
	// The admin's Database with spec.backup, Ready; then the user's command.
	backups := func(t *testing.T, tr *rbacTranscript, ns string) string {
		env.SimulateRollouts(t, ns)
		file := rbacDatabase(t, tr.dir, "orders", 1, rbacBackup)
		tr.run(0, env.Kubeconfig, "reconcile", "-n", ns, "-f", file, "--timeout", "1m")
		return file
	}
	backedUp := func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
		env.SimulateRollouts(t, ns)
		return tr.run(1, kc, "reconcile", "-n", ns, "-f", rbacDatabase(t, tr.dir, "orders", 1, rbacBackup), "--timeout", "1m")
	}
	return map[string]rbacScenario{
		"get persistentvolumeclaims":    reconcileNew,
		"create persistentvolumeclaims": backedUp,
		"get cronjobs.batch":            reconcileNew,
		"create cronjobs.batch":         backedUp,
		"patch cronjobs.batch":          backedUp,
		"delete cronjobs.batch": func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
			backups(t, tr, ns)
			return tr.run(1, kc, "reconcile", "-n", ns, "-f", rbacDatabase(t, tr.dir, "orders", 1, ""), "--timeout", "1m")
		},
		"create jobs.batch": func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
			backups(t, tr, ns)
			return tr.run(1, kc, "backup", "orders", "-n", ns, "--timeout", "20s")
		},
		"watch jobs.batch": func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
			backups(t, tr, ns)
			return tr.run(1, kc, "backup", "orders", "-n", ns, "--timeout", "20s")
		},
		"list jobs.batch": func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
			// The CronJob reports a successful backup: reconcile reads its record.
			file := backups(t, tr, ns)
			cronJobSucceeded(t, ns, "orders-backup")
			return tr.run(1, kc, "reconcile", "-n", ns, "-f", file, "--timeout", "1m")
		},
		"patch databases.dbctl.io":  reconcileNew,
		"create databases.dbctl.io": reconcileNew,
		"get databases.dbctl.io": func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
			existing(t, ns)
			return tr.run(1, kc, "status", "orders", "-n", ns)
		},
		"list databases.dbctl.io": func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
			existing(t, ns)
			return tr.run(1, kc, "reconcile", "--all", "-n", ns)
		},
		"watch databases.dbctl.io": func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
			existing(t, ns)
			return tr.run(1, kc, "status", "orders", "-n", ns, "--watch", "--timeout", "1m")
		},
		"update databases.dbctl.io/status": reconcileNew,
		"get secrets":                      reconcileNew,
		"create secrets":                   reconcileNew,
		"patch secrets":                    reconcileNew,
		"get services":                     reconcileNew,
		"patch services":                   reconcileNew,
		"create services":                  reconcileNew,
		"get configmaps":                   reconcileNew,
		"patch configmaps":                 reconcileNew,
		"create configmaps":                reconcileNew,
		"list persistentvolumeclaims":      reconcileNew,
		"list pods": func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
			existing(t, ns)
			return tr.run(1, kc, "status", "orders", "-n", ns)
		},
		"get statefulsets.apps":    reconcileNew,
		"patch statefulsets.apps":  reconcileNew,
		"create statefulsets.apps": reconcileNew,
		"watch statefulsets.apps": func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
			// No rollout: reconcile must watch the StatefulSet.
			return tr.run(1, kc, "reconcile", "-n", ns, "-f", rbacDatabase(t, tr.dir, "orders", 1, ""), "--timeout", "1m")
		},
		"list statefulsets.apps": func(t *testing.T, tr *rbacTranscript, _, _ string) *rbacRun {
			// Only where a watch cannot stream its initial state: there the rollout
			// wait lists the StatefulSets first.
			e := testenv.Start(t, testenv.WithoutStreamingLists())
			ns := e.Namespace(t)
			without := rbacWithout(rbacRole(t, "role.yaml"), rbacPermission{"list", "statefulsets.apps"})
			kc := rbacUser(t, e, "rbac-without-list-statefulsets", ns, without)
			return tr.run(1, kc, "reconcile", "-n", ns, "-f", rbacDatabase(t, tr.dir, "orders", 1, ""), "--timeout", "1m")
		},
		"get poddisruptionbudgets.policy":    reconcileNew,
		"patch poddisruptionbudgets.policy":  reconcileNew,
		"create poddisruptionbudgets.policy": reconcileNew,
		"delete poddisruptionbudgets.policy": scaledDown,
		"delete services":                    scaledDown,
		"patch persistentvolumeclaims":       grown,
		"delete statefulsets.apps":           grown,
		"patch statefulsets.apps/status": func(t *testing.T, tr *rbacTranscript, ns, kc string) *rbacRun {
			// A StatefulSet with the status of the one it replaced (volume growth).
			stop := env.SimulateRollouts(t, ns)
			file := rbacDatabase(t, tr.dir, "orders", 1, "")
			tr.run(0, env.Kubeconfig, "reconcile", "-n", ns, "-f", file, "--timeout", "1m")
			stop()
			env.SetLeftoverStatus(t, ns, "orders")
			return tr.run(1, kc, "reconcile", "-n", ns, "-f", file, "--timeout", "1m")
		},
	}
}

// TestRBACEachVerbIsNeeded removes one verb of role.yaml at a time and runs what
// needs it: dbctl fails with exit 1 and an error naming that verb and resource.
func TestRBACEachVerbIsNeeded(t *testing.T) {
	t.Parallel()
	role := rbacRole(t, "role.yaml")
	proofs := rbacProofs()
	perms := rbacPermissions(t, role)
	var names []string
	for _, p := range perms {
		names = append(names, p.String())
		if proofs[p.String()] == nil {
			t.Errorf("role.yaml grants %s, but no scenario proves it is needed: add one to rbacProofs", p)
		}
	}
	for name := range proofs {
		if !slices.Contains(names, name) {
			t.Errorf("rbacProofs proves %s, which role.yaml does not grant", name)
		}
	}
	for _, p := range perms {
		scenario := proofs[p.String()]
		if scenario == nil {
			continue
		}
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel()
			ns := env.Namespace(t)
			tr := newRBACTranscript(t)
			kc := rbacUser(t, env, "rbac-without-"+ns, ns, rbacWithout(role, p))
			r := scenario(t, tr, ns, kc)
			rbacWantForbidden(t, r, p)
			var secrets []string
			sec := &corev1.Secret{}
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "orders-credentials"}, sec); err == nil {
				secrets = append(secrets, string(sec.Data["password"]))
			}
			tr.scan(secrets...)
		})
	}
}

// TestRBACCreateNamespace runs reconcile --create-namespace as a user bound
// cluster-wide to role.yaml and namespace-role.yaml (a new namespace has no
// RoleBinding yet): it creates the namespace; without either verb of
// namespace-role.yaml it fails naming it, and creates nothing.
func TestRBACCreateNamespace(t *testing.T) {
	t.Parallel()
	role := rbacRole(t, "role.yaml")
	nsRole := rbacRole(t, "namespace-role.yaml")
	perms := rbacPermissions(t, nsRole)
	if want := []rbacPermission{{"create", "namespaces"}, {"patch", "namespaces"}}; !slices.Equal(perms, want) {
		t.Fatalf("namespace-role.yaml grants %v; this test proves %v", perms, want)
	}
	base := env.Namespace(t)
	tr := newRBACTranscript(t)
	for i, p := range perms {
		ns := fmt.Sprintf("%s-%d", base, i)
		kc := rbacUser(t, env, fmt.Sprintf("rbac-ns-without-%s-%d", base, i), "", role, rbacWithout(nsRole, p))
		r := tr.run(1, kc, "reconcile", "--create-namespace", "-n", ns, "-f", rbacDatabase(t, tr.dir, "orders", 1, ""))
		rbacWantForbidden(t, r, p)
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: ns}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s: %v, want not found", ns, err)
		}
	}
	ns := base + "-new"
	kc := rbacUser(t, env, "rbac-ns-"+base, "", role, nsRole)
	env.SimulateRollouts(t, ns)
	tr.run(0, kc, "reconcile", "--create-namespace", "-n", ns, "-f", rbacDatabase(t, tr.dir, "orders", 1, ""), "--timeout", "1m")
	tr.scan(rbacPassword(t, ns, "orders"))
}

// TestRBACInstall runs dbctl install as a user bound to install-role.yaml, on an API
// server without the CRD that does not stream a watch's initial state (so that the
// wait lists first): without each verb it fails naming it; with all of them it
// installs the CRD.
func TestRBACInstall(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.WithoutCRD(), testenv.WithoutStreamingLists())
	role := rbacRole(t, "install-role.yaml")
	perms := rbacPermissions(t, role)
	tr := newRBACTranscript(t)
	// Order matters: without get, create or patch, install fails before anything is
	// created; without watch or list the CRD is created and only the wait fails.
	const crds = "customresourcedefinitions.apiextensions.k8s.io"
	want := []rbacPermission{{"get", crds}, {"create", crds}, {"patch", crds}, {"watch", crds}, {"list", crds}}
	if !slices.Equal(perms, want) {
		t.Fatalf("install-role.yaml grants %v; this test proves %v", perms, want)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	for _, p := range perms {
		rbacRemoveCRD(t, e) // created by the previous run: this one must create it and wait
		kc := rbacUser(t, e, "rbac-install-without-"+p.verb, "", rbacWithout(role, p))
		r := tr.run(1, kc, "install")
		rbacWantForbidden(t, r, p)
		err := e.Client.Get(context.Background(), client.ObjectKey{Name: crdName}, crd)
		if created := err == nil; created != (p.verb == "watch" || p.verb == "list") {
			t.Fatalf("without %s: CRD created: %v (%v)", p, created, err)
		}
	}
	applied := false
	for _, mf := range crd.ManagedFields {
		applied = applied || mf.Manager == "dbctl" && mf.Operation == metav1.ManagedFieldsOperationApply
	}
	if !applied {
		t.Errorf("the CRD was not created by a dbctl apply: %+v", crd.ManagedFields)
	}
	kc := rbacUser(t, e, "rbac-install", "", role)
	r := tr.run(0, kc, "install")
	if !strings.Contains(r.stdout, crdName) {
		t.Errorf("dbctl install printed %q", r.stdout)
	}
}
