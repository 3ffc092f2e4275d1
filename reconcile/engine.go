package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/kube"
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
	// Secrets, when set, learns every password the engine reads or generates, so
	// that the command's output streams can redact it whatever prints it.
	Secrets *redact.Set
	// Events receives progress; nil discards it. It is called from the goroutine of
	// each Database, so it must be safe for concurrent use.
	Events func(Event)

	// rollouts shares one StatefulSet watch per namespace among waiting Databases.
	rollouts rolloutWatches
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
}

// maxWrites bounds the steps that write children in one run: a normal cold run
// takes three, a retry of a Failed Database three more. More means the children do
// not converge (something keeps changing them back).
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

// run is the state of one Database's reconcile.
type run struct {
	e      *Engine
	t      Target
	start  time.Time
	res    *Result
	db     *v1alpha1.Database
	writer *Writer
	// password generated in this run for a Secret not yet created.
	password string
	// writes counts steps that wrote children.
	writes int
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
	r := &run{e: e, t: t, start: e.now(), writer: &Writer{Client: e.Client, ForceConflicts: e.ForceConflicts},
		res: &Result{Namespace: t.Namespace, Name: t.Name, Source: t.Source, File: t.File, Line: t.Line}}
	r.reconcile(ctx)
	r.res.Duration = e.now().Sub(r.start)
	if r.db != nil {
		r.res.Phase = r.db.Phase()
		r.res.Conditions = r.db.Status.Conditions
	}
	return r.res
}

func (r *run) reconcile(ctx context.Context) {
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
		var d phases.Decision
		var snap *snapshot
		err := r.retry(ctx, func(ctx context.Context) error {
			var err error
			d, snap, err = r.step(ctx)
			return err
		})
		if err != nil {
			r.stop(err)
			return
		}
		switch {
		case d.Done:
			r.finish(OutcomeReady, fmt.Sprintf("Ready at %s", r.db.Status.Endpoint), nil)
			return
		case d.To == v1alpha1.PhaseFailed:
			if d.Transition() {
				msg := "Failed: " + d.Message
				r.finish(OutcomeFailed, msg, errors.New(d.Message))
				r.res.RetryAt = phases.RetryAt(r.db)
				return
			}
		}
		switch d.Wait {
		case phases.WaitRollout:
			err := r.retry(ctx, func(ctx context.Context) error {
				return r.e.waitRollout(ctx, r.db, snap.live[phases.KindStatefulSet+"/"+r.db.StatefulSetName()], d.WaitUntil,
					func(msg string) { r.emit(Event{Type: EventWaiting, Message: msg}) })
			})
			if err != nil {
				r.stop(err)
				return
			}
			if ctx.Err() != nil {
				r.stop(fmt.Errorf("timed out waiting for the StatefulSet rollout (%s): %w", snap.obs.Rollout.Progress(), ctx.Err()))
				return
			}
		case phases.WaitBackoff:
			if dl, ok := ctx.Deadline(); ok && d.WaitUntil.After(dl) {
				r.res.RetryAt = d.WaitUntil
				r.finish(OutcomeNotReady, fmt.Sprintf("Failed; %s, after this run's --timeout", d.Message), errors.New(d.Message))
				return
			}
			r.emit(Event{Type: EventWaiting, Message: d.Message})
			select {
			case <-ctx.Done():
				r.res.RetryAt = d.WaitUntil
				r.stop(fmt.Errorf("%s: %w", d.Message, ctx.Err()))
				return
			case <-r.e.clock().After(d.WaitUntil.Sub(r.e.now())):
			}
		}
	}
}

