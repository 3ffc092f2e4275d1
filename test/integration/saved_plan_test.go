package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Saved plans (issue 14): plan --out FILE, then reconcile --plan FILE applies
// exactly that plan, or refuses it when anything changed since.

// savedPlan runs plan --out and returns the plan file's path.
func (f *planFixture) savedPlan(name string, args ...string) string {
	f.t.Helper()
	path := filepath.Join(f.dir, name)
	f.plan(0, append([]string{"--out", path}, args...)...)
	return path
}

// applyPlan runs reconcile --plan and requires the exit code.
func (f *planFixture) applyPlan(wantCode int, plan string, args ...string) (stdout, stderr string) {
	f.t.Helper()
	out, errOut, code := runDbctl(f.t, nil, append([]string{"reconcile", "--plan", plan, "--timeout", "1m"}, args...)...)
	if code != wantCode {
		f.t.Fatalf("reconcile --plan %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, out, errOut)
	}
	return out, errOut
}

func TestSavedPlanAppliesExactlyThenNoOp(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	file := f.file("orders.yaml", f.postgres("orders", 3, ""))

	before := inventory(t)
	plan := f.savedPlan("cold.json", "-f", file)
	requireSameInventory(t, "plan --out", before, inventory(t))
	st, err := os.Stat(plan)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("plan file mode %v, want 0600", st.Mode().Perm())
	}
	var doc struct {
		FormatVersion int `json:"formatVersion"`
		Saved         struct {
			DbctlVersion string `json:"dbctlVersion"`
			Server       string `json:"server"`
			Databases    []struct {
				SpecDigest string   `json:"specDigest"`
				Writes     []string `json:"writes"`
				Children   []struct {
					Kind   string `json:"kind"`
					Exists bool   `json:"exists"`
				} `json:"children"`
			} `json:"databases"`
		} `json:"saved"`
	}
	b, _ := os.ReadFile(plan)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	validatePlanJSON(t, string(b))
	if doc.FormatVersion != 2 || doc.Saved.DbctlVersion == "" || doc.Saved.Server == "" || len(doc.Saved.Databases) != 1 {
		t.Fatalf("saved plan:\n%s", b)
	}
	d := doc.Saved.Databases[0]
	if !strings.HasPrefix(d.SpecDigest, "sha256:") || len(d.Children) != 11 || len(d.Writes) != 10 {
		t.Errorf("saved Database: digest %q, %d children, writes %v", d.SpecDigest, len(d.Children), d.Writes)
	}

	_, progress := f.applyPlan(0, plan, "-f", file)
	if !strings.Contains(progress, "+ StatefulSet "+f.ns+"/orders-replica") {
		t.Errorf("reconcile --plan progress:\n%s", progress)
	}
	password := f.password("orders")

	// Applying the same plan again: everything it planned to create exists now.
	out, errOut := f.applyPlan(1, plan, "-f", file)
	for _, want := range []string{"nothing was written", "Secret " + f.ns + "/orders-credentials was created since the plan",
		"StatefulSet " + f.ns + "/orders was created since the plan", "run dbctl plan again"} {
		if !strings.Contains(out+errOut, want) {
			t.Errorf("second apply of the plan lacks %q:\n%s%s", want, out, errOut)
		}
	}

	// A plan without changes applies as a no-op: nothing is written.
	noop := f.savedPlan("noop.json", "-f", file)
	before = inventory(t)
	f.applyPlan(0, noop, "-f", file)
	f.applyPlan(0, noop, "-f", file)
	requireSameInventory(t, "reconcile --plan of a plan without changes", before, inventory(t))

	// A change, with the Secret existing: the plan file holds no secret value.
	file = f.file("orders.yaml", f.postgres("orders", 3, "  parameters: {max_connections: \"300\"}\n"))
	change := f.savedPlan("change.json", "-f", file)
	b, _ = os.ReadFile(change)
	if strings.Contains(string(b), password) {
		t.Fatal("the saved plan contains the password")
	}
	_, progress = f.applyPlan(0, change, "-f", file)
	if !strings.Contains(progress, "~ ConfigMap "+f.ns+"/orders-config") || strings.Contains(progress, password) {
		t.Errorf("reconcile --plan of a change:\n%s", progress)
	}
}

func TestSavedPlanRefusedWhenTheClusterChanged(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	file := f.file("orders.yaml", f.postgres("orders", 3, ""))
	f.reconcile(file)
	changed := f.file("orders.yaml", f.postgres("orders", 3, "  parameters: {max_connections: \"300\"}\n"))
	plan := f.savedPlan("plan.json", "-f", changed)
	ctx := context.Background()

	// The cluster rewrites a StatefulSet's status on its own: no difference.
	sts := &appsv1.StatefulSet{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "orders-replica"}, sts); err != nil {
		t.Fatal(err)
	}
	sts.Status.ObservedGeneration, sts.Status.AvailableReplicas = sts.Generation, 1
	if err := env.Client.Status().Update(ctx, sts); err != nil {
		t.Fatal(err)
	}

	// Someone edits the primary StatefulSet's spec: reconcile --plan writes
	// nothing, naming it.
	patch := []byte(`{"spec":{"template":{"metadata":{"annotations":{"someone/edited":"yes"}}}}}`)
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "orders"}, sts); err != nil {
		t.Fatal(err)
	}
	gen := sts.Generation
	if err := env.Client.Patch(ctx, sts, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	before := inventory(t)
	out, errOut := f.applyPlan(1, plan, "-f", changed, "-o", "json")
	requireSameInventory(t, "reconcile --plan of a changed cluster", before, inventory(t))
	if !strings.Contains(out, `"planChanged": true`) {
		t.Errorf("-o json does not say planChanged:\n%s", out)
	}
	want := "StatefulSet " + f.ns + "/orders changed since the plan (generation " + itoa(gen) + " → " + itoa(gen+1) + ")"
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, "nothing was written") || strings.Contains(errOut, "orders-replica") {
		t.Errorf("stderr lacks %q (and must not name the replica StatefulSet, whose status only changed):\n%s%s", want, out, errOut)
	}

	// A newer spec than the plan's: refused too.
	f.reconcile(file) // repairs the hand edit
	plan = f.savedPlan("plan2.json", "-f", changed)
	newer := f.file("newer.yaml", f.postgres("orders", 3, "  parameters: {max_connections: \"400\"}\n"))
	before = inventory(t)
	_, errOut = f.applyPlan(1, plan, "-f", newer)
	requireSameInventory(t, "reconcile --plan of another spec", before, inventory(t))
	if !strings.Contains(errOut, "Database "+f.ns+"/orders: the spec is not the one planned") {
		t.Errorf("stderr:\n%s", errOut)
	}

	// The Database edited in the cluster after the plan (its generation moved).
	f.reconcile(newer)
	plan = f.savedPlan("plan3.json", "orders", "-n", f.ns)
	f.reconcile(changed)
	before = inventory(t)
	_, errOut = f.applyPlan(1, plan, "orders", "-n", f.ns)
	requireSameInventory(t, "reconcile --plan of an edited Database", before, inventory(t))
	if !strings.Contains(errOut, "Database "+f.ns+"/orders changed since the plan (generation") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

