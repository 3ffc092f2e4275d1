package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dbctl-io/dbctl/test/golden"
	"github.com/dbctl-io/dbctl/test/testdb"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/cmd/root"
)

// planFixture is a namespace of the test's own, with files and helpers.
type planFixture struct {
	t   *testing.T
	ns  string
	dir string
	// replace normalises outputs for golden files: the namespace, the directory
	// of the files, UIDs.
	replace []string
}

func newPlanFixture(t *testing.T) *planFixture {
	t.Helper()
	f := &planFixture{t: t, ns: env.Namespace(t), dir: t.TempDir()}
	f.replace = []string{f.dir + string(filepath.Separator), "", f.ns, "shop"}
	return f
}

// file writes a file in the fixture's directory and returns its path.
func (f *planFixture) file(name, content string) string {
	f.t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// postgres is a Database document in the fixture's namespace.
func (f *planFixture) postgres(name string, replicas int, extra string) string {
	return testdb.Postgres(f.ns, name, replicas, extra)
}

// simulateRollouts marks the namespace's StatefulSets rolled out (envtest runs no
// controllers).
func (f *planFixture) simulateRollouts() { env.SimulateRollouts(f.t, f.ns) }

// inventoryKinds are every kind dbctl reads or writes.
var inventoryKinds = []schema.GroupVersionKind{
	{Group: "dbctl.io", Version: "v1alpha1", Kind: "DatabaseList"},
	{Version: "v1", Kind: "SecretList"},
	{Version: "v1", Kind: "ServiceList"},
	{Version: "v1", Kind: "ConfigMapList"},
	{Version: "v1", Kind: "PersistentVolumeClaimList"},
	{Group: "apps", Version: "v1", Kind: "StatefulSetList"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudgetList"},
}

// inventory is every object of the cluster that dbctl could touch, and every
// namespace, with its resourceVersion.
func inventory(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, gvk := range append(inventoryKinds, schema.GroupVersionKind{Version: "v1", Kind: "NamespaceList"}) {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk)
		if err := env.Client.List(context.Background(), list); err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			out[gvk.Kind+" "+o.GetNamespace()+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	return out
}

// requireSameInventory fails when an object appeared, disappeared or changed.
func requireSameInventory(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	var diffs []string
	for k, v := range before {
		if after[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: %s → %q", k, v, after[k]))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, k+": created")
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s changed the cluster:\n%s", what, strings.Join(diffs, "\n"))
	}
}

func (f *planFixture) normalize(s string) string {
	return strings.NewReplacer(f.replace...).Replace(s)
}

// uid adds the Database's UID to what normalize replaces.
func (f *planFixture) uid(name string) {
	db := &v1alpha1.Database{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, db); err != nil {
		f.t.Fatal(err)
	}
	f.replace = append(f.replace, string(db.UID), "(uid of "+name+")")
}

// golden compares the normalised output with testdata/name (go test -update rewrites it).
func (f *planFixture) golden(name, got string) {
	f.t.Helper()
	golden.Assert(f.t, name, f.normalize(got))
}

// reconcile runs dbctl reconcile and requires Ready.
func (f *planFixture) reconcile(file string) (stdout, stderr string) {
	f.t.Helper()
	out, errOut, code := runDbctl(f.t, nil, "reconcile", "-f", file, "--timeout", "1m")
	if code != 0 {
		f.t.Fatalf("reconcile: exit %d\n%s\n%s", code, out, errOut)
	}
	return out, errOut
}

// plan runs dbctl plan and requires the exit code.
func (f *planFixture) plan(wantCode int, args ...string) (stdout, stderr string) {
	f.t.Helper()
	out, errOut, code := runDbctl(f.t, nil, append([]string{"plan"}, args...)...)
	if code != wantCode {
		f.t.Fatalf("plan %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, out, errOut)
	}
	return out, errOut
}

// validatePlanJSON validates out against docs/plan-format.schema.json.
func validatePlanJSON(t *testing.T, out string) {
	t.Helper()
	if err := golden.ValidateJSON(t, golden.PlanSchemaPath, []byte(out)); err != nil {
		t.Errorf("plan -o json does not validate against %s: %v\n%s", golden.PlanSchemaPath, err, out)
	}
}

func TestPlanChangesNothingThenReconcileThenNoChanges(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	file := f.file("orders.yaml", f.postgres("orders", 3, "  parameters: {max_connections: \"200\"}\n"))

	// A new Database: everything is a create, and nothing is written.
	before := inventory(t)
	out, _ := f.plan(2, "-f", file, "--detailed-exitcode")
	requireSameInventory(t, "plan of a new Database", before, inventory(t))
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "orders"}, &v1alpha1.Database{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("the Database exists after plan: %v", err)
	}
	f.golden("plan-new.txt", out)
	jsonOut, _ := f.plan(0, "-f", file, "-o", "json")
	validatePlanJSON(t, jsonOut)
	requireSameInventory(t, "plan -o json of a new Database", before, inventory(t))

	// Reconcile shows its changes phase by phase, as plan renders them.
	_, progress := f.reconcile(file)
	for _, want := range []string{"/orders:   + Secret " + f.ns + "/orders-credentials", "/orders:   + StatefulSet " + f.ns + "/orders",
		"/orders:   + StatefulSet " + f.ns + "/orders-replica", "/orders:       spec.replicas: 2"} {
		if !strings.Contains(progress, want) {
			t.Errorf("reconcile progress lacks %q:\n%s", want, progress)
		}
	}
	f.uid("orders")

	// After reconcile: no changes, exit 0 with --detailed-exitcode; nothing written.
	before = inventory(t)
	out, _ = f.plan(0, "-f", file, "--detailed-exitcode")
	f.golden("plan-nochange.txt", out)
	out, _ = f.plan(0, "orders", "-n", f.ns, "--detailed-exitcode")
	if !strings.Contains(out, "Plan: 0 to add, 0 to change, 0 to delete, 9 unchanged.") {
		t.Errorf("plan by name:\n%s", out)
	}
	requireSameInventory(t, "plan without changes", before, inventory(t))

	// A spec change: one replica (the replicas scale to 0; the read-only Service and
	// the PodDisruptionBudget go), another config.
	file = f.file("orders.yaml", f.postgres("orders", 1, "  parameters: {max_connections: \"300\"}\n"))
	out, _ = f.plan(2, "-f", file, "--detailed-exitcode")
	f.golden("plan-update.txt", out)
	jsonOut, _ = f.plan(0, "-f", file, "-o", "json")
	validatePlanJSON(t, jsonOut)
	requireSameInventory(t, "plan of a spec change", before, inventory(t))
	for _, want := range []string{"~ StatefulSet " + f.ns + "/orders-replica", "spec.replicas: 2 → 0", "- PodDisruptionBudget",
		"- Service " + f.ns + "/orders-ro", "data.ro-uri: (sensitive value)", "-    max_connections = '200'",
		"+    max_connections = '300'", "phase: Ready → Updating → Verifying → Ready", "Plan: 0 to add, 4 to change, 2 to delete, 2 unchanged; restarts the primary, removes 2 replicas."} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q", want)
		}
	}

	// What plan said is what reconcile does.
	f.reconcile(file)
	f.plan(0, "-f", file, "--detailed-exitcode")
}

func TestPlanSecretKeyChange(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	f.reconcile(f.file("orders.yaml", f.postgres("orders", 1, "")))
	f.uid("orders")
	before := inventory(t)
	out, _ := f.plan(2, "-f", f.file("orders.yaml", f.postgres("orders", 1, "  credentials: {username: shop}\n")), "--detailed-exitcode")
	requireSameInventory(t, "plan of a username change", before, inventory(t))
	f.golden("plan-secret.txt", out)
	for _, want := range []string{"data.username: (sensitive value changed)", "data.uri: (sensitive value changed)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q", want)
		}
	}
}