// step observes, decides, writes children and the status. A dependency that is
// unavailable is returned as a transient error, so that the retry policy backs off.
func (r *run) step(ctx context.Context) (phases.Decision, *snapshot, error) {
	for conflicts := 0; ; conflicts++ {
		snap, err := r.e.observe(ctx, r.db, r.password)
		if err != nil {
			return phases.Decision{}, nil, err
		}
		if snap.generated {
			r.password = snap.password
		}
		if r.e.Secrets != nil {
			r.e.Secrets.Add(snap.password)
		}
		if needsDependencies(r.db, snap.obs) {
			snap.obs.Dependencies = r.e.Dependencies.Check(ctx, r.db)
			if ctx.Err() != nil {
				return phases.Decision{}, nil, ctx.Err()
			}
		}
		d := phases.Decide(r.db, snap.obs)
		if d.Derived != "" {
			r.emit(Event{Type: EventInfo, Message: fmt.Sprintf("current phase is %s: %s", d.From, d.Derived)})
		}
		if len(d.Apply) > 0 {
			if msg := phases.VersionChange(r.db, snap.live[phases.KindStatefulSet+"/"+r.db.StatefulSetName()]); msg != "" {
				// Checked before any write: the running pods stay as they are.
				rd, ok := phases.Rejected(r.db, snap.obs, msg)
				if !ok {
					return d, snap, resilience.Permanent(errors.New(msg))
				}
				d = rd
			}
		}
		if len(d.Apply) > 0 {
			r.writes++
			if r.writes > maxWrites {
				return d, snap, resilience.Permanent(fmt.Errorf("the children of Database %s/%s do not converge: after %d writes, %s",
					r.db.Namespace, r.db.Name, maxWrites, strings.Join(snap.obs.Drift(), "; ")))
			}
		}
		raced := false
		for _, p := range d.Apply {
			changes, took, err := r.e.writeChildren(ctx, r.writer, r.db, snap, p)
			if errors.Is(err, errSecretRace) {
				raced = true
				break
			}
			for i := range changes {
				r.res.Changes = append(r.res.Changes, changes[i])
				r.emit(Event{Type: EventChange, Change: &changes[i]})
			}
			for _, t := range took {
				r.emit(Event{Type: EventInfo, Message: fmt.Sprintf("took back %s from hand edits by %q", strings.Join(t.Fields, ", "), t.Manager)})
			}
			if err != nil {
				rd, ok := r.rejected(err, snap)
				if !ok {
					return d, snap, err
				}
				d = rd
				break
			}
		}
		if raced {
			if conflicts < maxStatusConflicts {
				continue // another run created the Secret: observe again, at once
			}
			return d, snap, errSecretRace
		}
		db, _, err := r.e.writeStatus(ctx, r.db, d.Status)
		if apierrors.IsConflict(err) && conflicts < maxStatusConflicts {
			// Another run wrote the Database meanwhile: read it and decide again.
			fresh, gerr := r.e.getDatabase(ctx, r.db.Namespace, r.db.Name)
			if gerr != nil {
				return d, snap, gerr
			}
			r.db = fresh
			continue
		}
		if err != nil {
			return d, snap, err
		}
		r.db = db
		r.res.Phase = db.Phase()
		if d.Transition() {
			r.res.Transitions = append(r.res.Transitions, phases.Edge{From: d.From, To: d.To})
			r.emit(Event{Type: EventPhase, From: d.From, To: d.To, Message: d.Message})
		}
		if d.Wait == phases.WaitDependencies {
			if open := snap.obs.Dependencies.CircuitOpen(); open != nil {
				r.res.RetryAt = open.NextProbe
				return d, snap, resilience.Permanent(&CircuitOpenError{Message: snap.obs.Dependencies.Message(), NextProbe: open.NextProbe})
			}
			return d, snap, &DependenciesError{Message: snap.obs.Dependencies.Message()}
		}
		return d, snap, nil
	}
}

// rejected turns a write the API server refused for good (422 Invalid, 400) into
// the phase's step to Failed: only a change of the spec can help.
func (r *run) rejected(err error, snap *snapshot) (phases.Decision, bool) {
	if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
		return phases.Decision{}, false
	}
	msg := "the API server rejected a child: " + err.Error()
	if storage := storageRejection(err, r.db, snap); storage != "" {
		msg = storage
	}
	return phases.Rejected(r.db, snap.obs, msg)
}

// storageRejection is what to say instead of the API server's dump of the template
// when it rejected the StatefulSet for a new storage size or class ("" otherwise).
func storageRejection(err error, db *v1alpha1.Database, snap *snapshot) string {
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "volumeClaimTemplates") {
		return ""
	}
	return phases.StorageChange(db, snap.live[phases.KindStatefulSet+"/"+db.StatefulSetName()])
}

