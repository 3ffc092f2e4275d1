package reconcile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/resilience"
)

// The engine's orchestration without an API server: the step loop, the retry and
// conflict paths, which decision writes what. memCluster plays the cluster.

func unitDB(mutate ...func(*v1alpha1.Database)) *v1alpha1.Database {
	r := int32(3)
	db := &v1alpha1.Database{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop"},
		Spec: v1alpha1.DatabaseSpec{Engine: v1alpha1.EnginePostgres, Version: "16", Replicas: &r,
			Storage: v1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}},
	}
	db.Default()
	for _, m := range mutate {
		m(db)
	}
	return db
}

// unitEngine returns an engine on m whose retries take a few microseconds.
func unitEngine(m *memCluster) (*Engine, *[]Event) {
	var (
		mu     sync.Mutex
		events []Event
	)
	e := &Engine{
		Retry: resilience.Policy{Initial: 20 * time.Microsecond, Max: 50 * time.Microsecond},
		Events: func(ev Event) {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		},
		cluster: m,
	}
	return e, &events
}

func reconcileUnit(t *testing.T, e *Engine, timeout time.Duration) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return e.Reconcile(ctx, Target{Namespace: "shop", Name: "orders"})
}

func transitions(r *Result) string {
	var out []string
	for _, t := range r.Transitions {
		out = append(out, t.String())
	}
	return strings.Join(out, ", ")
}

