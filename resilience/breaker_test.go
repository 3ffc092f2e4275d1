package resilience

import (
	"errors"
	"testing"
	"time"

	fakeclock "k8s.io/utils/clock/testing"
)

func mustOpenError(t *testing.T, err error) *OpenError {
	t.Helper()
	var oe *OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("want an *OpenError, got %v", err)
	}
	return oe
}

func allow(t *testing.T, s Settings, r *Record, now time.Time) bool {
	t.Helper()
	probe, err := s.Allow(r, now)
	if err != nil {
		t.Fatalf("Allow at %v: %v", now, err)
	}
	return probe
}

// openRecord drives a zero Record to open at clk's time with s's threshold.
func openRecord(t *testing.T, s Settings, clk *fakeclock.FakeClock) *Record {
	t.Helper()
	r := &Record{}
	for range s.withDefaults().Threshold {
		s.Failure(r, clk.Now(), "connection refused")
	}
	if r.State != StateOpen {
		t.Fatalf("state %q after %d failures, want open", r.State, r.Failures)
	}
	return r
}

func TestBreakerClosedStaysClosedBelowThreshold(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	s := Settings{Threshold: 3}
	r := &Record{}
	for i := 1; i <= 2; i++ {
		if allow(t, s, r, clk.Now()) {
			t.Fatal("a closed breaker does not probe")
		}
		s.Failure(r, clk.Now(), "boom")
		clk.Step(time.Second)
		if r.CurrentState() != StateClosed || r.Failures != i {
			t.Fatalf("after %d failures: %q with %d failures", i, r.State, r.Failures)
		}
	}
	if r.OpenedAt != nil || r.LastError != "boom" || !r.LastFailure.Equal(t0.Add(time.Second)) {
		t.Fatalf("record %+v", r)
	}
}

func TestBreakerOpensAtThreshold(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	s := Settings{} // threshold 5
	r := &Record{}
	for i := range 5 {
		if r.CurrentState() != StateClosed {
			t.Fatalf("opened after %d failures", i)
		}
		clk.Step(time.Second)
		s.Failure(r, clk.Now(), "boom")
	}
	if r.State != StateOpen || r.Failures != 5 || !r.OpenedAt.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("record %+v", r)
	}
}

func TestBreakerRejectsWhileOpenWithNextProbe(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	s := Settings{Threshold: 2, Cooldown: time.Minute}
	r := openRecord(t, s, clk)
	for _, d := range []time.Duration{0, 30 * time.Second, time.Minute - time.Nanosecond} {
		clk.SetTime(t0.Add(d))
		probe, err := s.Allow(r, clk.Now())
		oe := mustOpenError(t, err)
		if probe || oe.State != StateOpen || !oe.NextProbe.Equal(t0.Add(time.Minute)) || oe.LastError != "connection refused" {
			t.Fatalf("at +%v: probe %v, %+v", d, probe, oe)
		}
	}
	if r.State != StateOpen || r.ProbeUntil != nil {
		t.Fatalf("a rejection must not change the record: %+v", r)
	}
	if got := s.NextProbe(*r); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("NextProbe = %v", got)
	}
	oe := mustOpenError(t, func() error { _, err := s.Allow(r, t0); return err }())
	oe.Name = "postgres"
	want := `circuit breaker for dependency "postgres" is open (last error: connection refused); next probe allowed at 2100-01-02T03:05:05Z`
	if oe.Error() != want {
		t.Fatalf("Error() =\n%s\nwant\n%s", oe.Error(), want)
	}
}

func TestBreakerHalfOpenAllowsExactlyOneProbe(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	s := Settings{Threshold: 1, Cooldown: time.Minute, ProbeLease: 30 * time.Second}
	r := openRecord(t, s, clk)
	clk.Step(time.Minute)
	if !allow(t, s, r, clk.Now()) {
		t.Fatal("after the cooldown, the first check must be a probe")
	}
	if r.State != StateHalfOpen || !r.ProbeUntil.Equal(clk.Now().Add(30*time.Second)) {
		t.Fatalf("record %+v", r)
	}
	for _, d := range []time.Duration{0, time.Second, 30*time.Second - time.Nanosecond} {
		probe, err := s.Allow(r, t0.Add(time.Minute+d))
		oe := mustOpenError(t, err)
		if probe || oe.State != StateHalfOpen || !oe.NextProbe.Equal(t0.Add(90*time.Second)) {
			t.Fatalf("a second probe at +%v: probe %v, %+v", d, probe, oe)
		}
	}
	if got := s.NextProbe(*r); !got.Equal(t0.Add(90 * time.Second)) {
		t.Fatalf("NextProbe = %v", got)
	}
}