func TestPlanDrift(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	file := f.file("orders.yaml", f.postgres("orders", 3, ""))
	f.reconcile(file)
	f.uid("orders")
	// kubectl scale: an Update through the scale subresource.
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "orders-replica"}}
	if err := env.Client.SubResource("scale").Patch(context.Background(), sts,
		client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":1}}`)), client.FieldOwner("kubectl-scale")); err != nil {
		t.Fatal(err)
	}
	before := inventory(t)
	out, _ := f.plan(2, "-f", file, "--detailed-exitcode")
	requireSameInventory(t, "plan of drift", before, inventory(t))
	f.golden("plan-drift.txt", out)
	// From the cluster (no file) the drift shows the same way.
	out2, _ := f.plan(2, "orders", "-n", f.ns, "--detailed-exitcode")
	if !strings.Contains(out2, "spec.replicas: 1 → 2") {
		t.Errorf("plan by name does not show the drift:\n%s", out2)
	}
}

func TestPlanSeveralDatabases(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	f.reconcile(f.file("a-orders.yaml", f.postgres("orders", 2, "")))
	f.uid("orders")
	f.file("b-ledger.yaml", f.postgres("ledger", 1, "")+"---\n"+strings.Replace(f.postgres("audit", 1, ""), `version: "16"`, `version: "17"`, 1))
	before := inventory(t)
	out, _ := f.plan(2, "-f", f.dir, "--detailed-exitcode", "--concurrency", "2")
	requireSameInventory(t, "plan of several Databases", before, inventory(t))
	f.golden("plan-several.txt", out)
	if !strings.HasSuffix(out, "\nTotal: 10 to add, 0 to change, 0 to delete, 9 unchanged.\n") {
		t.Errorf("total line:\n%s", out)
	}
	jsonOut, _ := f.plan(0, "-f", f.dir, "-o", "json")
	validatePlanJSON(t, jsonOut)
}

