package integration

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/cmd/root"
	"github.com/dbctl-io/dbctl/test/testdb"
)

// `dbctl controller` in-process against envtest: the same engine, stepped per event.

// lockedBuffer is a bytes.Buffer safe for the controller's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runningController is a `dbctl controller` running in the test's process.
type runningController struct {
	clients *cmdutil.Clients
	log     *lockedBuffer
	stop    func() int
}

// startController runs `dbctl controller -n ns args...` (no leader election, no
// metrics or probe listener) until the test ends or stop is called.
func startController(t *testing.T, ns string, args ...string) *runningController {
	t.Helper()
	rc := &runningController{log: &lockedBuffer{}}
	f := cmdutil.New()
	f.IOStreams = cmdutil.Test(strings.NewReader(""), &bytes.Buffer{}, rc.log).Redacted(f.Secrets)
	f.Getenv = func(string) string { return "" }
	clients, err := cmdutil.NewClients(env.Config, ns, true, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	rc.clients = clients
	f.Clients = func() (*cmdutil.Clients, error) { return clients, nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	all := append([]string{"--breaker-state", filepath.Join(t.TempDir(), "breakers.json"), "controller", "-n", ns,
		"--leader-elect=false", "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		"--retry-initial", "200ms", "--retry-max", "2s"}, args...)
	go func() { done <- int(root.Run(ctx, f, all)) }()
	var once sync.Once
	code := 0
	rc.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("the controller did not stop within 30s of its context\n%s", rc.log)
			}
		})
		return code
	}
	t.Cleanup(func() { rc.stop() })
	return rc
}