func TestBreakerProbeSuccessCloses(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	s := Settings{Threshold: 3}
	r := openRecord(t, s, clk)
	clk.Step(time.Minute)
	allow(t, s, r, clk.Now())
	clk.Step(time.Second)
	s.Success(r, clk.Now())
	if r.State != StateClosed || r.Failures != 0 || r.OpenedAt != nil || r.ProbeUntil != nil || !r.LastSuccess.Equal(clk.Now()) {
		t.Fatalf("record %+v", r)
	}
	if allow(t, s, r, clk.Now()) {
		t.Fatal("a closed breaker does not probe")
	}
	// Failures count afresh: threshold-1 failures do not open it.
	s.Failure(r, clk.Now(), "x")
	s.Failure(r, clk.Now(), "x")
	if r.State != StateClosed {
		t.Fatalf("state %q", r.State)
	}
}

func TestBreakerProbeFailureReopens(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	s := Settings{Threshold: 2}
	r := openRecord(t, s, clk)
	clk.Step(time.Minute)
	allow(t, s, r, clk.Now())
	clk.Step(2 * time.Second)
	s.Failure(r, clk.Now(), "still down")
	reopened := t0.Add(time.Minute + 2*time.Second)
	if r.State != StateOpen || !r.OpenedAt.Equal(reopened) || r.ProbeUntil != nil || r.Failures != 3 || r.LastError != "still down" {
		t.Fatalf("record %+v", r)
	}
	_, err := s.Allow(r, clk.Now())
	if oe := mustOpenError(t, err); !oe.NextProbe.Equal(reopened.Add(time.Minute)) {
		t.Fatalf("NextProbe %v, want a new cooldown from %v", oe.NextProbe, reopened)
	}
}

func TestBreakerExpiredProbeLeaseAllowsANewProbe(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	s := Settings{Threshold: 1, ProbeLease: 10 * time.Second}
	r := openRecord(t, s, clk)
	clk.Step(time.Minute)
	allow(t, s, r, clk.Now()) // this prober crashes: no result is ever recorded
	clk.Step(10 * time.Second)
	if !allow(t, s, r, clk.Now()) {
		t.Fatal("an expired lease must allow a new probe")
	}
	if !r.ProbeUntil.Equal(clk.Now().Add(10*time.Second)) || r.State != StateHalfOpen {
		t.Fatalf("record %+v", r)
	}
	if _, err := s.Allow(r, clk.Now()); err == nil {
		t.Fatal("the new lease must hold off a third probe")
	}
}

func TestBreakerReleaseLetsTheNextCheckProbe(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	s := Settings{Threshold: 1}
	r := openRecord(t, s, clk)
	clk.Step(time.Minute)
	allow(t, s, r, clk.Now())
	s.Release(r)
	if !allow(t, s, r, clk.Now()) {
		t.Fatal("after Release, the next check probes")
	}
}

func TestBreakerSuccessInClosedResetsFailures(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	s := Settings{Threshold: 3}
	r := &Record{}
	s.Failure(r, clk.Now(), "x")
	s.Failure(r, clk.Now(), "x")
	s.Success(r, clk.Now())
	if r.Failures != 0 || r.State != StateClosed {
		t.Fatalf("record %+v", r)
	}
	s.Failure(r, clk.Now(), "x")
	s.Failure(r, clk.Now(), "x")
	if r.State != StateClosed {
		t.Fatal("failures must be consecutive")
	}
}

func TestBreakerLateFailureWhileOpenKeepsTheCooldown(t *testing.T) {
	clk := fakeclock.NewFakeClock(t0)
	s := Settings{Threshold: 1}
	r := openRecord(t, s, clk)
	clk.Step(30 * time.Second)
	s.Failure(r, clk.Now(), "late")
	if !r.OpenedAt.Equal(t0) || r.State != StateOpen {
		t.Fatalf("record %+v", r)
	}
}

func TestBreakerNextProbeOfClosedIsZero(t *testing.T) {
	if !(Settings{}).NextProbe(Record{}).IsZero() {
		t.Fatal("a closed breaker has no next probe")
	}
	// A hand-edited open record without openedAt: probe at once rather than never.
	r := &Record{State: StateOpen}
	if !allow(t, Settings{}, r, t0) {
		t.Fatal("an open record without openedAt must allow a probe")
	}
}

func TestOpenErrorHalfOpenMessage(t *testing.T) {
	e := &OpenError{Name: "vault", State: StateHalfOpen, NextProbe: t0}
	want := `circuit breaker for dependency "vault" is half-open with a probe in flight; next probe allowed at 2100-01-02T03:04:05Z`
	if e.Error() != want {
		t.Fatalf("got %s", e.Error())
	}
}
