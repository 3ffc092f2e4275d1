package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/resilience"
)

// step observes, decides, writes the children the decision names and the status.
// An unavailable dependency is returned as a *DependenciesError, so that the retry
// policy backs off; a lost race (the Secret created by another run, the status
// written by another run) observes and decides again at once.
func (r *run) step(ctx context.Context) (phases.Decision, *snapshot, error) {
	for conflicts := 0; ; conflicts++ {
		d, snap, err := r.decide(ctx)
		if err != nil {
			return d, snap, err
		}
		d, err = r.write(ctx, d, snap)
		if errors.Is(err, errSecretRace) && conflicts < maxStatusConflicts {
			continue // another run created the Secret: observe again, at once
		}
		if err != nil {
			return d, snap, err
		}
		db, err := r.writeStatus(ctx, r.db, d.Status)
		if apierrors.IsConflict(err) && conflicts < maxStatusConflicts {
			// Another run wrote the Database meanwhile: read it and decide again.
			if r.db, err = r.c.getDatabase(ctx, r.db.Namespace, r.db.Name); err != nil {
				return d, snap, err
			}
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
		return d, snap, dependencyWait(d, snap, r.res)
	}
}

// decide observes the children, checks the dependencies when the phase needs them,
// and asks the state machine for the next step.
func (r *run) decide(ctx context.Context) (phases.Decision, *snapshot, error) {
	snap, err := observe(ctx, r.c, r.db, r.pending, r.e.now())
	if err != nil {
		return phases.Decision{}, nil, err
	}
	for _, sts := range snap.statefulSets() {
		if err := r.e.clearLeftoverStatus(ctx, r.c, sts, r.emit); err != nil {
			return phases.Decision{}, nil, err
		}
	}
	for name, pw := range map[string]passwordOf{r.db.SecretName(): snap.password, r.db.ReplicationSecretName(): snap.replication} {
		if pw.generated {
			r.pending[name] = pw.value
		}
	}
	if r.e.Secrets != nil {
		r.e.Secrets.Add(snap.passwords()...)
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
	if r.writes >= maxWrites {
		var drift []string
		for _, p := range d.Apply {
			drift = append(drift, snap.obs.DriftIn(p)...)
		}
		if len(drift) > 0 {
			return d, snap, resilience.Permanent(fmt.Errorf("the children of Database %s/%s do not converge: after %d successful writes, still %s",
				r.db.Namespace, r.db.Name, maxWrites, strings.Join(drift, "; ")))
		}
	}
	return d, snap, nil
}

// write writes the children of every phase the decision applies. A write the API
// server refuses for good (422 Invalid, 400) turns the decision into the phase's
// step to Failed. Only a step whose writes all succeeded, and wrote something,
// counts towards maxWrites: a transient failure is retried, not non-convergence.
func (r *run) write(ctx context.Context, d phases.Decision, snap *snapshot) (phases.Decision, error) {
	if err := r.backupFirst(ctx, d, snap); err != nil {
		return d, err
	}
	wrote := false
	for _, p := range d.Apply {
		wctx := ctx
		if p == v1alpha1.PhaseDeploying && d.Grow != nil {
			// Once a StatefulSet is deleted, it is written again whatever happens to
			// the run (an interrupt, the deadline): a Database is never left without
			// one, short of a SIGKILL (the next run then writes it).
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), recreateTimeout)
			defer cancel()
			changes, err := r.grow(ctx, wctx, snap, d.Grow)
			r.record(changes, nil)
			wrote = wrote || len(changes) > 0
			if err != nil {
				return d, err
			}
		}
		changes, took, err := r.writeChildren(wctx, snap, p)
		r.record(changes, took)
		wrote = wrote || len(changes) > 0
		if err != nil {
			if rd, ok := r.rejected(err, snap); ok {
				return rd, nil
			}
			return d, err
		}
	}
	if wrote {
		r.writes++
	}
	return d, nil
}

// record keeps the changes made and reports them, with the fields taken from
// other managers (back from hand edits, or with --force-conflicts).
func (r *run) record(changes []Change, took []TakeOver) {
	for i := range changes {
		r.res.Changes = append(r.res.Changes, changes[i])
		r.emit(Event{Type: EventChange, Change: &changes[i]})
	}
	for _, t := range took {
		msg := fmt.Sprintf("took back %s from hand edits by %q", strings.Join(t.Fields, ", "), t.Manager)
		if t.Forced {
			msg = fmt.Sprintf("took %s with --force-conflicts", strings.Join(conflictPairs([]TakeOver{t}), ", "))
		}
		r.emit(Event{Type: EventInfo, Message: msg})
	}
}

