package reconcile

import (
	"time"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
)

// EventType classifies a progress event.
type EventType string

// The progress events a reconcile emits.
const (
	EventPhase   EventType = "phase"   // a phase transition (From → To)
	EventChange  EventType = "change"  // a child written (Change)
	EventWaiting EventType = "waiting" // waiting for the rollout, a dependency, a backoff window
	EventRetry   EventType = "retry"   // a transient error, retried after a backoff
	EventInfo    EventType = "info"    // anything else worth a line
)

// Event is one progress event of a reconcile. The engine never puts a secret value
// in an event.
type Event struct {
	Time            time.Time
	Namespace, Name string
	Type            EventType
	From, To        v1alpha1.Phase
	Change          *Change
	// Rollout is the StatefulSets' rollout, on the events of a rollout wait.
	Rollout *phases.Rollout
	Message string
	// Elapsed is the time since the reconcile of this Database started.
	Elapsed time.Duration
}
