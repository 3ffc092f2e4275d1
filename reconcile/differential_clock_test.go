package reconcile_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

// Virtual time for the differential test (differential_test.go). A reconcile's
// waits (a Failed Database's retry window, the backoff between retries, the verify
// deadline of a rollout that never completes, the run's own deadline) pass in
// virtual time, without sleeping: the engine, its retry policy and its circuit
// breakers run on a virtualClock, and the run's context has a virtual deadline.
//
// Time moves only when the engine sleeps: the scenario's event handler says when it
// does (a retry, the backoff wait, the rollout wait of a rollout the scenario keeps
// from completing), and the clock then jumps to the earliest timer the engine
// waits for, or, when that is past the run's deadline, to the deadline, which ends
// the run's context. A rollout the scenario lets complete is never raced by a jump:
// the engine is not sleeping then, it waits for the API server.

// virtualClock is a clock.WithTicker on a FakeClock that knows the timers it handed
// out (not the tickers: a heartbeat never makes time jump).
type virtualClock struct {
	*clocktesting.FakeClock
	mu       sync.Mutex
	timers   map[*virtualTimer]struct{}
	sleeping bool
	kick     chan struct{}
}

var _ clock.WithTicker = (*virtualClock)(nil)

func newVirtualClock(now time.Time) *virtualClock {
	return &virtualClock{FakeClock: clocktesting.NewFakeClock(now), timers: map[*virtualTimer]struct{}{}, kick: make(chan struct{}, 1)}
}

// virtualTimer is a FakeClock timer whose firing time the clock knows.
type virtualTimer struct {
	clock.Timer
	c       *virtualClock
	at      time.Time
	stopped bool // guarded by c.mu
}

// NewTimer and Reset register the FakeClock's timer and record its firing time
// under c.mu, so that time never jumps between the two (the timer would then wait
// for a time nobody moves the clock to).
func (c *virtualClock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	t := &virtualTimer{Timer: c.FakeClock.NewTimer(d), c: c, at: c.Now().Add(d)}
	c.timers[t] = struct{}{}
	c.mu.Unlock()
	if d <= 0 {
		c.Step(0) // due now, as a real timer would be
	}
	c.poke()
	return t
}

func (c *virtualClock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).C() }

func (c *virtualClock) Sleep(d time.Duration) { <-c.After(d) }

func (t *virtualTimer) Stop() bool {
	t.c.mu.Lock()
	t.stopped = true
	t.c.mu.Unlock()
	return t.Timer.Stop()
}

func (t *virtualTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	active := t.Timer.Reset(d)
	t.stopped, t.at = false, t.c.Now().Add(d)
	t.c.timers[t] = struct{}{}
	t.c.mu.Unlock()
	if d <= 0 {
		t.c.Step(0)
	}
	t.c.poke()
	return active
}

func (c *virtualClock) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// sleep says that the engine is about to wait for one of its timers.
func (c *virtualClock) sleep() {
	c.mu.Lock()
	c.sleeping = true
	c.mu.Unlock()
	c.poke()
}

// next is the earliest pending timer, when the engine sleeps.
func (c *virtualClock) next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sleeping {
		return time.Time{}, false
	}
	now := c.Now()
	var at time.Time
	for t := range c.timers {
		switch {
		case t.stopped || !t.at.After(now):
			delete(c.timers, t)
		case at.IsZero() || t.at.Before(at):
			at = t.at
		}
	}
	return at, !at.IsZero()
}

// advance moves time while the engine sleeps, until ctx's virtual deadline (which
// it then ends) or until stop is closed.
func (c *virtualClock) advance(ctx *virtualContext, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-time.After(20 * time.Millisecond):
		}
		at, ok := c.next()
		if !ok {
			continue
		}
		c.mu.Lock()
		c.sleeping = false
		c.mu.Unlock()
		if !at.Before(ctx.deadline) {
			c.SetTime(ctx.deadline)
			ctx.end(context.DeadlineExceeded)
			return
		}
		c.SetTime(at)
	}
}

// virtualContext is a run's context whose deadline is on the virtual clock: its
// Deadline is virtual, and it is Done when the clock reaches it (advance), or when
// the real backstop ends (a scenario stuck in real time: errStuck).
type virtualContext struct {
	deadline time.Time
	done     chan struct{}
	once     sync.Once
	err      atomic.Value // error
}

// errStuck: the run did not finish in real time; the differential test fails.
var errStuck = errors.New("the run did not finish within its real-time backstop")

func newVirtualContext(deadline time.Time, backstop time.Duration) *virtualContext {
	v := &virtualContext{deadline: deadline, done: make(chan struct{})}
	go func() {
		select {
		case <-time.After(backstop):
			v.end(errStuck)
		case <-v.done:
		}
	}()
	return v
}

func (v *virtualContext) end(err error) {
	v.once.Do(func() {
		v.err.Store(err)
		close(v.done)
	})
}

func (v *virtualContext) Deadline() (time.Time, bool) { return v.deadline, true }
func (v *virtualContext) Done() <-chan struct{}       { return v.done }
func (v *virtualContext) Value(any) any               { return nil }

func (v *virtualContext) Err() error {
	if err, ok := v.err.Load().(error); ok {
		return err
	}
	return nil
}