// writeChildren writes the children of phase p that need it (missing or drifted),
// and deletes those to prune. A child being deleted is waited for, then written
// again. It returns the changes made.
func (r *run) writeChildren(ctx context.Context, s *snapshot, p v1alpha1.Phase) ([]Change, []TakeOver, error) {
	var (
		changes   []Change
		takeOvers []TakeOver
	)
	for _, cs := range s.obs.Children {
		if cs.Phase != p || !cs.Drifted() {
			continue
		}
		c, took, err := r.writeChild(ctx, s, cs)
		if err != nil {
			return changes, takeOvers, r.planConflict(err, cs.Ref)
		}
		changes, takeOvers = append(changes, c), append(takeOvers, took...)
	}
	return changes, takeOvers, nil
}

// writeChild writes one child: deletes it (pruned), or creates a new Secret's
// password then applies it; a child being deleted is waited for first.
func (r *run) writeChild(ctx context.Context, s *snapshot, cs phases.ChildState) (Change, []TakeOver, error) {
	live, before := s.liveOf(cs.Ref), s.liveOf(cs.Ref)
	if old := s.recreated[cs.Ref]; old != nil {
		before = old // written again after a volume growth deleted it: an update
	}
	if live != nil && live.GetDeletionTimestamp() != nil && !cs.Prune {
		if err := r.c.waitGone(ctx, live); err != nil {
			return Change{}, nil, err
		}
		live = nil
	}
	desired, err := r.guardWrite(cs.Ref, cs.Desired, live)
	if err != nil {
		return Change{}, nil, err
	}
	if cs.Prune {
		if err := r.c.delete(ctx, live); err != nil {
			return Change{}, nil, err
		}
		r.wrote(cs.Ref, nil)
		return NewChange(cs.Phase, cs.Kind, live, nil), nil, nil
	}
	created := false
	if cs.Kind == phases.KindSecret && live == nil {
		// Create, never apply, a new Secret's password: if another run created it
		// meanwhile, its password stands and this run reads it on the next
		// observation. The apply below writes the other keys.
		obj, err := r.c.create(ctx, cs.CreateBody())
		if apierrors.IsAlreadyExists(err) {
			return Change{}, nil, errSecretRace
		}
		if err != nil {
			return Change{}, nil, err
		}
		live, created = obj, true
		r.wrote(cs.Ref, obj)
		if desired, err = r.guardWrite(cs.Ref, cs.Desired, live); err != nil {
			return Change{}, nil, err
		}
	}
	after, took, err := r.c.apply(ctx, desired, live)
	if err != nil {
		return Change{}, nil, err
	}
	r.wrote(cs.Ref, after)
	if phases.KeptOwned(r.db, cs.Kind, after) {
		// The owner reference came from an earlier create, which the apply cannot
		// take back: a patch removes it.
		if after, err = r.c.disown(ctx, after); err != nil {
			return Change{}, nil, err
		}
		r.wrote(cs.Ref, after)
	}
	if created {
		return NewChange(cs.Phase, cs.Kind, nil, after, cs.Generated...), took, nil
	}
	return NewChange(cs.Phase, cs.Kind, before, after), took, nil
}

// recreateTimeout bounds writing the StatefulSets again after a volume growth
// deleted them, past the run's own deadline or an interrupt.
const recreateTimeout = 2 * time.Minute

// grow performs a volume growth before the StatefulSets are written: it expands
// each PVC below the new size, deletes each StatefulSet whose volume claim template
// is smaller with its pods left running (orphan, its UID as a precondition), and
// waits until it is gone (wctx: not cut short by the run's end). The StatefulSets
// are then missing from the snapshot, so the Deploying writes create them again
// with the new size and the same pod template: the pods are adopted, none
// restarts. Crash-safe at each step: a growth left half-done is found and finished
// by the next run (PVCs below the size, a StatefulSet missing or being deleted).
func (r *run) grow(ctx, wctx context.Context, s *snapshot, g *phases.Growth) ([]Change, error) {
	var changes []Change
	for _, name := range g.PVCs {
		if _, err := r.guardWrite(phases.Ref{Kind: KindPersistentVolumeClaim, Name: name}, nil, nil); err != nil {
			return changes, err
		}
		if err := r.c.growVolume(ctx, r.db.Namespace, name, g.To, false); err != nil {
			return changes, err
		}
		changes = append(changes, volumeChange(r.db.Namespace, name, g))
	}
	for _, name := range g.StatefulSets {
		ref := phases.Ref{Kind: phases.KindStatefulSet, Name: name}
		live := s.liveOf(ref)
		if live == nil {
			continue
		}
		if err := ctx.Err(); err != nil && len(s.recreated) == 0 {
			return changes, err // interrupted before any StatefulSet went: stop here
		}
		if _, err := r.guardWrite(ref, nil, live); err != nil {
			return changes, err
		}
		// From the first deletion on, wctx: a deletion sent is finished, and the
		// others too, whatever happens to the run.
		if err := r.c.deleteOrphan(wctx, live, false); err != nil {
			return changes, err
		}
		r.emit(Event{Type: EventInfo, Message: fmt.Sprintf("deleted StatefulSet %s leaving its pods running; it is created again with %s volumes", name, g.To.String())})
		if err := r.c.waitGone(wctx, live); err != nil {
			return changes, err
		}
		if s.recreated == nil {
			s.recreated = map[phases.Ref]*unstructured.Unstructured{}
		}
		s.recreated[ref] = live
		delete(s.live, ref)
		r.wrote(ref, nil)
	}
	return changes, nil
}

