package phases

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// Wait says what the engine waits for before deciding again.
type Wait string

// The things a step can wait for.
const (
	// WaitNone: decide again at once (after performing the step's actions).
	WaitNone Wait = ""
	// WaitRollout: the StatefulSet rollout, until Decision.WaitUntil (the verify deadline).
	WaitRollout Wait = "Rollout"
	// WaitDependencies: a dependency is unavailable; check again after a backoff.
	WaitDependencies Wait = "Dependencies"
	// WaitBackoff: a Failed Database may be retried only at Decision.WaitUntil.
	WaitBackoff Wait = "Backoff"
	// WaitVolumes: the data PVCs have not grown to their new size yet; check again
	// after a backoff, until Decision.WaitUntil (the verify deadline).
	WaitVolumes Wait = "Volumes"
)

// Decision is the next step of the machine.
type Decision struct {
	// From is the current phase (after re-derivation), To the phase after the step.
	From, To v1alpha1.Phase
	// Derived explains why From differs from status.phase; empty when they agree.
	Derived string
	// Apply lists the phases whose children the step writes, in order: each child
	// of those phases that is missing or drifted is applied, and each the spec no
	// longer wants (Want Absent) is deleted.
	Apply []v1alpha1.Phase
	// Wait is what to wait for after the step; WaitUntil its deadline or retry time.
	Wait      Wait
	WaitUntil time.Time
	// Done is true when the Database is Ready and nothing is left to do.
	Done bool
	// Status is the Database's status once the step is done. The engine writes it
	// only when it differs from the current status.
	Status v1alpha1.DatabaseStatus
	// Message is a one-line human summary of the step.
	Message string
	// Refused is set when the step was refused because the spec asks for a change
	// the running database cannot take (Refusal): it says what to do instead.
	Refused string
	// Grow is the volume growth the step performs before it writes the
	// StatefulSets: expand the PVCs, delete each StatefulSet leaving its pods
	// (orphan), wait until it is gone; the StatefulSets are then written with the
	// new size like any child. Nil when none.
	Grow *Growth
}

// Transition reports whether the step changes the phase.
func (d Decision) Transition() bool { return d.From != d.To }

// stepper builds a Decision on a copy of the Database, so the handlers can use the
// Database's condition helpers without touching the caller's object.
type stepper struct {
	db  *v1alpha1.Database
	obs *Observation
	now time.Time
	d   Decision
}

func newStep(db *v1alpha1.Database, obs *Observation) *stepper {
	c := db.DeepCopy()
	c.Status.ObservedGeneration = c.Generation
	if c.Status.Endpoint == "" || c.Status.Endpoint != c.Endpoint() {
		c.Status.Endpoint = c.Endpoint()
	}
	return &stepper{db: c, obs: obs, now: obs.Now}
}

func (s *stepper) cond(t string, ok bool, reason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	s.setCondition(t, st, reason, msg)
}

func (s *stepper) setCondition(t string, st metav1.ConditionStatus, reason, msg string) {
	s.db.SetCondition(t, st, reason, msg, s.now)
}

// finish completes the status of every decision: the conditions that do not
// depend on the phase's step (kstatus's, BackedUp) and the last backup seen.
func (s *stepper) finish() {
	s.kstatus()
	if s.obs != nil {
		if b := s.obs.LastBackup; b != nil && (s.db.Status.LastBackup == nil || b.CompletedAt.After(s.db.Status.LastBackup.CompletedAt.Time)) {
			s.db.Status.LastBackup = b.DeepCopy()
		}
		s.backups(s.obs)
	}
}

// progress marks the Database not Ready, for reason (Progressing, WaitingForRollout …)
// with msg as the Ready condition's message.
func (s *stepper) progress(reason, msg string) { s.cond(v1alpha1.ConditionReady, false, reason, msg) }

func (s *stepper) dependencies(obs *Observation) {
	switch {
	case len(s.db.Spec.Dependencies) == 0:
		s.cond(v1alpha1.ConditionDependenciesAvailable, true, v1alpha1.ReasonNoDependencies, "no dependencies declared")
	case obs.Dependencies == nil:
		// Not checked in this step: keep whatever the condition says.
	case obs.Dependencies.Available():
		s.cond(v1alpha1.ConditionDependenciesAvailable, true, v1alpha1.ReasonAvailable, obs.Dependencies.Message())
	default:
		s.cond(v1alpha1.ConditionDependenciesAvailable, false, v1alpha1.ReasonExternalSystemUnavailable, obs.Dependencies.Message())
	}
}

// dependenciesDown reports whether the dependencies were checked and one is unavailable.
func dependenciesDown(db *v1alpha1.Database, obs *Observation) bool {
	return len(db.Spec.Dependencies) > 0 && obs.Dependencies != nil && !obs.Dependencies.Available()
}

// waitDependencies keeps the phase and waits for the dependencies.
func (s *stepper) waitDependencies(obs *Observation) Decision {
	s.dependencies(obs)
	s.progress(v1alpha1.ReasonExternalSystemUnavailable, obs.Dependencies.Message())
	return s.stay(WaitDependencies, time.Time{}, obs.Dependencies.Message())
}

func (s *stepper) stay(w Wait, until time.Time, msg string) Decision {
	s.d.Wait, s.d.WaitUntil, s.d.Message = w, until, msg
	s.finish()
	s.d.Status = s.db.Status
	return s.d
}

func (s *stepper) move(to v1alpha1.Phase, msg string, apply ...v1alpha1.Phase) Decision {
	s.db.Status.Phase = to
	s.d.To, s.d.Apply, s.d.Message = to, apply, msg
	s.finish()
	s.d.Status = s.db.Status
	return s.d
}

// kstatus keeps the two conditions kstatus (Flux's health checks, kpt, cli-utils)
// reads besides Ready, with the Ready condition's reason and message: Reconciling
// True while dbctl is still driving the Database (any phase but Ready and Failed),
// Stalled True while it is Failed (it needs a person or its retry window); each
// is removed otherwise. kstatus then says InProgress, Failed and Current when dbctl
// says so.
func (s *stepper) kstatus() {
	reason, msg := v1alpha1.ReasonProgressing, string(s.db.Status.Phase)
	if c := s.db.Condition(v1alpha1.ConditionReady); c != nil {
		reason, msg = c.Reason, c.Message
	}
	conds := &s.db.Status.Conditions
	switch s.db.Status.Phase {
	case v1alpha1.PhaseReady:
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
	case v1alpha1.PhaseFailed:
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
		s.cond(v1alpha1.ConditionStalled, true, reason, msg)
	default:
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
		s.cond(v1alpha1.ConditionReconciling, true, reason, msg)
	}
}

// fail moves to Failed: a permanent error or a verification timeout.
func (s *stepper) fail(reason, msg string) Decision {
	t := metav1.NewTime(s.now)
	s.db.Status.LastFailureTime = &t
	s.db.Status.VerifyStartTime = nil
	s.progress(reason, msg)
	return s.move(v1alpha1.PhaseFailed, msg)
}
