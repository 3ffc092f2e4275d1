package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/reconcile/redact"
	"github.com/dbctl-io/dbctl/resilience"
)

// maxWritingSteps bounds the consecutive steps of one Database that wrote and asked
// for the next step at once: a cold Database takes three (Provisioning,
// Configuring, Deploying), a hand edit one more. Beyond it the children do not
// converge (something changes them back, as `reconcile` reports with exit 1): the
// Database is stepped again after a backoff, not in a busy loop.
const maxWritingSteps = 12

// again is how soon a step that made progress is followed by the next: at once, through
// the work queue (which merges it with the events the step's writes cause).
const again = time.Millisecond

// minAt is the shortest wait for a step asked at a time (a retry window, a deadline).
const minAt = 100 * time.Millisecond

// Reconciler is controller-runtime's reconcile.Reconciler for Databases: each call
// is one engine step (reconcile.Engine.Step), never a wait; what `dbctl reconcile`
// waits for becomes a requeue. It is safe for concurrent use (the work queue never
// hands one Database to two workers at once).
type Reconciler struct {
	Engine *reconcile.Engine
	// Policy is the backoff between steps that failed or wait for a dependency
	// (SPEC §5), one schedule per Database.
	Policy   resilience.Policy
	Recorder events.EventRecorder
	Metrics  *Metrics
	Log      logr.Logger
	// Secrets redacts the passwords the engine has seen from event and log messages.
	Secrets *redact.Set
	Now     func() time.Time

	mu    sync.Mutex
	items map[types.NamespacedName]*item
}

// item is what the controller remembers of one Database between steps.
type item struct {
	backoff backoff.BackOff
	// writing counts the consecutive steps that wrote and asked for another at once.
	writing int
}

// Reconcile runs one step of the Database and says when to run the next.
func (c *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	res := c.Engine.Step(ctx, req.Namespace, req.Name)
	if res.Gone {
		c.forget(req.NamespacedName)
		c.Metrics.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	c.Metrics.observe(req.NamespacedName, res)
	c.record(res)
	return c.next(req.NamespacedName, res), nil
}

// next is when to step the Database again.
func (c *Reconciler) next(key types.NamespacedName, res *reconcile.StepResult) ctrl.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	it := c.items[key]
	if it == nil {
		it = &item{backoff: c.Policy.Schedule()}
		if c.items == nil {
			c.items = map[types.NamespacedName]*item{}
		}
		c.items[key] = it
	}
	if res.Again && len(res.Changes) > 0 {
		it.writing++
	}
	switch {
	case res.Backoff:
		wait := it.backoff.NextBackOff()
		c.Log.V(1).Info("step again after a backoff", "database", key, "after", wait, "reason", c.redacted(res.Message))
		return ctrl.Result{RequeueAfter: wait}
	case it.writing > maxWritingSteps:
		it.writing = 0
		wait := it.backoff.NextBackOff()
		msg := fmt.Sprintf("the children do not converge: %d steps in a row wrote them; stepping again in %s", maxWritingSteps, wait.Round(time.Second))
		c.Log.Info(msg, "database", key)
		if res.Database != nil {
			c.Recorder.Eventf(res.Database, nil, corev1.EventTypeWarning, "NotConverging", "Reconcile", "%s", msg)
		}
		return ctrl.Result{RequeueAfter: wait}
	}
	it.backoff.Reset()
	switch {
	case res.Again:
		return ctrl.Result{RequeueAfter: again}
	case !res.At.IsZero():
		it.writing = 0
		return ctrl.Result{RequeueAfter: max(res.At.Sub(c.now()), minAt)}
	default:
		it.writing = 0
		return ctrl.Result{}
	}
}

func (c *Reconciler) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.items, key)
}

// record turns the step into Events on the Database and log lines: each phase
// transition, the changes written (one Event), an error.
func (c *Reconciler) record(res *reconcile.StepResult) {
	db := res.Database
	if db == nil {
		if res.Err != nil {
			c.Log.Info("step failed", "error", c.redacted(res.Message))
		}
		return
	}
	key := types.NamespacedName{Namespace: db.Namespace, Name: db.Name}
	for _, t := range res.Transitions {
		kind := corev1.EventTypeNormal
		if t.To == "Failed" {
			kind = corev1.EventTypeWarning
		}
		c.Recorder.Eventf(db, nil, kind, "Phase"+string(t.To), "Reconcile", "%s → %s: %s", t.From, t.To, c.redacted(res.Message))
		c.Log.Info("phase", "database", key, "from", t.From, "to", t.To, "message", c.redacted(res.Message))
	}
	if len(res.Changes) > 0 {
		changes := make([]string, len(res.Changes))
		for i, ch := range res.Changes {
			changes[i] = ch.Action.Symbol() + " " + ch.ID()
		}
		// One Event per step, its action the phase: the events API merges Events of
		// the same type, action, reason and object into a series that keeps only the
		// first note, so one Event per change (or one action for every step) lost the
		// changes of all but the first and closed each series with a PATCH later.
		phase := res.Changes[0].Phase
		if phase == "" {
			phase = res.Phase
		}
		c.Recorder.Eventf(db, nil, corev1.EventTypeNormal, "Applied", string(phase), "%s", appliedNote(changes))
		c.Log.Info("applied", "database", key, "phase", phase, "changes", changes)
	}
	if res.Err != nil {
		c.Recorder.Eventf(db, nil, corev1.EventTypeWarning, "ReconcileError", "Reconcile", "%s", c.redacted(res.Message))
		c.Log.Info("step failed", "database", key, "error", c.redacted(res.Message))
	}
}

// maxNote is the longest note the API server takes on an Event (events.k8s.io/v1).
const maxNote = 1024

// appliedNote lists the changes of a step, as many as fit in an Event's note.
func appliedNote(changes []string) string {
	note := ""
	for i, ch := range changes {
		next := ch
		if i > 0 {
			next = ", " + ch
		}
		more := fmt.Sprintf(" and %d more", len(changes)-i)
		if len(note)+len(next)+len(more) > maxNote {
			return note + more
		}
		note += next
	}
	return note
}

func (c *Reconciler) redacted(msg string) string {
	if c.Secrets == nil {
		return msg
	}
	return c.Secrets.String(msg)
}

func (c *Reconciler) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}
