package controller

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/resilience"
)

type nopRecorder struct {
	events []string
	// keys are what the events API merges Events by (with the object): type, action,
	// reason; notes the rendered notes.
	keys, notes []string
}

func (r *nopRecorder) Eventf(_ runtime.Object, _ runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	r.events = append(r.events, reason)
	r.keys = append(r.keys, eventtype+"/"+action+"/"+reason)
	r.notes = append(r.notes, fmt.Sprintf(note, args...))
}

// The changes of a step are one Event that lists them all, and the steps of a cold
// Database are Events the events API does not merge into one series (which keeps
// the first note only and is closed by a PATCH minutes later).
func TestAppliedEvents(t *testing.T) {
	rec := &nopRecorder{}
	c := &Reconciler{Recorder: rec, Log: logr.Discard()}
	db := &v1alpha1.Database{}
	steps := []struct {
		phase   v1alpha1.Phase
		changes []reconcile.Change
		want    string
	}{
		{v1alpha1.PhaseProvisioning, []reconcile.Change{
			{Action: reconcile.ActionCreate, Kind: "Secret", Namespace: "shop", Name: "orders-credentials"},
			{Action: reconcile.ActionCreate, Kind: "Secret", Namespace: "shop", Name: "orders-replication"},
		}, "+ Secret shop/orders-credentials, + Secret shop/orders-replication"},
		{v1alpha1.PhaseConfiguring, []reconcile.Change{
			{Action: reconcile.ActionCreate, Kind: "ConfigMap", Namespace: "shop", Name: "orders-config"},
		}, "+ ConfigMap shop/orders-config"},
		{v1alpha1.PhaseDeploying, []reconcile.Change{
			{Action: reconcile.ActionCreate, Kind: "Service", Namespace: "shop", Name: "orders"},
			{Action: reconcile.ActionCreate, Kind: "Service", Namespace: "shop", Name: "orders-ro"},
			{Action: reconcile.ActionUpdate, Kind: "StatefulSet", Namespace: "shop", Name: "orders"},
		}, "+ Service shop/orders, + Service shop/orders-ro, ~ StatefulSet shop/orders"},
		{v1alpha1.PhaseVerifying, nil, ""},
	}
	for _, s := range steps {
		c.record(&reconcile.StepResult{Database: db, Phase: s.phase, Changes: s.changes})
	}
	if want := []string{"+ Secret shop/orders-credentials, + Secret shop/orders-replication", "+ ConfigMap shop/orders-config",
		"+ Service shop/orders, + Service shop/orders-ro, ~ StatefulSet shop/orders"}; !slices.Equal(rec.notes, want) {
		t.Errorf("notes\n%q\nwant\n%q", rec.notes, want)
	}
	seen := map[string]bool{}
	for _, k := range rec.keys {
		if seen[k] {
			t.Errorf("two Events with key %s: the events API merges them into a series", k)
		}
		seen[k] = true
	}
}

// A step with more changes than a note holds says how many it left out, within the
// API server's limit.
func TestAppliedNoteFits(t *testing.T) {
	var changes []string
	for i := range 100 {
		changes = append(changes, fmt.Sprintf("~ ConfigMap/a-rather-long-name-%03d", i))
	}
	note := appliedNote(changes)
	if len(note) > maxNote || !strings.HasPrefix(note, changes[0]+", ") || !regexp.MustCompile(` and \d+ more$`).MatchString(note) {
		t.Errorf("note (%d bytes): %s", len(note), note)
	}
	if got := appliedNote(changes[:2]); got != changes[0]+", "+changes[1] {
		t.Errorf("two changes: %s", got)
	}
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
	change := []reconcile.Change{{Action: reconcile.ActionUpdate, Kind: "ConfigMap", Namespace: "shop", Name: "orders-config"}}
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
