package resilience

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"k8s.io/utils/clock"
)

// Default values of Policy.
const (
	DefaultInitial    = 5 * time.Second
	DefaultMax        = 5 * time.Minute
	DefaultMultiplier = 2.0
	DefaultJitter     = 0.2
)

// Policy is dbctl's retry policy: exponential backoff on the seed schedule
// (5s, 10s, 20s, 40s … at most 5m), jittered. Its zero value is ready to use.
// A Policy is a value; Retry may be called concurrently.
type Policy struct {
	// Initial is the first wait. Zero means 5s.
	Initial time.Duration
	// Max is the ceiling of one wait, jitter included. Zero means 5m.
	Max time.Duration
	// Multiplier grows the wait after each attempt. Zero means 2; values below 1
	// are treated as 1 (a constant wait).
	Multiplier float64
	// Jitter randomises each wait by ± this fraction. Zero means 0.2; a negative
	// value disables jitter; values above 1 are treated as 1.
	Jitter float64
	// Clock measures time and provides the timers. Nil means the real clock.
	Clock clock.WithTicker
}

func (p Policy) withDefaults() Policy {
	if p.Initial <= 0 {
		p.Initial = DefaultInitial
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if p.Initial > p.Max {
		p.Initial = p.Max
	}
	switch {
	case p.Multiplier == 0:
		p.Multiplier = DefaultMultiplier
	case p.Multiplier < 1:
		p.Multiplier = 1
	}
	switch {
	case p.Jitter == 0:
		p.Jitter = DefaultJitter
	case p.Jitter < 0:
		p.Jitter = 0
	case p.Jitter > 1:
		p.Jitter = 1
	}
	if p.Clock == nil {
		p.Clock = clock.RealClock{}
	}
	return p
}

// Delays returns the first n waits of the schedule, without jitter: for Policy{}
// 5s, 10s, 20s, 40s, 1m20s, 2m40s, 5m, 5m …
func (p Policy) Delays(n int) []time.Duration {
	p = p.withDefaults()
	p.Jitter = 0
	b := p.newBackOff()
	b.Reset()
	out := make([]time.Duration, 0, max(n, 0))
	for range n {
		out = append(out, b.NextBackOff())
	}
	return out
}

// Permanent wraps err so that Retry returns it at once, without retrying; Retry
// returns err itself, not the wrapper. Permanent(nil) is nil.
func Permanent(err error) error {
	return backoff.Permanent(err)
}

// IsPermanent reports whether err is, or wraps, an error made by Permanent.
func IsPermanent(err error) bool {
	var p *backoff.PermanentError
	return errors.As(err, &p)
}

// DeadlineError is returned by Retry when the next attempt would start at or after
// the context's deadline: Retry returns at once instead of sleeping until the
// deadline. Err is the last error of the operation.
type DeadlineError struct {
	Err         error
	NextAttempt time.Time
}

func (e *DeadlineError) Error() string {
	return fmt.Sprintf("giving up: the next attempt at %s would be after the deadline (last error: %v)",
		e.NextAttempt.UTC().Format(time.RFC3339), e.Err)
}

// Unwrap returns the last error of the operation.
func (e *DeadlineError) Unwrap() error { return e.Err }

// Is reports a DeadlineError as a context.DeadlineExceeded too: the run has no time
// left for another attempt.
func (e *DeadlineError) Is(target error) bool { return target == context.DeadlineExceeded }

// Retry calls op until it returns nil, a Permanent error, or ctx ends, waiting
// between attempts on the policy's schedule. op is called at least once unless ctx
// is already done. notify, if not nil, is called before each wait with op's error
// and the wait.
//
// Retry never waits past ctx's deadline: when the next attempt would start at or
// after it, Retry returns a *DeadlineError at once. When ctx is cancelled (or its
// deadline passes while op runs), the error wraps ctx.Err() (errors.Is(err,
// context.Canceled) holds) and names op's last error. A Permanent error is returned
// unwrapped, without retrying.
func (p Policy) Retry(ctx context.Context, op func(context.Context) error, notify func(err error, next time.Duration)) error {
	if err := ctx.Err(); err != nil {
		return ctxError(ctx, nil)
	}
	p = p.withDefaults()
	b := &deadlineBackOff{BackOff: p.newBackOff(), clock: p.Clock}
	b.deadline, b.hasDeadline = ctx.Deadline()

	var lastErr error
	permanent := false
	operation := func() error {
		lastErr = op(ctx)
		permanent = IsPermanent(lastErr)
		return lastErr
	}
	var n backoff.Notify
	if notify != nil {
		n = backoff.Notify(notify)
	}
	err := backoff.RetryNotifyWithTimer(operation, backoff.WithContext(b, ctx), n, &clockTimer{clock: p.Clock})
	switch {
	case err == nil:
		return nil
	case permanent:
		return err // the library unwrapped the *PermanentError already
	case !b.next.IsZero():
		return &DeadlineError{Err: lastErr, NextAttempt: b.next}
	case ctx.Err() != nil:
		return ctxError(ctx, lastErr)
	default:
		return err
	}
}

// ctxError wraps ctx's error (and its cause, when it says more), naming the last
// error of the operation.
func ctxError(ctx context.Context, last error) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	if last == nil {
		return err
	}
	return fmt.Errorf("%w (last error: %v)", err, last)
}

