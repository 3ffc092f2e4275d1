package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
)

// Step, the controller's driver: one step per call, never a wait; what Reconcile
// waits for is said (Again, At, Backoff) instead.
func TestUnitStepDrivesToReadyWithoutWaiting(t *testing.T) {
	m := newMemCluster(unitDB())
	e, _ := unitEngine(m)
	ctx := context.Background()
	var phasesSeen []string
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatalf("not Ready after %d steps: %s", i, strings.Join(phasesSeen, " "))
		}
		res := e.Step(ctx, "shop", "orders")
		phasesSeen = append(phasesSeen, string(res.Phase))
		if res.Outcome == OutcomeReady {
			break
		}
		switch {
		case res.Err != nil || res.Backoff:
			t.Fatalf("step %d: %s", i, res.Message)
		case res.Phase == v1alpha1.PhaseVerifying && !res.Again:
			// Waiting for the rollout: come back at the verify deadline at the latest.
			if res.At.IsZero() || res.At.Before(time.Now()) {
				t.Fatalf("waiting for the rollout without a deadline: %+v", res)
			}
			m.mu.Lock()
			m.rollOut("orders")
			m.rollOut("orders-replica")
			m.mu.Unlock()
		case !res.Again:
			t.Fatalf("step %d (%s) neither ready, waiting nor progressing: %+v", i, res.Phase, res)
		}
	}
	if got := strings.Join(phasesSeen, " "); got != "Provisioning Configuring Deploying Verifying Verifying Ready" {
		t.Errorf("phases: %s", got)
	}
	// Ready: a step writes nothing and asks for nothing.
	m.writes()
	res := e.Step(ctx, "shop", "orders")
	if res.Outcome != OutcomeReady || res.Again || !res.At.IsZero() || res.Backoff || len(m.writes()) > 0 {
		t.Errorf("a step of a Ready Database: %+v", res)
	}
}

func TestUnitStepStops(t *testing.T) {
	ctx := context.Background()
	t.Run("gone", func(t *testing.T) {
		m := newMemCluster(unitDB())
		m.db = nil
		e, _ := unitEngine(m)
		if res := e.Step(ctx, "shop", "orders"); !res.Gone {
			t.Errorf("%+v", res)
		}
	})
	t.Run("a failed write backs off", func(t *testing.T) {
		m := newMemCluster(unitDB())
		m.fault = func(op, obj string) error {
			if op == "create" {
				return errors.New("boom")
			}
			return nil
		}
		e, _ := unitEngine(m)
		if res := e.Step(ctx, "shop", "orders"); !res.Again { // Pending → Provisioning writes nothing
			t.Fatalf("%+v", res)
		}
		res := e.Step(ctx, "shop", "orders")
		if !res.Backoff || res.Err == nil || res.Outcome != OutcomeError {
			t.Errorf("%+v", res)
		}
	})
	t.Run("a dependency down backs off", func(t *testing.T) {
		m := newMemCluster(unitDB(func(db *v1alpha1.Database) {
			db.Spec.Dependencies = []v1alpha1.Dependency{{Name: "billing", URL: "http://127.0.0.1:1/healthz"}}
		}))
		e, _ := unitEngine(m)
		res := e.Step(ctx, "shop", "orders")
		if !res.Backoff || res.Err != nil || res.Dependencies == nil || res.Dependencies.Available() {
			t.Errorf("%+v", res)
		}
	})
	t.Run("Failed comes back at its retry time", func(t *testing.T) {
		m := newMemCluster(unitDB(func(db *v1alpha1.Database) {
			db.Status.Phase = v1alpha1.PhaseFailed
			now := metav1.Now()
			db.Status.LastFailureTime = &now
		}))
		e, _ := unitEngine(m)
		res := e.Step(ctx, "shop", "orders")
		if res.Outcome != OutcomeFailed || res.At.IsZero() || !res.At.Equal(phases.RetryAt(res.Database)) {
			t.Errorf("%+v", res)
		}
	})
}
