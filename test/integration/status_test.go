package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/cmd/root"
	"github.com/dbctl-io/dbctl/reconcile/render"
	"github.com/dbctl-io/dbctl/test/testenv"
)

func (f *planFixture) status(wantCode int, args ...string) (stdout, stderr string) {
	f.t.Helper()
	out, errOut, code := runDbctl(f.t, nil, append([]string{"status"}, args...)...)
	if code != wantCode {
		f.t.Fatalf("status %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, out, errOut)
	}
	return out, errOut
}

// setStatus overwrites the Database's status subresource.
func (f *planFixture) setStatus(name string, mutate func(db *v1alpha1.Database)) {
	f.t.Helper()
	db := &v1alpha1.Database{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, db); err != nil {
		f.t.Fatal(err)
	}
	mutate(db)
	if err := env.Client.Status().Update(context.Background(), db); err != nil {
		f.t.Fatal(err)
	}
}

func TestStatusReadyNotReadyFailedNotFound(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	file := f.file("orders.yaml", f.postgres("orders", 3, ""))
	f.reconcile(file)

	out, _ := f.status(0, "orders", "-n", f.ns)
	for _, want := range []string{"Database " + f.ns + "/orders", "phase:      Ready", "endpoint:   orders." + f.ns + ".svc:5432",
		"generation: 1 (observed 1)", "Ready                  True    Reconciled", "StatefulSet          orders              1/1 ready",
		"StatefulSet          orders-replica      2/2 ready", "Service              orders-ro           present",
		"Secret               orders-credentials  present", "PodDisruptionBudget  orders              present"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	// -f takes the names from the file and applies nothing.
	before := inventory(t)
	f.status(0, "-f", file)
	requireSameInventory(t, "status -f", before, inventory(t))

	// -o json and -o yaml.
	out, _ = f.status(0, "--all", "-n", f.ns, "-o", "json")
	var doc render.StatusDocument
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.FormatVersion != 1 || len(doc.Databases) != 1 || !doc.Databases[0].Ready || len(doc.Databases[0].Children) != 9 {
		t.Errorf("json: %s", out)
	}
	out, _ = f.status(0, "orders", "-n", f.ns, "-o", "yaml")
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil || doc.Databases[0].Phase != "Ready" {
		t.Errorf("yaml (%v):\n%s", err, out)
	}

	// Verifying with 2/3 ready: not Ready yet, exit 3.
	f.setStatus("orders", func(db *v1alpha1.Database) {
		db.Status.Phase = v1alpha1.PhaseVerifying
		now := metav1.Now()
		db.Status.VerifyStartTime = &now
		db.SetCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonWaitingForRollout, "Verifying: waiting for the StatefulSet rollout", now.Time)
	})
	out, _ = f.status(3, "orders", "-n", f.ns)
	if !strings.Contains(out, "Verifying, not ready (WaitingForRollout)") {
		t.Errorf("verifying:\n%s", out)
	}
	// Failed: exit 2, with the retry time.
	f.setStatus("orders", func(db *v1alpha1.Database) {
		db.Status.Phase = v1alpha1.PhaseFailed
		now := metav1.Now()
		db.Status.LastFailureTime, db.Status.VerifyStartTime = &now, nil
		db.SetCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonVerificationTimeout, "verification did not finish", now.Time)
	})
	out, _ = f.status(2, "orders", "-n", f.ns)
	if !strings.Contains(out, "Failed, needs a person") || !strings.Contains(out, "retry:      allowed at") {
		t.Errorf("failed:\n%s", out)
	}
	// Not found: exit 1; with a Failed one, the worst (1) wins.
	_, errOut := f.status(1, "orders", "nothere", "-n", f.ns)
	if !strings.Contains(errOut, "Database "+f.ns+"/nothere not found") {
		t.Errorf("stderr: %s", errOut)
	}
}