func TestUnitColdRunThenNoOp(t *testing.T) {
	m := newMemCluster(unitDB())
	e, _ := unitEngine(m)
	r := reconcileUnit(t, e, 10*time.Second)
	if r.Outcome != OutcomeReady {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	want := "Pending → Provisioning, Provisioning → Configuring, Configuring → Deploying, Deploying → Verifying, Verifying → Ready"
	if got := transitions(r); got != want {
		t.Errorf("transitions %s\nwant %s", got, want)
	}
	wantOps := []string{"create Secret/orders-credentials", "apply Secret/orders-credentials",
		"create Secret/orders-replication", "apply Secret/orders-replication", "apply Service/orders-headless",
		"apply Service/orders", "apply Service/orders-ro", "apply ConfigMap/orders-config",
		"apply StatefulSet/orders", "apply StatefulSet/orders-replica", "apply PodDisruptionBudget/orders"}
	if got := m.writes(); !slices.Equal(got, wantOps) {
		t.Errorf("writes %v\nwant %v", got, wantOps)
	}
	if m.statusW != 5 {
		t.Errorf("%d status writes, want one per transition (5)", m.statusW)
	}
	before := m.statusW
	r = reconcileUnit(t, e, 10*time.Second)
	if r.Outcome != OutcomeReady || len(r.Transitions) > 0 || len(r.Changes) > 0 {
		t.Fatalf("second run: %s, transitions %v, changes %d", r.Outcome, r.Transitions, len(r.Changes))
	}
	if got := m.writes(); len(got) > 0 || m.statusW != before {
		t.Errorf("the second run wrote %v and %d statuses", got, m.statusW-before)
	}
}

func TestUnitDecisionWritesOnlyItsPhase(t *testing.T) {
	m := newMemCluster(unitDB())
	e, _ := unitEngine(m)
	if r := reconcileUnit(t, e, 10*time.Second); r.Outcome != OutcomeReady {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	m.writes()
	// The ConfigMap deleted while the Database is Verifying: Configuring again, and
	// only its child and the StatefulSet's phase are written.
	m.mu.Lock()
	delete(m.objs, phases.Ref{Kind: phases.KindConfigMap, Name: "orders-config"})
	m.db.Status.Phase = v1alpha1.PhaseVerifying
	m.mu.Unlock()
	r := reconcileUnit(t, e, 10*time.Second)
	if r.Outcome != OutcomeReady {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	if got, want := m.writes(), []string{"apply ConfigMap/orders-config"}; !slices.Equal(got, want) {
		t.Errorf("writes %v, want %v", got, want)
	}
	if got, want := transitions(r), "Configuring → Deploying, Deploying → Verifying, Verifying → Ready"; got != want {
		t.Errorf("transitions %s, want %s", got, want)
	}
}

func unavailable() error { return kerrors.NewServiceUnavailable("etcd is restarting") }

// A faulty API server: every operation fails transiently with probability p. The
// run always ends Ready, never as non-convergence: failed attempts are retried and
// do not count as writes.
func TestUnitTransientFaultsAreNotNonConvergence(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		m := newMemCluster(unitDB())
		m.fault = func(op, obj string) error {
			if rng.Float64() < 0.1 {
				return unavailable()
			}
			return nil
		}
		e, _ := unitEngine(m)
		r := reconcileUnit(t, e, 30*time.Second)
		if r.Outcome != OutcomeReady {
			t.Fatalf("seed %d: outcome %s: %s", seed, r.Outcome, r.Message)
		}
	}
}

// Something changes the StatefulSet back after every apply: the run stops as an
// error naming what keeps drifting.
func TestUnitNonConvergence(t *testing.T) {
	m := newMemCluster(unitDB())
	m.afterApply = func(u *unstructured.Unstructured) {
		if u.GetKind() == phases.KindStatefulSet && u.GetName() == "orders-replica" {
			_ = unstructured.SetNestedField(u.Object, int64(7), "spec", "replicas")
		}
	}
	e, _ := unitEngine(m)
	r := reconcileUnit(t, e, 30*time.Second)
	if r.Outcome != OutcomeError || !strings.Contains(r.Message, "do not converge") ||
		!strings.Contains(r.Message, "StatefulSet orders-replica differs from the spec (spec.replicas)") {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
}

func TestUnitStatusConflictDecidesAgain(t *testing.T) {
	m := newMemCluster(unitDB())
	conflicts := 0
	m.fault = func(op, obj string) error {
		if op == "status" && conflicts < 2 {
			conflicts++
			// Another run wrote the Database meanwhile.
			m.db.ResourceVersion = m.nextRV()
		}
		return nil
	}
	e, _ := unitEngine(m)
	if r := reconcileUnit(t, e, 10*time.Second); r.Outcome != OutcomeReady {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	if conflicts != 2 {
		t.Errorf("%d conflicts injected", conflicts)
	}
}

// Another run creates the credentials Secret between this run's read and its
// create: this run takes the other run's password.
func TestUnitSecretRaceKeepsTheFirstPassword(t *testing.T) {
	m := newMemCluster(unitDB())
	raced := false
	m.fault = func(op, obj string) error {
		if op == "create" && !raced {
			raced = true
			other, err := phases.Desired(m.db, phases.Inputs{Password: "the-other-runs-password"})
			if err != nil {
				return err
			}
			if _, err := m.store(other[0].Desired, nil); err != nil {
				return err
			}
		}
		return nil
	}
	e, _ := unitEngine(m)
	if r := reconcileUnit(t, e, 10*time.Second); r.Outcome != OutcomeReady {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	sec := m.objs[phases.Ref{Kind: phases.KindSecret, Name: "orders-credentials"}]
	if pw, err := secretPassword(sec); err != nil || pw != "the-other-runs-password" {
		t.Errorf("the Secret's password was replaced (%v)", err)
	}
}

func TestUnitPermanentErrorsStopAtOnce(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "statefulsets"}
	tests := map[string]struct {
		err     error
		outcome Outcome
		phase   v1alpha1.Phase
		message string
	}{
		"another applier's fields": {&ConflictError{Kind: "StatefulSet", Namespace: "shop", Name: "orders", Conflicts: []string{"argocd: .spec.replicas"}},
			OutcomeError, v1alpha1.PhaseDeploying, "argocd: .spec.replicas"},
		"forbidden": {kerrors.NewForbidden(gr, "orders", errors.New("no")), OutcomeError, v1alpha1.PhaseDeploying, "forbidden"},
		"invalid":   {kerrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "orders", nil), OutcomeFailed, v1alpha1.PhaseFailed, "the API server rejected a child"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := newMemCluster(unitDB())
			attempts := 0
			m.fault = func(op, obj string) error {
				if op == "apply" && obj == "StatefulSet/orders" {
					attempts++
					return tc.err
				}
				return nil
			}
			e, _ := unitEngine(m)
			r := reconcileUnit(t, e, 10*time.Second)
			if r.Outcome != tc.outcome || r.Phase != tc.phase || !strings.Contains(r.Message, tc.message) {
				t.Fatalf("outcome %s phase %s: %s", r.Outcome, r.Phase, r.Message)
			}
			if attempts != 1 {
				t.Errorf("%d attempts: a permanent error was retried", attempts)
			}
		})
	}
}

// A PostgreSQL major version change is refused before any write: the machine
// decides it (Decide), the engine writes only the Failed status.
func TestUnitRefusalWritesNothing(t *testing.T) {
	m := newMemCluster(unitDB())
	e, _ := unitEngine(m)
	if r := reconcileUnit(t, e, 10*time.Second); r.Outcome != OutcomeReady {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	m.writes()
	m.mu.Lock()
	m.db.Spec.Version, m.db.Generation = "17", m.db.Generation+1
	m.mu.Unlock()
	r := reconcileUnit(t, e, 10*time.Second)
	if r.Outcome != OutcomeFailed || !strings.Contains(r.Message, "spec.version cannot change PostgreSQL from 16 to 17") {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	if got := m.writes(); len(got) > 0 {
		t.Errorf("a refused change wrote %v", got)
	}
	if c := m.db.Status.Conditions; !slices.ContainsFunc(c, func(c metav1.Condition) bool {
		return c.Type == v1alpha1.ConditionReady && c.Reason == v1alpha1.ReasonApplyRejected
	}) {
		t.Errorf("conditions %+v", c)
	}
}

func TestUnitRetryableStops(t *testing.T) {
	t.Run("rollout never finishes", func(t *testing.T) {
		m := newMemCluster(unitDB())
		m.noRollout = true
		e, _ := unitEngine(m)
		r := reconcileUnit(t, e, 300*time.Millisecond)
		if r.Outcome != OutcomeNotReady || r.Phase != v1alpha1.PhaseVerifying || r.Outcome.ExitCode() != 3 {
			t.Fatalf("outcome %s phase %s: %s", r.Outcome, r.Phase, r.Message)
		}
	})
	t.Run("the API server down", func(t *testing.T) {
		m := newMemCluster(unitDB())
		m.fault = func(string, string) error { return unavailable() }
		e, _ := unitEngine(m)
		r := reconcileUnit(t, e, 200*time.Millisecond)
		if r.Outcome != OutcomeNotReady {
			t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
		}
	})
	t.Run("a dependency down", func(t *testing.T) {
		m := newMemCluster(unitDB(func(db *v1alpha1.Database) {
			db.Spec.Dependencies = []v1alpha1.Dependency{{Name: "vault", TCP: "vault.internal:8200"}}
		}))
		e, _ := unitEngine(m) // no dependency checker: every dependency is unavailable
		r := reconcileUnit(t, e, 200*time.Millisecond)
		if r.Outcome != OutcomeNotReady || r.Phase != v1alpha1.PhasePending || !strings.Contains(r.Message, `dependency "vault"`) {
			t.Fatalf("outcome %s phase %s: %s", r.Outcome, r.Phase, r.Message)
		}
		if got := m.writes(); len(got) > 0 {
			t.Errorf("wrote %v while a dependency was down", got)
		}
	})
	t.Run("a Failed Database's backoff window after the deadline", func(t *testing.T) {
		m := newMemCluster(unitDB(func(db *v1alpha1.Database) {
			now := metav1.Now()
			db.Status = v1alpha1.DatabaseStatus{Phase: v1alpha1.PhaseFailed, LastFailureTime: &now, RetryCount: 6}
		}))
		e, _ := unitEngine(m)
		r := reconcileUnit(t, e, 200*time.Millisecond)
		if r.Outcome != OutcomeNotReady || r.RetryAt.IsZero() || !strings.Contains(r.Message, "after this run's --timeout") {
			t.Fatalf("outcome %s retry %s: %s", r.Outcome, r.RetryAt, r.Message)
		}
	})
}

func TestUnitMissingDatabase(t *testing.T) {
	m := newMemCluster(unitDB())
	m.db.Name = "other"
	e, _ := unitEngine(m)
	r := reconcileUnit(t, e, time.Second)
	var nf *NotFoundError
	if r.Outcome != OutcomeError || !errors.As(r.Err, &nf) {
		t.Fatalf("outcome %s: %v", r.Outcome, r.Err)
	}
	_ = fmt.Sprint(r)
}
