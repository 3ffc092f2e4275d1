package phases

import (
	"fmt"
	"math"
	"time"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// Retry window of a Failed Database (SPEC §5): 5s·2^retryCount, at most 5m, from
// status.lastFailureTime.
const (
	RetryBase = 5 * time.Second
	RetryMax  = 5 * time.Minute
)

// RetryWindow is min(RetryMax, RetryBase·2^retryCount). retryCount counts the
// retries already made since the Database was last Ready, so the first retry waits
// 5s, the next 10s, then 20s, 40s … as in the seed.
func RetryWindow(retryCount int32) time.Duration {
	if retryCount < 0 {
		retryCount = 0
	}
	w := float64(RetryBase) * math.Pow(2, float64(retryCount))
	if w > float64(RetryMax) {
		return RetryMax
	}
	return time.Duration(w)
}

// RetryAt is when a Failed Database may be retried.
func RetryAt(db *v1alpha1.Database) time.Time {
	if db.Status.LastFailureTime == nil {
		return time.Time{}
	}
	return db.Status.LastFailureTime.Add(RetryWindow(db.Status.RetryCount))
}

// Failed waits for its retry window, then (dependencies permitting) goes back to
// Provisioning and counts the retry.
func failed(db *v1alpha1.Database, obs *Observation) Decision {
	s := newStep(db, obs)
	at := RetryAt(db)
	if obs.Now.Before(at) {
		msg := fmt.Sprintf("retry allowed at %s (backoff %s after %d retries)",
			at.UTC().Format(time.RFC3339), RetryWindow(db.Status.RetryCount), db.Status.RetryCount)
		cond := msg
		if prev := db.Condition(v1alpha1.ConditionReady); prev != nil && prev.Reason != v1alpha1.ReasonRetryBackoff {
			cond = fmt.Sprintf("%s; failed: %s: %s", msg, prev.Reason, prev.Message)
		} else if prev != nil {
			cond = prev.Message
		}
		s.progress(v1alpha1.ReasonRetryBackoff, cond)
		return s.stay(WaitBackoff, at, msg)
	}
	if dependenciesDown(db, obs) {
		return s.waitDependencies(obs)
	}
	s.dependencies(obs)
	s.db.Status.RetryCount++
	s.progress(v1alpha1.ReasonProgressing, fmt.Sprintf("Provisioning: retry %d", s.db.Status.RetryCount))
	return s.move(v1alpha1.PhaseProvisioning, fmt.Sprintf("retry %d after backoff", s.db.Status.RetryCount))
}
