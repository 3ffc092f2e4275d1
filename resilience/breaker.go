package resilience

import (
	"fmt"
	"time"
)

// State is the state of a circuit breaker.
type State string

// The states of a circuit breaker.
const (
	// StateClosed: checks reach the dependency; consecutive failures are counted.
	StateClosed State = "closed"
	// StateOpen: no check reaches the dependency until the cooldown has passed.
	StateOpen State = "open"
	// StateHalfOpen: the cooldown has passed; one probe is allowed at a time.
	StateHalfOpen State = "half-open"
)

// Valid reports whether s is a known state; the empty state is closed.
func (s State) Valid() bool {
	switch s {
	case "", StateClosed, StateOpen, StateHalfOpen:
		return true
	}
	return false
}

// Default values of Settings.
const (
	DefaultThreshold  = 5
	DefaultCooldown   = time.Minute
	DefaultProbeLease = 30 * time.Second
)

// Record is the circuit breaker of one dependency, as persisted in the state file.
// Its zero value is a closed breaker.
type Record struct {
	State    State      `json:"state"`
	Failures int        `json:"failures"`
	OpenedAt *time.Time `json:"openedAt,omitempty"`
	// ProbeUntil is set while a half-open probe is in flight: no other probe is
	// allowed until then. It is a lease, so that a prober that crashed does not keep
	// the breaker half-open forever.
	ProbeUntil  *time.Time `json:"probeUntil,omitempty"`
	LastError   string     `json:"lastError,omitempty"`
	LastFailure *time.Time `json:"lastFailure,omitempty"`
	LastSuccess *time.Time `json:"lastSuccess,omitempty"`
	// Target is the dependency's URL without credentials or query, or its host:port.
	Target string `json:"target,omitempty"`
}

// CurrentState returns r.State, the empty state being closed.
func (r Record) CurrentState() State {
	if r.State == "" {
		return StateClosed
	}
	return r.State
}

// Settings are the thresholds of the circuit breakers. The zero value is ready to
// use. The transitions are pure functions of a Record and an explicit now: the
// caller loads and stores the Record (Store.Update does so under a lock).
type Settings struct {
	// Threshold is the number of consecutive failures that opens the breaker.
	// Zero means 5.
	Threshold int
	// Cooldown is how long the breaker stays open before a probe is allowed.
	// Zero means 1m.
	Cooldown time.Duration
	// ProbeLease is how long a half-open probe keeps other probes out. It should be
	// longer than a check takes; Guard extends it to the check's timeout. Zero
	// means 30s.
	ProbeLease time.Duration
}

func (s Settings) withDefaults() Settings {
	if s.Threshold <= 0 {
		s.Threshold = DefaultThreshold
	}
	if s.Cooldown <= 0 {
		s.Cooldown = DefaultCooldown
	}
	if s.ProbeLease <= 0 {
		s.ProbeLease = DefaultProbeLease
	}
	return s
}

// OpenError is returned when a circuit breaker rejects a check.
type OpenError struct {
	// Name is the dependency; Guard sets it, Settings.Allow leaves it empty.
	Name string
	// State is open, or half-open while another process's probe is in flight.
	State State
	// NextProbe is the earliest time a probe is allowed.
	NextProbe time.Time
	// LastError is the last failure of the dependency (redacted).
	LastError string
}

func (e *OpenError) Error() string {
	what := "circuit breaker"
	if e.Name != "" {
		what += fmt.Sprintf(" for dependency %q", e.Name)
	}
	state := "is open"
	if e.State == StateHalfOpen {
		state = "is half-open with a probe in flight"
	}
	last := ""
	if e.LastError != "" {
		last = fmt.Sprintf(" (last error: %s)", e.LastError)
	}
	return fmt.Sprintf("%s %s%s; next probe allowed at %s", what, state, last,
		e.NextProbe.UTC().Format(time.RFC3339))
}

// Allow decides whether a check may reach the dependency at now. A closed breaker
// allows it. An open breaker rejects it with an *OpenError until the cooldown has
// passed; then it becomes half-open and allows exactly one probe (probe is true),
// holding a lease (ProbeUntil) that rejects other checks until the probe's result
// is recorded or the lease expires. Allow mutates r on those transitions.
func (s Settings) Allow(r *Record, now time.Time) (probe bool, err error) {
	s = s.withDefaults()
	switch r.CurrentState() {
	case StateOpen:
		next := s.NextProbe(*r)
		if now.Before(next) {
			return false, &OpenError{State: StateOpen, NextProbe: next, LastError: r.LastError}
		}
		r.State = StateHalfOpen
		s.takeLease(r, now)
		return true, nil
	case StateHalfOpen:
		if r.ProbeUntil != nil && now.Before(*r.ProbeUntil) {
			return false, &OpenError{State: StateHalfOpen, NextProbe: *r.ProbeUntil, LastError: r.LastError}
		}
		s.takeLease(r, now)
		return true, nil
	default:
		return false, nil
	}
}

func (s Settings) takeLease(r *Record, now time.Time) {
	until := now.Add(s.ProbeLease)
	r.ProbeUntil = &until
}

// Success records a successful check at now: the breaker closes (from any state:
// the dependency answered) and the consecutive failures reset.
func (s Settings) Success(r *Record, now time.Time) {
	r.State = StateClosed
	r.Failures = 0
	r.OpenedAt = nil
	r.ProbeUntil = nil
	r.LastSuccess = &now
}

// Failure records a failed check at now. A closed breaker opens when the
// consecutive failures reach the threshold; a half-open breaker (its probe failed)
// opens again with a new OpenedAt. An open breaker stays open with its OpenedAt: a
// late failure of a check that was allowed before it opened does not prolong the
// cooldown.
func (s Settings) Failure(r *Record, now time.Time, errMsg string) {
	s = s.withDefaults()
	r.Failures++
	r.LastFailure = &now
	r.LastError = errMsg
	switch r.CurrentState() {
	case StateClosed:
		if r.Failures >= s.Threshold {
			r.State = StateOpen
			r.OpenedAt = &now
		}
	case StateHalfOpen:
		r.State = StateOpen
		r.OpenedAt = &now
		r.ProbeUntil = nil
	case StateOpen:
		if r.OpenedAt == nil {
			r.OpenedAt = &now
		}
	}
}

// Release gives up the probe lease of a half-open breaker without a result (the
// probe was interrupted, not failed), so that the next check may probe at once.
func (s Settings) Release(r *Record) {
	if r.CurrentState() == StateHalfOpen {
		r.ProbeUntil = nil
	}
}

// NextProbe returns the earliest time a check may reach the dependency: the end of
// the cooldown of an open breaker, the end of the probe lease of a half-open one,
// and the zero time (any time) otherwise.
func (s Settings) NextProbe(r Record) time.Time {
	s = s.withDefaults()
	switch r.CurrentState() {
	case StateOpen:
		if r.OpenedAt == nil {
			return time.Time{}
		}
		return r.OpenedAt.Add(s.Cooldown)
	case StateHalfOpen:
		if r.ProbeUntil == nil {
			return time.Time{}
		}
		return *r.ProbeUntil
	default:
		return time.Time{}
	}
}