func TestPlanConflictWithAnotherApplier(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	file := f.file("orders.yaml", f.postgres("orders", 3, ""))
	f.reconcile(file)
	other := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "StatefulSet",
		"metadata": map[string]any{"name": "orders-replica", "namespace": f.ns},
		"spec":     map[string]any{"replicas": int64(4)},
	}}
	if err := env.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(other),
		client.FieldOwner("argocd-controller"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	before := inventory(t)
	out, _ := f.plan(2, "-f", file, "--detailed-exitcode")
	for _, want := range []string{"! StatefulSet " + f.ns + "/orders-replica: conflict with another applier",
		"owned by another applier: argocd-controller: .spec.replicas", "spec.replicas: 4 → 2", "Conflicts: 1 object"} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}
	jsonOut, _ := f.plan(0, "-f", file, "-o", "json")
	validatePlanJSON(t, jsonOut)
	if !strings.Contains(jsonOut, `"conflict": "argocd-controller: .spec.replicas"`) {
		t.Errorf("JSON conflict:\n%s", jsonOut)
	}
	out, _ = f.plan(2, "-f", file, "--detailed-exitcode", "--force-conflicts")
	if strings.Contains(out, "! StatefulSet") || !strings.Contains(out, "--force-conflicts takes argocd-controller: .spec.replicas") {
		t.Errorf("plan --force-conflicts:\n%s", out)
	}
	requireSameInventory(t, "plan of a conflict", before, inventory(t))
}

func TestPlanMissingNamespaceCreatesNothing(t *testing.T) {
	f := newPlanFixture(t)
	missing := "plan-missing-" + f.ns[len(f.ns)-5:]
	doc := strings.Replace(f.postgres("orders", 1, ""), "namespace: "+f.ns, "namespace: "+missing, 1)
	before := inventory(t)
	out, _ := f.plan(2, "-f", f.file("orders.yaml", doc), "--detailed-exitcode")
	requireSameInventory(t, "plan for a missing namespace", before, inventory(t))
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: missing}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		t.Errorf("the namespace exists after plan: %v", err)
	}
	if !strings.Contains(out, "namespace "+missing+" does not exist: reconcile needs --create-namespace") ||
		!strings.Contains(out, "Plan: 5 to add") {
		t.Errorf("plan:\n%s", out)
	}
}

