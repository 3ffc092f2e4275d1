package reconcile

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/exitcode"
)

// Outcome is how a reconcile of one Database ended.
type Outcome string

// The outcomes, with the exit codes they map to (SPEC §4).
const (
	OutcomeReady    Outcome = "Ready"    // exitcode.OK
	OutcomeFailed   Outcome = "Failed"   // exitcode.Failed: needs a person
	OutcomeNotReady Outcome = "NotReady" // exitcode.Retryable: a retryable stop
	OutcomeError    Outcome = "Error"    // exitcode.Error: bad input, forbidden, conflict, unexpected
)

// ExitCode is the process exit code of the outcome.
func (o Outcome) ExitCode() exitcode.Code {
	switch o {
	case OutcomeReady:
		return exitcode.OK
	case OutcomeFailed:
		return exitcode.Failed
	case OutcomeNotReady:
		return exitcode.Retryable
	default:
		return exitcode.Error
	}
}

// Result is the outcome of reconciling one Database.
type Result struct {
	Namespace, Name string
	// Source is where the spec came from ("db.yaml: document 2"), empty for the
	// cluster; File and Line locate it.
	Source  string
	File    string
	Line    int
	Outcome Outcome
	// Phase is the Database's phase at the end; StartPhase at the start.
	Phase, StartPhase v1alpha1.Phase
	// Message explains the outcome in one line.
	Message string
	// RetryAt is when a later run can make progress (the end of a backoff window,
	// the next circuit breaker probe); zero when unknown.
	RetryAt time.Time
	// Transitions are the phase changes made, in order.
	Transitions []phases.Edge
	// Changes are the child writes made, in order.
	Changes []Change
	// Err is the error behind an Error, Failed or NotReady outcome.
	Err error
	// Conditions are the Database's conditions at the end.
	Conditions []metav1.Condition
	// Duration of the reconcile.
	Duration time.Duration
}