func TestSavedPlanBadInput(t *testing.T) {
	f := newPlanFixture(t)
	file := f.file("orders.yaml", f.postgres("orders", 1, ""))
	other := f.file("other.yaml", f.postgres("other", 1, ""))
	plan := f.savedPlan("plan.json", "-f", file)
	b, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(name, from, to string) string {
		s := strings.Replace(string(b), from, to, 1)
		if s == string(b) {
			t.Fatalf("%q not in the plan", from)
		}
		return f.file(name, s)
	}
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	saved := doc["saved"].(map[string]any)
	jsonPlan, _ := f.plan(0, "-f", file, "-o", "json")
	both := f.savedPlan("both.json", "-f", file, "-f", other)

	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"another dbctl": {[]string{"--plan", edit("v.json", `"dbctlVersion": "`, `"dbctlVersion": "v0.0.1-`), "-f", file},
			"was planned by dbctl v0.0.1-"},
		"another cluster": {[]string{"--plan", edit("s.json", saved["server"].(string), "https://elsewhere:6443"), "-f", file},
			"was planned against the API server https://elsewhere:6443"},
		"a Database the plan lacks": {[]string{"--plan", plan, "-f", file, "-f", other}, "does not contain Database " + f.ns + "/other"},
		"fewer Databases than the plan": {[]string{"--plan", both, "-f", file},
			"also plans Database " + f.ns + "/other, which this run does not select"},
		"not a saved plan":    {[]string{"--plan", f.file("json.json", jsonPlan), "-f", file}, "saved is missing: the plan was written by plan -o json"},
		"not a plan":          {[]string{"--plan", file, "-f", file}, "is not a dbctl plan"},
		"no such file":        {[]string{"--plan", filepath.Join(f.dir, "nope.json"), "-f", file}, "nope.json does not exist"},
		"force from the plan": {[]string{"--plan", plan, "-f", file, "--force-conflicts"}, "--force-conflicts comes from the plan"},
	} {
		t.Run(name, func(t *testing.T) {
			before := inventory(t)
			out, errOut, code := runDbctl(t, nil, append([]string{"reconcile", "--timeout", "20s"}, tc.args...)...)
			requireSameInventory(t, name, before, inventory(t))
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want 1 and %q:\n%s%s", code, tc.want, out, errOut)
			}
		})
	}

	// --out with --offline; a refused plan writes no file.
	if _, errOut, code := runDbctl(t, nil, "plan", "--offline", "-f", file, "--out", filepath.Join(f.dir, "x.json")); code != 1 ||
		!strings.Contains(errOut, "--out saves a plan computed from the cluster") {
		t.Errorf("plan --offline --out: exit %d:\n%s", code, errOut)
	}
	f.reconcileUntilNotError(file)
	shrunk := f.file("shrunk.yaml", strings.Replace(f.postgres("orders", 1, ""), "size: 1Gi", "size: 512Mi", 1))
	refusedPlan := filepath.Join(f.dir, "refused.json")
	if _, errOut, code := runDbctl(t, nil, "plan", "-f", shrunk, "--out", refusedPlan); code != 1 || !strings.Contains(errOut, "no plan written to "+refusedPlan) {
		t.Errorf("plan --out of a refused spec: exit %d:\n%s", code, errOut)
	}
	if _, err := os.Stat(refusedPlan); !os.IsNotExist(err) {
		t.Errorf("a refused plan was written: %v", err)
	}
}

// reconcileUntilNotError runs reconcile once, accepting any exit but 1 (envtest
// runs no controllers: the StatefulSet never rolls out without simulateRollouts).
func (f *planFixture) reconcileUntilNotError(file string) {
	f.t.Helper()
	out, errOut, code := runDbctl(f.t, nil, "reconcile", "-f", file, "--timeout", "5s")
	if code == 1 {
		f.t.Fatalf("reconcile: exit 1\n%s\n%s", out, errOut)
	}
}

// password reads the Database's password (to check that it is printed nowhere).
func (f *planFixture) password(name string) string {
	f.t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name + "-credentials"}, s); err != nil {
		f.t.Fatal(err)
	}
	if len(s.Data["password"]) < 16 {
		f.t.Fatalf("password of %s: %d bytes", name, len(s.Data["password"]))
	}
	return string(s.Data["password"])
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
