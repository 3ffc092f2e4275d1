package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/redact"
	"github.com/dbctl-io/dbctl/resilience"
)

// Engine reconciles Databases. Its zero value is not usable: Client is required.
// It is safe to run Reconcile for several Databases concurrently.
type Engine struct {
	// Client talks to the cluster.
	Client client.WithWatch
	// Clock; zero means the real clock.
	Clock clock.WithTicker
	// Retry is the backoff policy for transient errors and unavailable dependencies.
	Retry resilience.Policy
	// Dependencies checks spec.dependencies; nil means no checker (every
	// dependency is then reported unavailable).
	Dependencies *DependencyChecker
	// ForceConflicts takes fields another applier owns (--force-conflicts).
	ForceConflicts bool
	// CreateNamespace creates a missing namespace (--create-namespace).
	CreateNamespace bool
	// BackupFirst takes a backup, and waits for it, before a change that restarts
	// the primary, removes replicas or recreates the StatefulSets
	// (--backup-first); a failed backup stops the run before that change.
	BackupFirst bool
	// Secrets, when set, learns every password the engine reads or generates, so
	// that the command's output streams can redact it whatever prints it.
	Secrets *redact.Set
	// Events receives progress; nil discards it. It is called from the goroutine of
	// each Database, so it must be safe for concurrent use.
	Events func(Event)

	// rollouts shares one StatefulSet watch per namespace among waiting Databases.
	rollouts rolloutWatches
	// cluster is what the step loop talks to: the API server through Client
	// (kubeCluster, built on first use), or an in-memory cluster in unit tests.
	cluster     cluster
	clusterOnce sync.Once
}

// Target is one Database to reconcile.
type Target struct {
	Namespace, Name string
	// Object is the Database as written in a file; it is server-side applied
	// before the reconcile. Nil means the Database is read from the cluster.
	Object *unstructured.Unstructured
	// Source names where Object came from, for messages ("db.yaml: document 2");
	// File and Line locate it for CI annotations (Line 0 when unknown).
	Source string
	File   string
	Line   int
	// Planned is the saved plan this target must follow (`reconcile --plan`):
	// nothing is written unless its preconditions hold, and no write it does not
	// contain. Nil for an ordinary reconcile.
	Planned *SavedDatabase
}

// maxWrites bounds the steps of one run that wrote children: a cold run takes three
// (Provisioning, Configuring, Deploying), a Database whose children were edited by
// hand one more. A step counts only when its writes succeeded; more than maxWrites
// means the children do not converge (something keeps changing them back).
const maxWrites = 12

// maxStatusConflicts bounds immediate retries after a status write conflict.
const maxStatusConflicts = 10

func (e *Engine) clock() clock.WithTicker {
	if e.Clock == nil {
		return clock.RealClock{}
	}
	return e.Clock
}

func (e *Engine) now() time.Time { return e.clock().Now() }

// kube is the cluster the engine works on.
func (e *Engine) kube() cluster {
	e.clusterOnce.Do(func() {
		if e.cluster == nil {
			e.cluster = &kubeCluster{e: e}
		}
	})
	return e.cluster
}

// run is the state of one Database's reconcile.
type run struct {
	e     *Engine
	c     cluster
	t     Target
	start time.Time
	res   *Result
	db    *v1alpha1.Database
	// pending are the passwords generated in this run for Secrets not created yet,
	// by Secret name: a retry creates them with the same.
	pending map[string]string
	// writes counts the steps whose writes succeeded.
	writes int
	// lastRetried is the last error retried with backoff.
	lastRetried error
	// backedUp is set once --backup-first took its backup.
	backedUp bool
	// expected are, following a saved plan, the states the children must have:
	// the recorded ones, then those of this run's own writes.
	expected map[phases.Ref]ObjectState
}

func (r *run) emit(ev Event) {
	if r.e.Events == nil {
		return
	}
	ev.Time = r.e.now()
	ev.Namespace, ev.Name = r.t.Namespace, r.t.Name
	ev.Elapsed = ev.Time.Sub(r.start)
	r.e.Events(ev)
}

// Reconcile runs the state machine for one Database until it is Ready, Failed, or a
// retryable stop (ctx's deadline, an open circuit breaker, a backoff window past the
// deadline). It never returns nil.
func (e *Engine) Reconcile(ctx context.Context, t Target) *Result {
	r := &run{e: e, c: e.kube(), t: t, start: e.now(), pending: map[string]string{},
		res: &Result{Namespace: t.Namespace, Name: t.Name, Source: t.Source, File: t.File, Line: t.Line}}
	r.reconcile(ctx)
	r.res.Duration = e.now().Sub(r.start)
	if r.db != nil {
		r.res.Phase = r.db.Phase()
		r.res.Conditions = r.db.Status.Conditions
	}
	return r.res
}

