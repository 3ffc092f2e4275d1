package reconcile_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/resilience"
)

// dependency is a local HTTP server (or TCP listener) that fails on command and
// counts the requests that reach it.
type dependency struct {
	healthy  atomic.Bool
	requests atomic.Int64
	srv      *httptest.Server
}

func newDependency(t *testing.T) *dependency {
	d := &dependency{}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.requests.Add(1)
		if !d.healthy.Load() {
			http.Error(w, "backup store down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(d.srv.Close)
	return d
}

// breakerHarness is a harness whose dependency checks use a breaker with a fake clock
// (the cool-off passes without sleeping) and a state file of the test's own.
func breakerHarness(t *testing.T, statePath string, warnings *[]string) (*harness, *clocktesting.FakePassiveClock) {
	h := newHarness(t)
	h.simulateRollouts()
	clk := clocktesting.NewFakePassiveClock(time.Now())
	var mu sync.Mutex
	h.engine.Dependencies = &reconcile.DependencyChecker{Guard: &resilience.Guard{
		Limiters: resilience.NewLimiters(1000, 1),
		Store: resilience.NewStore(statePath, func(msg string) {
			mu.Lock()
			*warnings = append(*warnings, msg)
			mu.Unlock()
		}),
		Settings: resilience.Settings{Threshold: 3, Cooldown: time.Minute},
		Clock:    clk,
	}}
	return h, clk
}

func TestDependencyBreakerAcrossRuns(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "state", "breakers.json")
	var warnings []string
	h, clk := breakerHarness(t, statePath, &warnings)
	dep := newDependency(t)
	tgt := h.target(postgres("orders", 1, fmt.Sprintf("  dependencies:\n  - {name: backup-store, url: %q, timeout: 1s}", dep.srv.URL+"/healthz?token=s3cr3t")))

	// Run 1: the dependency fails; retried with backoff until the breaker opens at
	// the threshold; then the run stops at once, retryable.
	r := h.reconcile(tgt, 20*time.Second)
	requireOutcome(t, r, reconcile.OutcomeNotReady)
	if n := dep.requests.Load(); n != 3 {
		t.Errorf("requests before the breaker opened: %d, want 3 (the threshold)", n)
	}
	if !strings.Contains(r.Message, "next probe at") || r.RetryAt.IsZero() {
		t.Errorf("result: %s (retry at %v)", r.Message, r.RetryAt)
	}
	db := &v1alpha1.Database{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: "orders"}, db); err != nil {
		t.Fatal(err)
	}
	c := db.Condition(v1alpha1.ConditionDependenciesAvailable)
	if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, `"backup-store"`) {
		t.Errorf("DependenciesAvailable = %+v", c)
	}
	if rc := db.Condition(v1alpha1.ConditionReady); rc == nil || rc.Reason != v1alpha1.ReasonExternalSystemUnavailable {
		t.Errorf("Ready = %+v", rc)
	}
	if db.Status.Phase != v1alpha1.PhasePending {
		t.Errorf("phase %s, want Pending (nothing provisioned while a dependency is down)", db.Status.Phase)
	}
	state, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(state), "s3cr3t") || !strings.Contains(string(state), `"open"`) {
		t.Errorf("state file: %s", state)
	}

	// Run 2: the breaker is open: no request reaches the dependency.
	dep.requests.Store(0)
	r = h.reconcile(tgt, 20*time.Second)
	requireOutcome(t, r, reconcile.OutcomeNotReady)
	if n := dep.requests.Load(); n != 0 {
		t.Errorf("an open breaker let %d requests through", n)
	}

	// After the cool-off, exactly one probe; it fails: open again.
	clk.SetTime(clk.Now().Add(61 * time.Second))
	r = h.reconcile(tgt, 20*time.Second)
	requireOutcome(t, r, reconcile.OutcomeNotReady)
	if n := dep.requests.Load(); n != 1 {
		t.Errorf("probes after the cool-off: %d, want 1", n)
	}

	// The dependency recovers; after the next cool-off the probe closes the breaker
	// and the Database reaches Ready.
	dep.healthy.Store(true)
	clk.SetTime(clk.Now().Add(61 * time.Second))
	r = h.reconcile(tgt, time.Minute)
	requireOutcome(t, r, reconcile.OutcomeReady)
	sf, err := resilience.NewStore(statePath, nil).Load()
	if err != nil {
		t.Fatal(err)
	}
	if rec := sf.Breakers["backup-store"]; rec == nil || rec.CurrentState() != resilience.StateClosed {
		t.Errorf("breaker after recovery: %+v", rec)
	}

	// A corrupt state file is reported with its path and survived.
	if err := os.WriteFile(statePath, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	h2, _ := breakerHarness(t, statePath, &warnings)
	tgt2 := h2.target(postgres("orders", 1, fmt.Sprintf("  dependencies:\n  - {name: backup-store, url: %q}", dep.srv.URL)))
	requireOutcome(t, h2.reconcile(tgt2, time.Minute), reconcile.OutcomeReady)
	found := false
	for _, w := range warnings {
		found = found || (strings.Contains(w, statePath) && strings.Contains(w, "corrupt"))
	}
	if !found {
		t.Errorf("no warning naming the corrupt state file: %q", warnings)
	}
	if _, err := resilience.NewStore(statePath, func(string) { t.Error("still corrupt after a run") }).Load(); err != nil {
		t.Fatal(err)
	}
}

