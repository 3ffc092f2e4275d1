package controller

import (
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/resilience"
)

type nopRecorder struct{ events []string }

func (r *nopRecorder) Eventf(_ runtime.Object, _ runtime.Object, _, reason, _, _ string, _ ...interface{}) {
	r.events = append(r.events, reason)
}

// When the next step comes: at once after progress, at the time the step names,
// after the SPEC §5 backoff (growing, per Database, reset by progress), never in a
// busy loop.
func TestNextStep(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	rec := &nopRecorder{}
	c := &Reconciler{Policy: resilience.Policy{Initial: time.Second, Max: 8 * time.Second, Jitter: -1}, Recorder: rec,
		Log: logr.Discard(), Now: func() time.Time { return now }}
	key := types.NamespacedName{Namespace: "shop", Name: "orders"}
	db := &v1alpha1.Database{}
	change := []reconcile.Change{{Action: reconcile.ActionUpdate, Kind: "ConfigMap", Name: "orders-config"}}
	steps := []struct {
		name string
		res  reconcile.StepResult
		want time.Duration
	}{
		{"progress", reconcile.StepResult{Again: true, Changes: change}, again},
		{"a dependency down", reconcile.StepResult{Backoff: true}, time.Second},
		{"still down", reconcile.StepResult{Backoff: true}, 2 * time.Second},
		{"still down", reconcile.StepResult{Backoff: true}, 4 * time.Second},
		{"still down", reconcile.StepResult{Backoff: true}, 8 * time.Second},
		{"at most retry-max", reconcile.StepResult{Backoff: true}, 8 * time.Second},
		{"the rollout, until its deadline", reconcile.StepResult{At: now.Add(10 * time.Minute)}, 10 * time.Minute},
		{"a step failed: the backoff starts over", reconcile.StepResult{Backoff: true, Err: errTest}, time.Second},
		{"a deadline just passed", reconcile.StepResult{At: now.Add(-time.Second)}, minAt},
		{"Ready: only events", reconcile.StepResult{Outcome: reconcile.OutcomeReady}, 0},
	}
	for _, s := range steps {
		s.res.Database = db
		if got := c.next(key, &s.res).RequeueAfter; got != s.want {
			t.Errorf("%s: requeue after %s, want %s", s.name, got, s.want)
		}
	}
	// Writing steps that never reach a wait: the thirteenth backs off, with an Event.
	for i := 1; i <= maxWritingSteps+1; i++ {
		got := c.next(key, &reconcile.StepResult{Again: true, Changes: change, Database: db}).RequeueAfter
		if i <= maxWritingSteps && got != again || i == maxWritingSteps+1 && got != time.Second {
			t.Fatalf("writing step %d: requeue after %s", i, got)
		}
	}
	if len(rec.events) != 1 || rec.events[0] != "NotConverging" {
		t.Errorf("events %v", rec.events)
	}
}

var errTest = errTestType("boom")

type errTestType string

func (e errTestType) Error() string { return string(e) }