// Schedule returns a new schedule of waits of the policy: each NextBackOff is the
// next jittered wait (never Stop), Reset starts over. A driver that retries across
// calls, not inside one (dbctl controller: one backoff per Database between
// reconciles), keeps one per item. Not safe for concurrent use.
func (p Policy) Schedule() backoff.BackOff { return p.withDefaults().newBackOff() }

// newBackOff returns the policy's schedule, p having its defaults. MaxElapsedTime is
// 0: the context's deadline bounds the retries, not the backoff.
func (p Policy) newBackOff() backoff.BackOff {
	exp := &backoff.ExponentialBackOff{
		InitialInterval:     p.Initial,
		RandomizationFactor: p.Jitter,
		Multiplier:          p.Multiplier,
		MaxInterval:         p.Max,
		MaxElapsedTime:      0,
		Stop:                backoff.Stop,
		Clock:               p.Clock,
	}
	exp.Reset()
	return &ceilingBackOff{BackOff: exp, max: p.Max}
}

// ceilingBackOff keeps each jittered wait at most max. ExponentialBackOff caps the
// interval before jitter, so at the cap a wait could reach max·(1+jitter); a wait
// above max is reflected below it, which keeps it uniformly distributed in
// [max·(1-jitter), max] rather than piling the waits up on max.
type ceilingBackOff struct {
	backoff.BackOff
	max time.Duration
}

func (b *ceilingBackOff) NextBackOff() time.Duration {
	next := b.BackOff.NextBackOff()
	if next == backoff.Stop || next <= b.max {
		return next
	}
	if next = 2*b.max - next; next < 0 {
		next = 0
	}
	return next
}

// deadlineBackOff stops the retries when the next attempt would not start before
// the deadline, and remembers when it would have.
type deadlineBackOff struct {
	backoff.BackOff
	clock       clock.PassiveClock
	deadline    time.Time
	hasDeadline bool
	next        time.Time // set when the deadline stopped the retries
}

func (b *deadlineBackOff) NextBackOff() time.Duration {
	d := b.BackOff.NextBackOff()
	if d == backoff.Stop || !b.hasDeadline {
		return d
	}
	if at := b.clock.Now().Add(d); !at.Before(b.deadline) {
		b.next = at
		return backoff.Stop
	}
	return d
}

// clockTimer is a backoff.Timer on a clock.WithTicker, so that a fake clock drives
// the waits in tests.
type clockTimer struct {
	clock clock.WithTicker
	timer clock.Timer
}

func (t *clockTimer) Start(d time.Duration) {
	if t.timer == nil {
		t.timer = t.clock.NewTimer(d)
		return
	}
	t.timer.Reset(d)
}

func (t *clockTimer) Stop() {
	if t.timer != nil {
		t.timer.Stop()
	}
}

func (t *clockTimer) C() <-chan time.Time { return t.timer.C() }