func TestPlanErrorsExit1(t *testing.T) {
	f := newPlanFixture(t)
	_, errOut := f.plan(1, "nothere", "-n", f.ns, "--detailed-exitcode")
	if !strings.Contains(errOut, "Database "+f.ns+"/nothere not found") {
		t.Errorf("stderr: %s", errOut)
	}
	_, errOut = f.plan(1, "-f", f.file("bad.yaml", f.postgres("orders", 1, "  colour: blue\n")), "--detailed-exitcode")
	if !strings.Contains(errOut, "colour") {
		t.Errorf("stderr: %s", errOut)
	}
	f.plan(1, "--offline", "orders")
	// One Database that cannot be planned fails the run, the others are shown.
	dir := filepath.Join(f.dir, "several")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.file("several/a.yaml", f.postgres("orders", 1, ""))
	f.file("several/b.yaml", f.postgres("ledger", 1, ""))
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "ledger"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	if err := env.Client.Create(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	out, errOut := f.plan(1, "-f", dir, "--detailed-exitcode")
	if !strings.Contains(out, "Database "+f.ns+"/orders") || !strings.Contains(errOut, "is not owned by Database ledger") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

// runOffline runs dbctl with a Factory whose cluster clients fail the test if
// anything asks for them, and KUBECONFIG pointing nowhere.
func runOffline(t *testing.T, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	t.Setenv("KUBECONFIG", "/nonexistent/kubeconfig")
	t.Setenv("HOME", t.TempDir())
	var out, errOut bytes.Buffer
	f := cmdutil.New()
	f.IOStreams = cmdutil.Test(strings.NewReader(""), &out, &errOut)
	f.Clients = func() (*cmdutil.Clients, error) {
		t.Errorf("plan --offline asked for cluster clients")
		return nil, cmdutil.ErrNoCluster
	}
	cmd := root.NewCmdRoot(f)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	exitCode = int(root.HandleError(f.IOStreams, cmd, err))
	return out.String(), errOut.String(), exitCode
}

func TestPlanOfflineWithoutAnyCluster(t *testing.T) {
	f := newPlanFixture(t)
	file := f.file("orders.yaml", f.postgres("orders", 3, "  parameters: {max_connections: \"200\"}\n"))
	out, errOut, code := runOffline(t, "plan", "--offline", "-f", file, "--detailed-exitcode")
	if code != 2 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	f.golden("plan-offline.txt", out)
	out, _, code = runOffline(t, "plan", "--offline", "-f", file, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	validatePlanJSON(t, out)
	// The namespace: the document's, else -n, else default.
	noNS := f.file("nons.yaml", strings.Replace(f.postgres("orders", 1, ""), "namespace: "+f.ns, "labels: {team: a}", 1))
	out, _, _ = runOffline(t, "plan", "--offline", "-f", noNS)
	if !strings.HasPrefix(out, "Database default/orders ") {
		t.Errorf("without -n: %s", strings.SplitN(out, "\n", 2)[0])
	}
	out, _, _ = runOffline(t, "plan", "--offline", "-f", noNS, "-n", "shop")
	if !strings.HasPrefix(out, "Database shop/orders ") {
		t.Errorf("with -n shop: %s", strings.SplitN(out, "\n", 2)[0])
	}
	// Bad input is an error, still offline.
	_, errOut, code = runOffline(t, "plan", "--offline", "-f", f.file("bad.yaml", f.postgres("x", 0, "")))
	if code != 1 || !strings.Contains(errOut, "replicas") {
		t.Errorf("bad input: exit %d: %s", code, errOut)
	}
}

// TestStorageShrinkRefused: volumes only grow: a smaller size is refused before the
// StatefulSet is written (plan exit 1, reconcile Failed with exit 2), saying what
// to do, and the old size back makes the Database Ready again.
func TestStorageShrinkRefused(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	f.reconcile(f.file("orders.yaml", f.postgres("orders", 1, "")))
	shrunk := f.file("shrunk.yaml", strings.Replace(f.postgres("orders", 1, ""), "size: 1Gi", "size: 512Mi", 1))
	want := "spec.storage.size cannot shrink from 1Gi to 512Mi on the existing StatefulSet " + f.ns + "/orders"

	before := inventory(t)
	out, errOut := f.plan(1, "-f", shrunk, "--detailed-exitcode")
	requireSameInventory(t, "plan of a smaller storage size", before, inventory(t))
	if !strings.Contains(errOut, want) || !strings.Contains(out, "StatefulSet "+f.ns+"/orders  (refused)") || strings.Contains(errOut, "Invalid value") {
		t.Errorf("plan:\n%s\n%s", out, errOut)
	}
	sts := f.statefulSet("orders")
	out, errOut, code := runDbctl(t, nil, "reconcile", "-f", shrunk, "--timeout", "1m")
	if code != 2 || !strings.Contains(out+errOut, want) {
		t.Fatalf("reconcile: exit %d, want 2 (Failed, needs a person)\n%s\n%s", code, out, errOut)
	}
	db := &v1alpha1.Database{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "orders"}, db); err != nil {
		t.Fatal(err)
	}
	if c := db.Condition(v1alpha1.ConditionReady); c == nil || !strings.HasPrefix(c.Message, want) {
		t.Errorf("Ready condition: %+v", c)
	}
	f.requireUnchanged(sts)
	// Back to the old size: Ready again (after the backoff window).
	f.reconcile(f.file("orders.yaml", f.postgres("orders", 1, "")))
}

// TestRuleOnlyTheServerChecks: a rule the loader cannot check (the engine is
// immutable) is reported like the loader's errors, naming the file, the document
// and the field, by plan and by reconcile, and nothing changes.
func TestRuleOnlyTheServerChecks(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	f.reconcile(f.file("orders.yaml", f.postgres("orders", 1, "")))
	mysql := f.file("mysql.yaml", strings.NewReplacer("engine: postgres", "engine: mysql", `version: "16"`, `version: "8.4"`).
		Replace(f.postgres("orders", 1, "")))
	want := mysql + `: document 1: spec.engine: Invalid value: "mysql": engine is immutable`
	before := inventory(t)
	_, errOut := f.plan(1, "-f", mysql)
	if !strings.Contains(errOut, want) {
		t.Errorf("plan stderr:\n%s\nwant %q", errOut, want)
	}
	out, errOut, code := runDbctl(t, nil, "reconcile", "-f", mysql, "--timeout", "1m")
	if code != 1 || !strings.Contains(out+errOut, want) {
		t.Errorf("reconcile: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	requireSameInventory(t, "a rejected engine change", before, inventory(t))
}

// TestPostgresMajorVersionChangeRefused: PostgreSQL does not open a data directory
// of another major version, so a new major is refused before the StatefulSet is
// written (plan exit 1, reconcile Failed with exit 2), and the old version back
// makes the Database Ready again. A minor version rolls the pods as usual.
func TestPostgresMajorVersionChangeRefused(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	f.reconcile(f.file("orders.yaml", f.postgres("orders", 1, "")))
	major := f.file("major.yaml", strings.Replace(f.postgres("orders", 1, ""), `version: "16"`, `version: "17"`, 1))
	want := "spec.version cannot change PostgreSQL from 16 to 17 on the existing StatefulSet " + f.ns + "/orders"

	before := inventory(t)
	_, errOut := f.plan(1, "-f", major)
	requireSameInventory(t, "plan of a major version", before, inventory(t))
	if !strings.Contains(errOut, want) {
		t.Errorf("plan stderr:\n%s", errOut)
	}
	sts := f.statefulSet("orders")
	out, errOut, code := runDbctl(t, nil, "reconcile", "-f", major, "--timeout", "1m")
	if code != 2 || !strings.Contains(out+errOut, want) {
		t.Fatalf("reconcile: exit %d, want 2\n%s\n%s", code, out, errOut)
	}
	f.requireUnchanged(sts)

	f.reconcile(f.file("orders.yaml", f.postgres("orders", 1, "")))
	f.reconcile(f.file("minor.yaml", strings.Replace(f.postgres("orders", 1, ""), `version: "16"`, `version: "16.4"`, 1)))
	if img := f.statefulSet("orders").Spec.Template.Spec.Containers[0].Image; img != "postgres:16.4" {
		t.Errorf("image after a minor version: %s, want postgres:16.4", img)
	}
}

// statefulSet reads a StatefulSet of the fixture's namespace.
func (f *planFixture) statefulSet(name string) *appsv1.StatefulSet {
	f.t.Helper()
	sts := &appsv1.StatefulSet{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, sts); err != nil {
		f.t.Fatal(err)
	}
	return sts
}

// requireUnchanged fails when the StatefulSet was written since it was read.
func (f *planFixture) requireUnchanged(sts *appsv1.StatefulSet) {
	f.t.Helper()
	if after := f.statefulSet(sts.Name); after.ResourceVersion != sts.ResourceVersion {
		f.t.Errorf("StatefulSet %s was written: resourceVersion %s → %s", sts.Name, sts.ResourceVersion, after.ResourceVersion)
	}
}