// needsDependencies: dependencies are checked before Provisioning (from Pending, or
// from Failed once its retry window is over) and while Verifying.
func needsDependencies(db *v1alpha1.Database, obs *phases.Observation) bool {
	if len(db.Spec.Dependencies) == 0 {
		obs.Dependencies = &phases.DependencyResult{}
		return false
	}
	cur, _ := phases.Current(db, obs)
	switch cur {
	case v1alpha1.PhasePending, v1alpha1.PhaseVerifying:
		return true
	case v1alpha1.PhaseFailed:
		return !obs.Now.Before(phases.RetryAt(db))
	}
	return false
}

// DependenciesError: a dependency is unavailable (retried with backoff).
type DependenciesError struct{ Message string }

func (e *DependenciesError) Error() string { return e.Message }

// CircuitOpenError: a dependency's circuit breaker is open; nothing was sent to it.
type CircuitOpenError struct {
	Message   string
	NextProbe time.Time
}

func (e *CircuitOpenError) Error() string { return e.Message }

// retry runs op with the engine's policy: transient errors (and unavailable
// dependencies) are retried with backoff until ctx's deadline; anything else stops.
func (r *run) retry(ctx context.Context, op func(context.Context) error) error {
	return r.e.Retry.Retry(ctx, func(ctx context.Context) error {
		err := op(ctx)
		var deps *DependenciesError
		if err == nil || resilience.IsPermanent(err) || errors.As(err, &deps) || Transient(err) {
			return err
		}
		return resilience.Permanent(err)
	}, func(err error, next time.Duration) {
		r.emit(Event{Type: EventRetry, Message: fmt.Sprintf("%v; retrying in %s", err, next.Round(time.Millisecond))})
	})
}

// stop ends the run on an error: a deadline, an interrupt, an open circuit or an
// unavailable dependency is a retryable stop; anything else an error.
func (r *run) stop(err error) {
	var (
		deps     *DependenciesError
		open     *CircuitOpenError
		deadline *resilience.DeadlineError
		notFound *NotFoundError
	)
	switch {
	case errors.As(err, &open):
		r.res.RetryAt = open.NextProbe
		r.finish(OutcomeNotReady, open.Message, err)
	case errors.As(err, &deadline):
		r.res.RetryAt = deadline.NextAttempt
		r.finish(OutcomeNotReady, fmt.Sprintf("gave up at the --timeout deadline: %v", deadline.Err), err)
	case errors.As(err, &deps):
		r.finish(OutcomeNotReady, deps.Message, err)
	case errors.Is(err, context.DeadlineExceeded):
		r.finish(OutcomeNotReady, fmt.Sprintf("not ready when --timeout ended: %v", err), err)
	case errors.Is(err, context.Canceled):
		r.finish(OutcomeNotReady, fmt.Sprintf("interrupted; the status written so far is kept: %v", err), err)
	case errors.As(err, &notFound):
		r.finish(OutcomeError, err.Error(), err)
	default:
		r.finish(OutcomeError, err.Error(), err)
	}
}

func (r *run) finish(o Outcome, msg string, err error) {
	r.res.Outcome, r.res.Message, r.res.Err = o, msg, err
}

// load applies the Database from its file, or reads it from the cluster.
func (r *run) load(ctx context.Context) (*v1alpha1.Database, error) {
	if r.t.Object == nil {
		return r.e.getDatabase(ctx, r.t.Namespace, r.t.Name)
	}
	obj, _, err := r.writer.Apply(ctx, r.t.Object, nil)
	if err != nil && isNamespaceMissing(err) {
		if !r.e.CreateNamespace {
			return nil, resilience.Permanent(fmt.Errorf("namespace %q does not exist: create it, or rerun with --create-namespace", r.t.Namespace))
		}
		if err := r.createNamespace(ctx); err != nil {
			return nil, err
		}
		obj, _, err = r.writer.Apply(ctx, r.t.Object, nil)
	}
	if err != nil {
		return nil, specRejected(r.t, err)
	}
	db := &v1alpha1.Database{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, db); err != nil {
		return nil, fmt.Errorf("decoding Database %s/%s: %w", r.t.Namespace, r.t.Name, err)
	}
	return db, nil
}

func (r *run) createNamespace(ctx context.Context) error {
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(r.t.Namespace)
	if _, _, err := r.writer.Apply(ctx, ns, nil); err != nil {
		return err
	}
	r.emit(Event{Type: EventInfo, Message: fmt.Sprintf("created namespace %s", r.t.Namespace)})
	return nil
}

func isNamespaceMissing(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces"
}

var _ = kube.FieldManager
