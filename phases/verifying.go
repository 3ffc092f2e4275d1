package phases

import (
	"fmt"
	"time"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// Verifying waits until every child exists and is current (the StatefulSet rollout
// complete, as kstatus computes it) and every dependency is healthy, then the
// Database is Ready. If that takes longer than spec.verify.timeout from
// verifyStartTime, the Database goes Failed. Children that went missing or drifted
// meanwhile send it back through Current's re-derivation.
func verifying(db *v1alpha1.Database, obs *Observation) Decision {
	s := newStep(db, obs)
	deadline := verifyDeadline(db, obs.Now)
	if db.Status.VerifyStartTime == nil {
		startVerify(s)
	}
	if !obs.Now.Before(deadline) {
		msg := fmt.Sprintf("verification did not finish within %s (spec.verify.timeout): %s",
			db.VerifyTimeout(), unverified(db, obs))
		s.cond(v1alpha1.ConditionVerified, false, v1alpha1.ReasonVerificationTimeout, msg)
		s.dependencies(obs)
		return s.fail(v1alpha1.ReasonVerificationTimeout, msg)
	}
	if dependenciesDown(db, obs) {
		d := s.waitDependencies(obs)
		d.WaitUntil = deadline
		return d
	}
	s.dependencies(obs)
	if !obs.Rollout.Current {
		s.cond(v1alpha1.ConditionVerified, false, v1alpha1.ReasonWaitingForRollout, "waiting for the StatefulSet rollout")
		s.progress(v1alpha1.ReasonWaitingForRollout, "Verifying: waiting for the StatefulSet rollout")
		return s.stay(WaitRollout, deadline, "waiting for "+obs.Rollout.Progress())
	}
	if pending := PendingVolumes(obs); len(pending) > 0 {
		msg := "waiting for the volumes to grow: " + joinMax(pending, 3)
		s.cond(v1alpha1.ConditionVerified, false, v1alpha1.ReasonWaitingForVolumes, msg)
		s.progress(v1alpha1.ReasonWaitingForVolumes, "Verifying: "+msg)
		return s.stay(WaitVolumes, deadline, msg)
	}
	// Every child is current for this generation (Current found none missing or
	// drifted), whichever run or path wrote it: say so in the conditions of the
	// phases that write them. A spec changed while Verifying re-derives to the
	// phase whose children differ and skips the earlier ones, whose conditions
	// would otherwise keep the previous observedGeneration on a Ready Database.
	s.cond(v1alpha1.ConditionProvisioned, true, v1alpha1.ReasonReconciled, "credentials Secret and Services applied")
	s.cond(v1alpha1.ConditionConfigured, true, v1alpha1.ReasonReconciled, "engine configuration applied")
	s.cond(v1alpha1.ConditionDeployed, true, v1alpha1.ReasonReconciled, "StatefulSet applied")
	s.cond(v1alpha1.ConditionVerified, true, v1alpha1.ReasonReconciled,
		fmt.Sprintf("StatefulSet rolled out, %s", obs.Rollout.Progress()))
	s.cond(v1alpha1.ConditionReady, true, v1alpha1.ReasonReconciled, "Database is ready at "+db.Endpoint())
	s.db.Status.RetryCount = 0
	s.db.Status.LastFailureTime = nil
	s.db.Status.VerifyStartTime = nil
	return s.move(v1alpha1.PhaseReady, "verified: "+obs.Rollout.Progress())
}

func unverified(db *v1alpha1.Database, obs *Observation) string {
	switch {
	case dependenciesDown(db, obs):
		return obs.Dependencies.Message()
	case !obs.Rollout.Exists:
		return "the StatefulSet does not exist"
	case !obs.Rollout.Current:
		return fmt.Sprintf("StatefulSet %s has %s", db.StatefulSetName(), obs.Rollout.Progress())
	case len(PendingVolumes(obs)) > 0:
		return "the volumes did not grow: " + joinMax(PendingVolumes(obs), 3)
	default:
		return "verification was interrupted"
	}
}

// VerifyDeadline is when the Database's current Verifying phase times out.
func VerifyDeadline(db *v1alpha1.Database, now time.Time) time.Time { return verifyDeadline(db, now) }