func TestStatusBreakerState(t *testing.T) {
	f := newPlanFixture(t)
	db := &v1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "orders"},
		Spec: v1alpha1.DatabaseSpec{Engine: v1alpha1.EnginePostgres, Version: "16", Storage: v1alpha1.StorageSpec{Size: resourceQuantity(t, "1Gi")},
			Dependencies: []v1alpha1.Dependency{{Name: "backup-store", URL: "https://user:tok3n@backup.internal/healthz"}, {Name: "vault", TCP: "vault:8200"}}}}
	if err := env.Client.Create(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "breakers.json")
	opened := time.Now().UTC().Add(-10 * time.Second).Format(time.RFC3339)
	if err := os.WriteFile(state, []byte(`{"version":1,"breakers":{"backup-store":{"state":"open","failures":5,"openedAt":"`+opened+`","lastError":"connection refused"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := f.status(3, "orders", "-n", f.ns, "--breaker-state", state)
	for _, want := range []string{"backup-store  open", "next probe at", "last error: connection refused", "vault         closed",
		"https://backup.internal/healthz", "(none: dbctl has not reconciled this Database yet)", "Secret               orders-credentials  missing"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "tok3n") {
		t.Errorf("a dependency URL's credentials show:\n%s", out)
	}
	// DBCTL_BREAKER_STATE is the default.
	t.Setenv("DBCTL_BREAKER_STATE", state)
	out, _, _ = runDbctlNoState(t, "status", "orders", "-n", f.ns)
	if !strings.Contains(out, "backup-store  open") {
		t.Errorf("with DBCTL_BREAKER_STATE:\n%s", out)
	}
}

func TestStatusWatchFollowsUntilReady(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	f.reconcile(f.file("orders.yaml", f.postgres("orders", 1, "")))
	var ready v1alpha1.DatabaseStatus
	f.setStatus("orders", func(db *v1alpha1.Database) {
		ready = *db.Status.DeepCopy()
		db.Status.Phase = v1alpha1.PhaseVerifying
		db.SetCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonWaitingForRollout, "Verifying: waiting", time.Now())
	})
	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code := runDbctl(t, nil, "status", "orders", "-n", f.ns, "--watch", "--timeout", "1m")
		done <- result{out, errOut, code}
	}()
	// Whether the watch starts before or after this write, status ends Ready.
	f.setStatus("orders", func(db *v1alpha1.Database) { db.Status = ready })
	r := <-done
	if r.code != 0 || !strings.Contains(r.out, "phase:      Ready") || !strings.Contains(r.errOut, "/orders: Ready (Ready=True") {
		t.Errorf("status --watch: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errOut)
	}
	// A watch that never sees Ready ends at --timeout with exit 3.
	f.setStatus("orders", func(db *v1alpha1.Database) { db.Status.Phase = v1alpha1.PhaseVerifying })
	out, errOut, code := runDbctl(t, nil, "status", "orders", "-n", f.ns, "--watch", "--timeout", "1s")
	if code != 3 || !strings.Contains(errOut, "--timeout") || !strings.Contains(out, "Verifying") {
		t.Errorf("status --watch --timeout: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestStatusWatchSurvivesAnExpiredWatch: the watch of status --watch is closed just
// before it would deliver Ready, and the next watch, from the resourceVersion seen
// last, is answered 410 Gone; status gets the current state again and ends Ready.
func TestStatusWatchSurvivesAnExpiredWatch(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	f.reconcile(f.file("orders.yaml", f.postgres("orders", 1, "")))
	var ready v1alpha1.DatabaseStatus
	f.setStatus("orders", func(db *v1alpha1.Database) {
		ready = *db.Status.DeepCopy()
		db.Status.Phase = v1alpha1.PhaseVerifying
		db.SetCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonWaitingForRollout, "Verifying: waiting", time.Now())
	})
	fault := &testenv.WatchFault{
		Path: "/apis/dbctl.io/v1alpha1/namespaces/" + f.ns + "/databases",
		Expire: func(_ string, u *unstructured.Unstructured) bool {
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			return phase == string(v1alpha1.PhaseReady)
		},
	}
	proxied := *env
	proxied.Config = fault.Start(t, env.Config)
	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code := runDbctl(t, &proxied, "status", "orders", "-n", f.ns, "--watch", "--timeout", "1m")
		done <- result{out, errOut, code}
	}()
	fault.AwaitWatching(t, 30*time.Second)
	f.setStatus("orders", func(db *v1alpha1.Database) { db.Status = ready })
	var r result
	select {
	case r = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("status --watch did not return")
	}
	want := []string{"/orders: Verifying (Ready=False WaitingForRollout: Verifying: waiting)\n", "/orders: Ready (Ready=True"}
	if r.code != 0 || !strings.Contains(r.out, "phase:      Ready") || !strings.Contains(r.errOut, want[0]) || !strings.Contains(r.errOut, want[1]) {
		t.Errorf("status --watch: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errOut)
	}
	if !fault.Expired() {
		t.Fatal("the watch did not expire: the test tested nothing")
	}
}

// TestStatusWatchDeletedDatabase: a Database deleted while status --watch follows it
// is an error.
func TestStatusWatchDeletedDatabase(t *testing.T) {
	f := newPlanFixture(t)
	db := validDatabase(f.ns, "orders")
	if err := env.Client.Create(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	watching := &testenv.WatchFault{Path: "/apis/dbctl.io/v1alpha1/namespaces/" + f.ns + "/databases"}
	proxied := *env
	proxied.Config = watching.Start(t, env.Config)
	type result struct {
		errOut string
		code   int
	}
	done := make(chan result, 1)
	go func() {
		_, errOut, code := runDbctl(t, &proxied, "status", "orders", "-n", f.ns, "--watch", "--timeout", "1m")
		done <- result{errOut, code}
	}()
	watching.AwaitWatching(t, 30*time.Second)
	if err := env.Client.Delete(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.code != 1 || !strings.Contains(r.errOut, "Database "+f.ns+"/orders was deleted") {
			t.Errorf("status --watch: exit %d\nstderr:\n%s", r.code, r.errOut)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("status --watch did not return")
	}
}

func resourceQuantity(t *testing.T, s string) resource.Quantity {
	t.Helper()
	q, err := resource.ParseQuantity(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// runDbctlNoState is runDbctl without --breaker-state, so that
// DBCTL_BREAKER_STATE or the default path is used.
func runDbctlNoState(t *testing.T, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := cmdutil.New()
	f.IOStreams = cmdutil.Test(strings.NewReader(""), &out, &errOut)
	f.Clients = func() (*cmdutil.Clients, error) {
		ns, explicit := "default", false
		if f.ConfigFlags.Namespace != nil && *f.ConfigFlags.Namespace != "" {
			ns, explicit = *f.ConfigFlags.Namespace, true
		}
		return cmdutil.NewClients(env.Config, ns, explicit, *f.QPS, *f.Burst)
	}
	cmd := root.NewCmdRoot(f)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	exitCode = int(root.HandleError(f.IOStreams, cmd, err))
	return out.String(), errOut.String(), exitCode
}