// reconcile loads the Database, then steps the machine and waits between steps
// until a step ends the run.
func (r *run) reconcile(ctx context.Context) {
	if r.t.Planned != nil {
		if err := r.retry(ctx, r.checkPlan); err != nil {
			r.stop(err)
			return
		}
	}
	err := r.retry(ctx, func(ctx context.Context) error {
		db, err := r.load(ctx)
		r.db = db
		return err
	})
	if err != nil {
		r.stop(err)
		return
	}
	r.res.StartPhase = r.db.Phase()
	r.res.Phase = r.db.Phase()
	for {
		var (
			d    phases.Decision
			snap *snapshot
		)
		err := r.retry(ctx, func(ctx context.Context) error {
			var err error
			d, snap, err = r.step(ctx)
			return err
		})
		if err != nil {
			r.stop(err)
			return
		}
		if r.ended(d) || !r.wait(ctx, d, snap) {
			return
		}
	}
}

// ended finishes the run when the step reached Ready or Failed.
func (r *run) ended(d phases.Decision) bool {
	switch {
	case d.Done:
		r.finish(OutcomeReady, fmt.Sprintf("Ready at %s", r.db.Status.Endpoint), nil)
		return true
	case d.To == v1alpha1.PhaseFailed && d.Transition():
		r.finish(OutcomeFailed, "Failed: "+d.Message, errors.New(d.Message))
		r.res.RetryAt = phases.RetryAt(r.db)
		return true
	}
	return false
}

// wait waits for what the step said (the rollout, a Failed Database's retry
// window); false ends the run.
func (r *run) wait(ctx context.Context, d phases.Decision, snap *snapshot) bool {
	switch d.Wait {
	case phases.WaitRollout:
		last := snap.obs.Rollout
		err := r.retry(ctx, func(ctx context.Context) error {
			return r.c.waitRollout(ctx, r.db, snap.statefulSets(), d.WaitUntil, func(ro phases.Rollout, msg string) {
				last = ro
				r.emit(Event{Type: EventWaiting, Message: msg, Rollout: &ro})
			})
		})
		if err != nil {
			r.stop(err)
			return false
		}
		if ctx.Err() != nil {
			r.stop(fmt.Errorf("timed out waiting for the StatefulSet rollout (%s): %w", last.Progress(), ctx.Err()))
			return false
		}
	case phases.WaitBackoff:
		if dl, ok := ctx.Deadline(); ok && d.WaitUntil.After(dl) {
			r.res.RetryAt = d.WaitUntil
			r.finish(OutcomeNotReady, fmt.Sprintf("Failed; %s, after this run's --timeout", d.Message), errors.New(d.Message))
			return false
		}
		r.emit(Event{Type: EventWaiting, Message: d.Message})
		select {
		case <-ctx.Done():
			r.res.RetryAt = d.WaitUntil
			r.stop(fmt.Errorf("%s: %w", d.Message, ctx.Err()))
			return false
		case <-r.e.clock().After(d.WaitUntil.Sub(r.e.now())):
		}
	}
	return true
}

// load applies the Database from its file, or reads it from the cluster.
func (r *run) load(ctx context.Context) (*v1alpha1.Database, error) {
	if r.t.Object == nil {
		return r.c.getDatabase(ctx, r.t.Namespace, r.t.Name)
	}
	obj, took, err := r.c.applyDatabase(ctx, r.t.Object)
	if err != nil && isNamespaceMissing(err) {
		if !r.e.CreateNamespace {
			return nil, resilience.Permanent(fmt.Errorf("namespace %q does not exist: create it, or rerun with --create-namespace", r.t.Namespace))
		}
		if err := r.c.createNamespace(ctx, r.t.Namespace); err != nil {
			return nil, err
		}
		r.emit(Event{Type: EventInfo, Message: fmt.Sprintf("created namespace %s", r.t.Namespace)})
		obj, took, err = r.c.applyDatabase(ctx, r.t.Object)
	}
	if err != nil && r.t.Planned != nil && apierrors.IsConflict(err) {
		return nil, resilience.Permanent(&PlanChangedError{Differences: []string{
			fmt.Sprintf("Database %s/%s changed since the plan was checked (%v)", r.t.Namespace, r.t.Name, err)}})
	}
	if err != nil {
		return nil, specRejected(r.t, err)
	}
	r.record(nil, took)
	db := &v1alpha1.Database{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, db); err != nil {
		return nil, fmt.Errorf("decoding Database %s/%s: %w", r.t.Namespace, r.t.Name, err)
	}
	return db, nil
}

func isNamespaceMissing(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces"
}
