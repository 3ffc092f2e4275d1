package reconcile

import (
	"context"
	"errors"
	"time"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
)

// StepResult is what one step of a Database's state machine did: the driver of
// `dbctl controller`, which calls the engine once per event and requeues instead
// of waiting. The step is the one Reconcile loops over (the same observation,
// decision, writes and status), so both drivers write the same objects the same way.
type StepResult struct {
	// Gone is true when the Database does not exist or is being deleted: nothing to
	// do (Kubernetes collects the children it owns).
	Gone bool
	// Database is the Database after the step (nil when Gone or unreadable).
	Database *v1alpha1.Database
	Phase    v1alpha1.Phase
	// Outcome: Ready (nothing left to do), Failed (needs a person, or its retry
	// window: At), NotReady (more to do: Again, At or Backoff say when), Error (the
	// step failed: Err; Backoff).
	Outcome Outcome
	Message string
	// Again: the step made progress and the next one can follow at once.
	Again bool
	// At: step again then, unless an event comes first: the verify deadline of a
	// rollout (the StatefulSet's watch brings its progress), a Failed Database's
	// retry time, an open circuit's next probe. Zero: only on an event.
	At time.Time
	// Backoff: step again after the driver's backoff for this Database (SPEC §5):
	// a dependency down, volumes still growing, or the step failed.
	Backoff bool
	// Transitions and Changes are what the step did.
	Transitions []phases.Edge
	Changes     []Change
	// Dependencies are the dependency checks of the step (nil when not checked).
	Dependencies *phases.DependencyResult
	Err          error
}

// Step runs one step of Database namespace/name: it reads the Database, observes
// its children, decides, writes what the decision names and the status, and
// returns what to do next instead of waiting for it. Safe for concurrent use on
// different Databases.
func (e *Engine) Step(ctx context.Context, namespace, name string) *StepResult {
	r := &run{e: e, c: e.kube(), t: Target{Namespace: namespace, Name: name}, start: e.now(), pending: map[string]string{},
		res: &Result{Namespace: namespace, Name: name}}
	db, err := r.c.getDatabase(ctx, namespace, name)
	var notFound *NotFoundError
	switch {
	case errors.As(err, &notFound):
		return &StepResult{Gone: true}
	case err != nil:
		return &StepResult{Outcome: OutcomeError, Message: err.Error(), Backoff: true, Err: err}
	case db.DeletionTimestamp != nil:
		return &StepResult{Gone: true}
	}
	r.db = db
	d, snap, err := r.step(ctx)
	out := &StepResult{Database: r.db, Phase: r.db.Phase(), Transitions: r.res.Transitions, Changes: r.res.Changes}
	if snap != nil && snap.obs != nil {
		out.Dependencies = snap.obs.Dependencies
	}
	if err != nil {
		return stepStopped(out, err)
	}
	out.Outcome, out.Message = OutcomeNotReady, d.Message
	switch {
	case d.Done, d.To == v1alpha1.PhaseReady && d.Wait == phases.WaitNone:
		out.Outcome = OutcomeReady // verified: the next step has nothing to do
	case d.To == v1alpha1.PhaseFailed:
		out.Outcome, out.At = OutcomeFailed, phases.RetryAt(r.db)
	case d.Wait == phases.WaitRollout, d.Wait == phases.WaitBackoff:
		out.At = d.WaitUntil
	default:
		out.Again = true
	}
	return out
}

// stepStopped is the result of a step that ended on err: an open circuit comes
// back at its next probe, a dependency down or volumes growing after a backoff,
// and so does any error (a driver in the cluster has no one to hand it to).
func stepStopped(out *StepResult, err error) *StepResult {
	var (
		open *CircuitOpenError
		deps *DependenciesError
		vols *VolumesError
	)
	out.Message, out.Outcome = err.Error(), OutcomeNotReady
	switch {
	case errors.As(err, &open):
		out.Message, out.At = open.Message, open.NextProbe
	case errors.As(err, &deps), errors.As(err, &vols):
		out.Backoff = true
	default:
		out.Outcome, out.Backoff, out.Err = OutcomeError, true, err
	}
	return out
}
