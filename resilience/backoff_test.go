package resilience

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	fakeclock "k8s.io/utils/clock/testing"
)

// t0 is far in the future so that a context deadline relative to it, which the real
// clock enforces, never passes during a test: only the fake clock moves.
var t0 = time.Date(2100, 1, 2, 3, 4, 5, 0, time.UTC)

var errTransient = errors.New("connection refused")

// waitForTimer waits until the code under test has started a timer on clk.
func waitForTimer(t *testing.T, clk *fakeclock.FakeClock) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // a failsafe, not an assertion
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("Retry never started waiting")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// result waits for Retry's result, which must come without the fake clock moving.
func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second): // a failsafe, not an assertion
		t.Fatal("Retry did not return: it is waiting on the clock")
		return nil
	}
}

func TestDelaysSeedSchedule(t *testing.T) {
	s := time.Second
	want := []time.Duration{5 * s, 10 * s, 20 * s, 40 * s, 80 * s, 160 * s, 300 * s, 300 * s, 300 * s}
	if got := (Policy{}).Delays(len(want)); !slices.Equal(got, want) {
		t.Fatalf("Delays = %v, want %v", got, want)
	}
	got := Policy{Initial: time.Second, Max: 3 * time.Second, Multiplier: 3}.Delays(4)
	if want := []time.Duration{s, 3 * s, 3 * s, 3 * s}; !slices.Equal(got, want) {
		t.Fatalf("Delays = %v, want %v", got, want)
	}
	if got := (Policy{Multiplier: 0.5}).Delays(3); !slices.Equal(got, []time.Duration{5 * s, 5 * s, 5 * s}) {
		t.Fatalf("a multiplier below 1 must be constant, got %v", got)
	}
	if got := (Policy{}).Delays(0); len(got) != 0 {
		t.Fatalf("Delays(0) = %v", got)
	}
}

func TestRetryFollowsTheScheduleOnTheInjectedClock(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	p := Policy{Jitter: -1, Clock: clk}
	want := p.Delays(9)

	notified := make(chan time.Duration, 1)
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- p.Retry(context.Background(), func(context.Context) error {
			calls++
			if calls <= len(want) {
				return errTransient
			}
			return nil
		}, func(err error, next time.Duration) {
			if !errors.Is(err, errTransient) {
				t.Errorf("notify got %v", err)
			}
			notified <- next
		})
	}()
	var total time.Duration
	for i, w := range want {
		next := <-notified
		if next != w {
			t.Fatalf("wait %d = %v, want %v", i, next, w)
		}
		waitForTimer(t, clk)
		if got := clk.Now().Sub(t0); got != total {
			t.Fatalf("attempt %d ran at +%v, want +%v", i+2, got, total)
		}
		clk.Step(next)
		total += next
	}
	if err := result(t, done); err != nil {
		t.Fatalf("Retry = %v", err)
	}
	if calls != len(want)+1 {
		t.Fatalf("op called %d times, want %d", calls, len(want)+1)
	}
	if total != 5*time.Second*(1+2+4+8+16+32)+3*5*time.Minute {
		t.Fatalf("total wait %v", total)
	}
}

func TestJitterBoundsAndCeiling(t *testing.T) {
	p := Policy{Clock: fakeclock.NewFakeClock(t0)}.withDefaults()
	base := p.Delays(12)
	sawBelow, sawAbove, sawBelowMaxAtCap := false, false, false
	for range 300 {
		b := p.newBackOff()
		for i, d := range base {
			got := b.NextBackOff()
			lo := time.Duration(float64(d) * 0.8)
			hi := min(time.Duration(float64(d)*1.2), p.Max)
			if got < lo || got > hi {
				t.Fatalf("wait %d = %v, outside [%v, %v]", i, got, lo, hi)
			}
			if got > p.Max {
				t.Fatalf("wait %d = %v above the ceiling %v", i, got, p.Max)
			}
			sawBelow = sawBelow || got < d
			sawAbove = sawAbove || got > d
			if d == p.Max && got < p.Max {
				sawBelowMaxAtCap = true
			}
		}
	}
	if !sawBelow || !sawAbove || !sawBelowMaxAtCap {
		t.Fatalf("jitter is not spread: below %v, above %v, below the cap at the cap %v", sawBelow, sawAbove, sawBelowMaxAtCap)
	}

	// A small ceiling with a large jitter: never above Max, never negative.
	p = Policy{Initial: time.Second, Max: 2 * time.Second, Jitter: 5, Clock: fakeclock.NewFakeClock(t0)}.withDefaults()
	b := p.newBackOff()
	for range 1000 {
		if got := b.NextBackOff(); got < 0 || got > 2*time.Second {
			t.Fatalf("wait %v outside [0, 2s]", got)
		}
	}
}

func TestRetryReturnsDeadlineErrorAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name        string
		deadline    time.Duration // after t0
		wantCalls   int
		wantNow     time.Duration // fake time when Retry returns
		wantAttempt time.Duration
	}{
		// 5s and 10s fit; the third wait (20s) would end at +35s, after +30s.
		{name: "next wait would pass the deadline", deadline: 30 * time.Second, wantCalls: 3, wantNow: 15 * time.Second, wantAttempt: 35 * time.Second},
		// An attempt exactly at the deadline would be cancelled at once: not worth a wait.
		{name: "next attempt exactly at the deadline", deadline: 15 * time.Second, wantCalls: 2, wantNow: 5 * time.Second, wantAttempt: 15 * time.Second},
		{name: "first wait already too long", deadline: time.Second, wantCalls: 1, wantNow: 0, wantAttempt: 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := fakeclock.NewFakeClock(t0)
			ctx, cancel := context.WithDeadline(context.Background(), t0.Add(tc.deadline))
			defer cancel()
			p := Policy{Jitter: -1, Clock: clk}
			notified := make(chan time.Duration, 1)
			calls := 0
			done := make(chan error, 1)
			go func() {
				done <- p.Retry(ctx, func(context.Context) error {
					calls++
					return fmt.Errorf("attempt %d: %w", calls, errTransient)
				}, func(_ error, next time.Duration) { notified <- next })
			}()
			var err error
		loop:
			for {
				select {
				case next := <-notified:
					waitForTimer(t, clk)
					clk.Step(next)
				case err = <-done:
					break loop
				}
			}
			var de *DeadlineError
			if !errors.As(err, &de) {
				t.Fatalf("Retry = %v, want a *DeadlineError", err)
			}
			if got := clk.Now().Sub(t0); got != tc.wantNow {
				t.Fatalf("Retry returned at +%v of fake time, want +%v: it waited", got, tc.wantNow)
			}
			if clk.HasWaiters() {
				t.Fatal("a timer is still pending")
			}
			if !de.NextAttempt.Equal(t0.Add(tc.wantAttempt)) {
				t.Fatalf("NextAttempt = %v, want %v", de.NextAttempt, t0.Add(tc.wantAttempt))
			}
			if calls != tc.wantCalls {
				t.Fatalf("op called %d times, want %d", calls, tc.wantCalls)
			}
			if !errors.Is(err, errTransient) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%v must wrap the last error and be a DeadlineExceeded", err)
			}
			if want := fmt.Sprintf("attempt %d: connection refused", tc.wantCalls); !strings.Contains(err.Error(), want) {
				t.Fatalf("%q does not name the last error %q", err, want)
			}
		})
	}
}

func TestRetryDoesNotRetryPermanentErrors(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	errBad := errors.New("invalid spec")
	calls := 0
	err := Policy{Clock: clk}.Retry(context.Background(), func(context.Context) error {
		calls++
		return Permanent(fmt.Errorf("validating: %w", errBad))
	}, func(error, time.Duration) { t.Error("notify called for a permanent error") })
	if calls != 1 {
		t.Fatalf("op called %d times", calls)
	}
	if !errors.Is(err, errBad) || err.Error() != "validating: invalid spec" {
		t.Fatalf("Retry = %v, want the inner error", err)
	}
	if IsPermanent(err) {
		t.Fatal("the returned error must be the inner one, not the wrapper")
	}
	if !IsPermanent(fmt.Errorf("x: %w", Permanent(errBad))) || IsPermanent(errBad) {
		t.Fatal("IsPermanent")
	}
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) must be nil")
	}
}

func TestRetryCancelWrapsContextErrorAndNamesLastError(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	notified := make(chan time.Duration, 1)
	done := make(chan error, 1)
	go func() {
		done <- Policy{Clock: clk}.Retry(ctx, func(context.Context) error { return errTransient },
			func(_ error, next time.Duration) { notified <- next })
	}()
	<-notified
	waitForTimer(t, clk)
	cancel()
	err := result(t, done)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Retry = %v, want a context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "last error: connection refused") {
		t.Fatalf("%q does not name the last error", err)
	}
	var de *DeadlineError
	if errors.As(err, &de) {
		t.Fatal("a cancel is not a DeadlineError")
	}
	if clk.Now() != t0 {
		t.Fatal("the fake clock moved")
	}
}

func TestRetryCancelCarriesTheCause(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	errSignal := errors.New("interrupt")
	calls := 0
	err := Policy{Clock: fakeclock.NewFakeClock(t0)}.Retry(ctx, func(context.Context) error {
		calls++
		cancel(errSignal)
		return errTransient
	}, nil)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errSignal) || calls != 1 {
		t.Fatalf("Retry = %v after %d calls", err, calls)
	}
}

func TestRetryWithDoneContextDoesNotCallOp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Policy{Clock: fakeclock.NewFakeClock(t0)}.Retry(ctx, func(context.Context) error {
		t.Error("op called")
		return nil
	}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Retry = %v", err)
	}
}

func TestRetrySucceedsAtOnce(t *testing.T) {
	err := Policy{Clock: fakeclock.NewFakeClock(t0)}.Retry(context.Background(),
		func(context.Context) error { return nil },
		func(error, time.Duration) { t.Error("notify called") })
	if err != nil {
		t.Fatal(err)
	}
}