func TestTCPDependency(t *testing.T) {
	var warnings []string
	h, _ := breakerHarness(t, filepath.Join(t.TempDir(), "breakers.json"), &warnings)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tgt := h.target(postgres("orders", 1, fmt.Sprintf("  dependencies:\n  - {name: queue, tcp: %q}", addr)))
	requireOutcome(t, h.reconcile(tgt, time.Minute), reconcile.OutcomeReady)

	// The listener goes away: the next change waits on it, retryably.
	l.Close()
	tgt = h.target(postgres("orders", 2, fmt.Sprintf("  dependencies:\n  - {name: queue, tcp: %q}", addr)))
	r := h.reconcile(tgt, 3*time.Second)
	requireOutcome(t, r, reconcile.OutcomeNotReady)
	if !strings.Contains(r.Message, `"queue"`) {
		t.Errorf("message %s", r.Message)
	}
}

// faultProxy forwards to the API server and, at the given rate, answers 500, 503 or
// 429 instead, or drops the connection.
type faultProxy struct {
	rate     float64
	injected atomic.Int64
	total    atomic.Int64
}

func (p *faultProxy) start(t *testing.T, cfg *rest.Config) *rest.Config {
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	rp.FlushInterval = -1 // stream watches
	rp.ErrorLog = nil
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.total.Add(1)
		if chance(p.rate) {
			p.injected.Add(1)
			switch n, _ := rand.Int(rand.Reader, big.NewInt(4)); n.Int64() {
			case 0:
				http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected","reason":"InternalError","code":500}`, 500)
			case 1:
				http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected","reason":"ServiceUnavailable","code":503}`, 503)
			case 2:
				http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected","reason":"TooManyRequests","code":429}`, 429)
			default:
				if hj, ok := w.(http.Hijacker); ok {
					c, _, _ := hj.Hijack()
					c.Close()
					return
				}
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL, QPS: -1}
}

func chance(p float64) bool {
	n, _ := rand.Int(rand.Reader, big.NewInt(1000))
	return float64(n.Int64()) < p*1000
}

func TestReconcileThroughAFaultyAPIServer(t *testing.T) {
	h := newHarness(t)
	h.simulateRollouts()
	proxy := &faultProxy{rate: 0.25}
	clients, err := cmdutil.NewClients(proxy.start(t, env.Config), h.ns, true, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.engine.Client = clients.Client
	var passwords []string
	for i, spec := range []string{postgres("orders", 3, ""), postgres("orders", 2, "  parameters: {max_connections: \"150\"}"), postgres("orders", 2, "")} {
		r := h.reconcile(h.target(spec), 2*time.Minute)
		requireOutcome(t, r, reconcile.OutcomeReady)
		passwords = append(passwords, h.password("orders"))
		t.Logf("run %d: %d transitions, %d changes", i, len(r.Transitions), len(r.Changes))
	}
	if proxy.injected.Load() == 0 {
		t.Fatal("no fault was injected")
	}
	t.Logf("%d of %d requests failed on purpose", proxy.injected.Load(), proxy.total.Load())
	if passwords[0] != passwords[1] || passwords[1] != passwords[2] {
		t.Error("the password changed")
	}
	// Exactly one of each child.
	var secrets corev1.SecretList
	var sets appsv1.StatefulSetList
	if err := env.Client.List(context.Background(), &secrets, client.InNamespace(h.ns)); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.List(context.Background(), &sets, client.InNamespace(h.ns)); err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 2 || len(sets.Items) != 2 {
		t.Errorf("%d Secrets and %d StatefulSets, want 2 each (credentials and replication; primary and replicas)", len(secrets.Items), len(sets.Items))
	}
	_ = io.Discard
}