// errSecretRace: another run created the credentials Secret between our read and
// our create. Observing again picks its password up.
var errSecretRace = errors.New("the credentials Secret was created concurrently by another run; reading it again")

// rejected turns a write the API server refused for good (422 Invalid, 400) into
// the phase's step to Failed: only a change of the spec can help.
func (r *run) rejected(err error, snap *snapshot) (phases.Decision, bool) {
	if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
		return phases.Decision{}, false
	}
	return phases.Rejected(r.db, snap.obs, "the API server rejected a child: "+err.Error())
}

// dependencyWait is the error a step that waits for its dependencies or volumes
// returns: an open circuit stops the run at once (the breaker says when to come
// back), an unavailable dependency or a volume still growing is retried with
// backoff.
func dependencyWait(d phases.Decision, snap *snapshot, res *Result) error {
	if d.Wait == phases.WaitVolumes {
		return &VolumesError{Message: d.Message}
	}
	if d.Wait != phases.WaitDependencies {
		return nil
	}
	if open := snap.obs.Dependencies.CircuitOpen(); open != nil {
		res.RetryAt = open.NextProbe
		return resilience.Permanent(&CircuitOpenError{Message: snap.obs.Dependencies.Message(), NextProbe: open.NextProbe})
	}
	return &DependenciesError{Message: snap.obs.Dependencies.Message()}
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

// VolumesError: the data PVCs have not grown to their new size yet (retried with
// backoff until the verify deadline).
type VolumesError struct{ Message string }

func (e *VolumesError) Error() string { return e.Message }

// CircuitOpenError: a dependency's circuit breaker is open; nothing was sent to it.
type CircuitOpenError struct {
	Message   string
	NextProbe time.Time
}

func (e *CircuitOpenError) Error() string { return e.Message }

// retry runs op with the engine's policy: transient errors (and unavailable
// dependencies) are retried with backoff until ctx's deadline; anything else stops.
// The last error it retried is kept for stop's message.
func (r *run) retry(ctx context.Context, op func(context.Context) error) error {
	r.lastRetried = nil
	return r.e.Retry.Retry(ctx, func(ctx context.Context) error {
		err := op(ctx)
		var (
			deps *DependenciesError
			vols *VolumesError
		)
		if err == nil || resilience.IsPermanent(err) || errors.As(err, &deps) || errors.As(err, &vols) || Transient(err) {
			return err
		}
		return resilience.Permanent(err)
	}, func(err error, next time.Duration) {
		r.lastRetried = err
		r.emit(Event{Type: EventRetry, Message: fmt.Sprintf("%v; retrying in %s", err, next.Round(time.Millisecond))})
	})
}

// stop ends the run on an error: a deadline, an interrupt, an open circuit or an
// unavailable dependency is a retryable stop; anything else an error.
func (r *run) stop(err error) {
	var (
		deps     *DependenciesError
		vols     *VolumesError
		open     *CircuitOpenError
		deadline *resilience.DeadlineError
		diverged *PlanDivergedError
	)
	switch {
	case errors.As(err, &diverged):
		// The plan did not foresee this write: not an error of the cluster or the
		// spec; a new plan covers it (exit 3, like any stop short of Ready).
		r.finish(OutcomeNotReady, diverged.Error(), err)
	case errors.As(err, &open):
		r.res.RetryAt = open.NextProbe
		r.finish(OutcomeNotReady, open.Message, err)
	case errors.As(err, &deadline):
		r.res.RetryAt = deadline.NextAttempt
		r.finish(OutcomeNotReady, fmt.Sprintf("gave up at the --timeout deadline: %v", deadline.Err), err)
	case errors.As(err, &deps):
		r.finish(OutcomeNotReady, deps.Message, err)
	case errors.Is(err, context.DeadlineExceeded) && errors.As(r.lastRetried, &deps):
		// The deadline came during a check of a dependency that was down: that is
		// what the run was waiting for.
		r.finish(OutcomeNotReady, deps.Message, err)
	case errors.As(err, &vols), errors.Is(err, context.DeadlineExceeded) && errors.As(r.lastRetried, &vols):
		r.finish(OutcomeNotReady, "not ready when --timeout ended: "+vols.Message, err)
	case errors.Is(err, context.DeadlineExceeded):
		r.finish(OutcomeNotReady, fmt.Sprintf("not ready when --timeout ended: %v", err), err)
	case errors.Is(err, context.Canceled):
		r.finish(OutcomeNotReady, fmt.Sprintf("interrupted; the status written so far is kept: %v", err), err)
	default:
		r.finish(OutcomeError, err.Error(), err)
	}
}

func (r *run) finish(o Outcome, msg string, err error) {
	r.res.Outcome, r.res.Message, r.res.Err = o, msg, err
}
