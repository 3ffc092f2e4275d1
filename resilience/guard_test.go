package resilience

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofrs/flock"
	fakeclock "k8s.io/utils/clock/testing"
)

func newGuard(t *testing.T, path string, clk *fakeclock.FakeClock, s Settings) *Guard {
	return &Guard{Limiters: NewLimiters(1e9, 1000), Store: NewStore(path, noWarnings(t)), Settings: s, Clock: clk}
}

func TestGuardNeverCallsTheDependencyWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	clk := fakeclock.NewFakeClock(t0)
	g := newGuard(t, path, clk, Settings{Threshold: 2, Cooldown: time.Minute})
	dep := Dependency{Name: "postgres", Target: "db.internal:5432", Timeout: time.Second}
	calls := 0
	down := func(context.Context) error { calls++; return errTransient }

	for range 2 {
		if err := g.Check(context.Background(), dep, down); !errors.Is(err, errTransient) {
			t.Fatalf("Check = %v", err)
		}
	}
	for range 5 {
		clk.Step(10 * time.Second)
		err := g.Check(context.Background(), dep, down)
		oe := mustOpenError(t, err)
		if oe.Name != "postgres" || !oe.NextProbe.Equal(t0.Add(time.Minute)) || oe.LastError != "connection refused" {
			t.Fatalf("OpenError %+v", oe)
		}
	}
	if calls != 2 {
		t.Fatalf("the dependency was called %d times, want 2: never while open", calls)
	}
	r, ok := stateOf(g, "postgres")
	if !ok || r.State != StateOpen || r.Failures != 2 || r.Target != "db.internal:5432" {
		t.Fatalf("State = %+v, %v", r, ok)
	}

	// After the cooldown, one probe; it succeeds and closes the breaker.
	clk.SetTime(t0.Add(time.Minute))
	if err := g.Check(context.Background(), dep, func(context.Context) error { calls++; return nil }); err != nil {
		t.Fatal(err)
	}
	if r, _ := stateOf(g, "postgres"); calls != 3 || r.State != StateClosed || r.Failures != 0 || !r.LastSuccess.Equal(t0.Add(time.Minute)) {
		t.Fatalf("calls %d, record %+v", calls, r)
	}
}

func TestGuardDoesNotHoldTheLockDuringTheCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	g := newGuard(t, path, fakeclock.NewFakeClock(t0), Settings{})
	called := false
	err := g.Check(context.Background(), Dependency{Name: "db"}, func(context.Context) error {
		called = true
		// The file lock is free: another process could take it now.
		lock := flock.New(path + ".lock")
		ok, err := lock.TryLock()
		if err != nil || !ok {
			t.Errorf("the state file lock is held during the check: %v %v", ok, err)
		}
		_ = lock.Unlock()
		// And another Store on the same path completes an Update.
		done := make(chan error, 1)
		go func() { done <- NewStore(path, noWarnings(t)).Update(recordFailure("other", t0, "x")) }()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second): // a failsafe against a deadlock, not a timing assertion
			t.Error("a second Store's Update blocked during the check: the lock is held")
		}
		return nil
	})
	if err != nil || !called {
		t.Fatalf("Check = %v, called %v", err, called)
	}
	sf := readValid(t, path)
	if sf.Breakers["other"] == nil || sf.Breakers["db"] == nil {
		t.Fatalf("both updates must be kept: %v", sf.Names())
	}
}

func TestGuardAllowsExactlyOneConcurrentProbe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	clk := fakeclock.NewFakeClock(t0)
	s := Settings{Threshold: 1}
	if err := NewStore(path, noWarnings(t)).Update(func(sf *StateFile) error {
		s.Failure(record(sf, "db"), t0.Add(-time.Hour), "down") // open, cooldown long over
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	const callers = 10
	var calls atomic.Int32
	release := make(chan struct{})
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			g := newGuard(t, path, clk, s) // a Store each, as separate processes have
			errs <- g.Check(context.Background(), Dependency{Name: "db"}, func(context.Context) error {
				calls.Add(1)
				<-release // the probe is in flight until the others have been turned away
				return nil
			})
		})
	}
	for range callers - 1 {
		oe := mustOpenError(t, <-errs)
		if oe.State != StateHalfOpen || !oe.NextProbe.Equal(t0.Add(DefaultProbeLease)) {
			t.Fatalf("OpenError %+v", oe)
		}
	}
	close(release)
	wg.Wait()
	if err := <-errs; err != nil {
		t.Fatalf("the probe: %v", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d probes, want exactly 1", calls.Load())
	}
	if r := readValid(t, path).Breakers["db"]; r.State != StateClosed {
		t.Fatalf("record %+v", r)
	}
}

func TestGuardCheckTimeoutCountsAsFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	g := newGuard(t, path, fakeclock.NewFakeClock(t0), Settings{})
	err := g.Check(context.Background(), Dependency{Name: "db", Timeout: time.Millisecond}, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Check = %v", err)
	}
	if r, _ := stateOf(g, "db"); r.Failures != 1 || r.LastError != "context deadline exceeded" {
		t.Fatalf("record %+v", r)
	}
}

func TestGuardCallerCancelIsNotAFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	clk := fakeclock.NewFakeClock(t0)
	s := Settings{Threshold: 1}
	g := newGuard(t, path, clk, s)
	dep := Dependency{Name: "db"}
	ctx, cancel := context.WithCancel(context.Background())
	interrupted := func(ctx context.Context) error { cancel(); return ctx.Err() }
	if err := g.Check(ctx, dep, interrupted); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check = %v", err)
	}
	if r, _ := stateOf(g, "db"); r.Failures != 0 || r.CurrentState() != StateClosed {
		t.Fatalf("an interrupt counted as a failure: %+v", r)
	}

	// An interrupted probe gives its lease back: the next check probes at once.
	if err := g.Check(context.Background(), dep, func(context.Context) error { return errTransient }); err == nil {
		t.Fatal("want the failure")
	}
	clk.Step(time.Minute)
	ctx, cancel = context.WithCancel(context.Background())
	if err := g.Check(ctx, dep, func(ctx context.Context) error { cancel(); return ctx.Err() }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check = %v", err)
	}
	if r, _ := stateOf(g, "db"); r.State != StateHalfOpen || r.ProbeUntil != nil {
		t.Fatalf("record %+v", r)
	}
	probed := false
	if err := g.Check(context.Background(), dep, func(context.Context) error { probed = true; return nil }); err != nil || !probed {
		t.Fatalf("Check = %v, probed %v", err, probed)
	}
}

func TestGuardErrorNamesTheDependencyRedacted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	g := newGuard(t, path, fakeclock.NewFakeClock(t0), Settings{})
	dep := Dependency{Name: "vault", Target: "https://ci:pw@vault.example.com/v1/sys/health?token=abc"}
	err := g.Check(context.Background(), dep, func(context.Context) error {
		return errors.Join(errTransient, errors.New("at https://ci:pw@vault.example.com/v1/sys/health?token=abc"))
	})
	want := `dependency "vault" (https://vault.example.com/v1/sys/health): connection refused` + "\n" +
		`at https://vault.example.com/v1/sys/health`
	if err == nil || err.Error() != want {
		t.Fatalf("Check =\n%v\nwant\n%s", err, want)
	}
	if !errors.Is(err, errTransient) {
		t.Fatal("the check's error must stay inspectable")
	}
	if r, _ := stateOf(g, "vault"); strings.Contains(r.LastError, "pw") || strings.Contains(r.LastError, "token") {
		t.Fatalf("lastError %q", r.LastError)
	}
}

func TestGuardWithoutStoreOrLimiters(t *testing.T) {
	g := &Guard{}
	if err := g.Check(context.Background(), Dependency{Name: "x"}, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := stateOf(g, "x"); ok {
		t.Fatal("no store, no state")
	}
}

func TestGuardRateLimitsBeforeTheBreaker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	g := &Guard{Limiters: NewLimiters(0.001, 1), Store: NewStore(path, noWarnings(t))}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dep := Dependency{Name: "db"}
	if err := g.Check(ctx, dep, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	err := g.Check(ctx, dep, func(context.Context) error { t.Error("called past the rate limit"); return nil })
	if err == nil || !strings.Contains(err.Error(), `rate limit of dependency "db"`) {
		t.Fatalf("Check = %v", err)
	}
}

// stateOf is the breaker of the dependency name as g's state file holds it now, and
// false if it has none (the breaker is closed).
func stateOf(g *Guard, name string) (Record, bool) {
	if g.Store == nil {
		return Record{}, false
	}
	sf, err := g.Store.Load()
	if err != nil || sf.Breakers[name] == nil {
		return Record{}, false
	}
	return *sf.Breakers[name], true
}