// createDatabase creates the Database of a YAML document in ns.
func createDatabase(t *testing.T, ns, doc string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace(ns)
	if err := env.Client.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every 50ms until it holds, or fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getDatabase(t *testing.T, ns, name string) *v1alpha1.Database {
	t.Helper()
	db := &v1alpha1.Database{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, db); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestControllerKeepsADatabaseReady(t *testing.T) {
	ns := env.Namespace(t)
	env.SimulateRollouts(t, ns)
	rc := startController(t, ns)
	createDatabase(t, ns, testdb.Postgres("", "orders", 3, ""))
	waitFor(t, 30*time.Second, "Ready", func() bool { return getDatabase(t, ns, "orders").IsReady() })
	ctx := context.Background()
	secret := &corev1.Secret{}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders-credentials"}, secret); err != nil {
		t.Fatal(err)
	}
	password := string(secret.Data["password"])
	wantAppliedEvents(t, ns, "orders")

	// Steady state: no request but the watches' (none at all in 3s).
	time.Sleep(time.Second)
	before := rc.clients.Requests.Total()
	time.Sleep(3 * time.Second)
	if n := rc.clients.Requests.Total() - before; n > 0 {
		t.Errorf("%d requests in 3s of steady state: %s", n, rc.clients.Requests)
	}

	// A hand edit of a child is taken back within seconds.
	sts := &appsv1.StatefulSet{}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders-replica"}, sts); err != nil {
		t.Fatal(err)
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":5}}`))
	if err := env.Client.Patch(ctx, sts, patch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the replica StatefulSet scaled back to 2", func() bool {
		got := &appsv1.StatefulSet{}
		_ = env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders-replica"}, got)
		return got.Spec.Replicas != nil && *got.Spec.Replicas == 2
	})
	waitFor(t, 10*time.Second, "Ready again", func() bool { return getDatabase(t, ns, "orders").IsReady() })

	// A spec change goes through Updating to Ready.
	db := getDatabase(t, ns, "orders")
	if err := env.Client.Patch(ctx, db, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"parameters":{"max_connections":"300"}}}`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the new config applied and Ready", func() bool {
		cm := &corev1.ConfigMap{}
		_ = env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders-config"}, cm)
		return strings.Contains(cm.Data["postgresql.conf"], "max_connections = '300'") && getDatabase(t, ns, "orders").IsReady()
	})
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders-credentials"}, secret); err != nil {
		t.Fatal(err)
	}
	if string(secret.Data["password"]) != password {
		t.Error("the password changed")
	}
	if code := rc.stop(); code != 0 {
		t.Errorf("exit %d after SIGTERM-like cancel\n%s", code, rc.log)
	}
	if strings.Contains(rc.log.String(), password) {
		t.Error("the controller's log holds the password")
	}
	for _, want := range []string{`"to":"Ready"`, `"msg":"applied"`, `"~ ConfigMap ` + ns + `/orders-config"`} {
		if !strings.Contains(rc.log.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, rc.log)
		}
	}
}

// wantAppliedEvents checks the Applied Events of a cold Database's steps: one per
// writing step, each listing every change of its step (the two Services of
// Provisioning included: as one Event per change, the events API merged them into a
// series that kept only the first), none of them a series.
func wantAppliedEvents(t *testing.T, ns, name string) {
	t.Helper()
	wants := []string{"+ Secret " + ns + "/" + name + "-credentials, ", "+ Service " + ns + "/" + name + "-ro",
		"+ ConfigMap " + ns + "/" + name + "-config", "+ StatefulSet " + ns + "/" + name + "-replica"}
	var notes []string
	waitFor(t, 20*time.Second, "the Applied Events", func() bool {
		list := &eventsv1.EventList{}
		if err := env.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		notes = notes[:0]
		for _, ev := range list.Items {
			if ev.Reason != "Applied" || ev.Regarding.Name != name {
				continue
			}
			if ev.Series != nil {
				t.Errorf("Applied Event %q is a series of %d", ev.Note, ev.Series.Count)
			}
			notes = append(notes, ev.Note)
		}
		all := strings.Join(notes, "\n")
		for _, w := range wants {
			if !strings.Contains(all, w) {
				return false
			}
		}
		return true
	})
	if len(notes) != 3 {
		t.Errorf("%d Applied Events for a cold Database, want 3 (Provisioning, Configuring, Deploying):\n%s", len(notes), strings.Join(notes, "\n"))
	}
}

func TestControllerDependencyDownThenUp(t *testing.T) {
	ns := env.Namespace(t)
	env.SimulateRollouts(t, ns)
	var up atomic.Bool
	var checks atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checks.Add(1)
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	rc := startController(t, ns, "--breaker-threshold", "1000")
	createDatabase(t, ns, testdb.Postgres("", "orders", 1, "  dependencies: [{name: billing, url: \""+srv.URL+"/healthz\"}]\n"))
	waitFor(t, 20*time.Second, "ExternalSystemUnavailable", func() bool {
		c := getDatabase(t, ns, "orders").Condition(v1alpha1.ConditionDependenciesAvailable)
		return c != nil && c.Reason == v1alpha1.ReasonExternalSystemUnavailable
	})
	// No busy loop: backoff from 200ms doubling to 2s (±20%): at most ~8 checks and
	// ~16 steps' requests in 6s.
	before, reqBefore := checks.Load(), rc.clients.Requests.Total()
	time.Sleep(6 * time.Second)
	if n := checks.Load() - before; n > 8 || n < 2 {
		t.Errorf("%d dependency checks in 6s", n)
	}
	if n := rc.clients.Requests.Total() - reqBefore; n > 150 {
		t.Errorf("%d API requests in 6s waiting for a dependency: %s", n, rc.clients.Requests)
	}
	up.Store(true)
	waitFor(t, 20*time.Second, "Ready once the dependency is up", func() bool { return getDatabase(t, ns, "orders").IsReady() })
}

// The CLI and the controller write with one field manager: a reconcile while the
// controller runs is a no-op for both, and nothing flaps.
func TestControllerAndCLITogether(t *testing.T) {
	f := newPlanFixture(t)
	env.SimulateRollouts(t, f.ns)
	startController(t, f.ns)
	file := f.file("orders.yaml", f.postgres("orders", 3, ""))
	f.reconcile(file) // the CLI creates the Database; both drive it
	waitFor(t, 20*time.Second, "Ready", func() bool { return getDatabase(t, f.ns, "orders").IsReady() })
	time.Sleep(time.Second)
	before := inventory(t)
	for range 3 {
		out, errOut := f.reconcile(file)
		if !strings.Contains(out, "Ready") || strings.Contains(errOut, "conflict") {
			t.Fatalf("reconcile beside the controller:\n%s%s", out, errOut)
		}
	}
	time.Sleep(2 * time.Second)
	requireSameInventory(t, "the CLI and the controller together", before, inventory(t))
	// A spec change from the CLI: the controller follows it, no conflict either way.
	changed := f.file("orders.yaml", f.postgres("orders", 1, ""))
	f.reconcile(changed)
	time.Sleep(2 * time.Second)
	before = inventory(t)
	time.Sleep(2 * time.Second)
	requireSameInventory(t, "after a change, no flapping", before, inventory(t))
	if !getDatabase(t, f.ns, "orders").IsReady() {
		t.Error("not Ready")
	}
}
