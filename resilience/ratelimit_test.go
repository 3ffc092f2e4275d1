package resilience

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestNewLimitersDefaults(t *testing.T) {
	l := NewLimiters(0, 0).Limiter("db")
	if l.Limit() != rate.Limit(1) || l.Burst() != 1 {
		t.Fatalf("limit %v burst %d, want 1/s and 1", l.Limit(), l.Burst())
	}
	l = NewLimiters(-3, -1).Limiter("db")
	if l.Limit() != rate.Limit(1) || l.Burst() != 1 {
		t.Fatalf("limit %v burst %d, want 1/s and 1", l.Limit(), l.Burst())
	}
}

// The spacing is tested with explicit times: no sleeping, no wall clock.
func TestLimiterSpacing(t *testing.T) {
	ls := NewLimiters(2, 1) // one check every 500ms
	l := ls.Limiter("postgres")
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	if !l.AllowN(at(0), 1) {
		t.Fatal("the first check must be allowed")
	}
	for _, d := range []time.Duration{0, 100 * time.Millisecond, 499 * time.Millisecond} {
		if l.AllowN(at(d), 1) {
			t.Fatalf("a check at +%v must wait", d)
		}
	}
	if !l.AllowN(at(500*time.Millisecond), 1) {
		t.Fatal("a check at +500ms must be allowed")
	}
	r := l.ReserveN(at(500*time.Millisecond), 1)
	if got := r.DelayFrom(at(500 * time.Millisecond)); got != 500*time.Millisecond {
		t.Fatalf("the next check waits %v, want 500ms", got)
	}
	r2 := l.ReserveN(at(500*time.Millisecond), 1)
	if got := r2.DelayFrom(at(500 * time.Millisecond)); got != time.Second {
		t.Fatalf("the check after waits %v, want 1s", got)
	}

	// Another dependency has its own bucket; the same name the same limiter.
	if !ls.Limiter("vault").AllowN(at(0), 1) {
		t.Fatal("vault must not share postgres's bucket")
	}
	if ls.Limiter("postgres") != l {
		t.Fatal("a dependency must keep its limiter")
	}
}

func TestLimiterBurst(t *testing.T) {
	l := NewLimiters(1, 3).Limiter("db")
	for i := range 3 {
		if !l.AllowN(t0, 1) {
			t.Fatalf("check %d of the burst refused", i+1)
		}
	}
	if l.AllowN(t0, 1) {
		t.Fatal("the fourth check must wait")
	}
	if !l.AllowN(t0.Add(time.Second), 1) {
		t.Fatal("one token per second")
	}
}

func TestLimitersWaitNeverWaitsPastTheDeadline(t *testing.T) {
	ls := NewLimiters(0.001, 1) // one check per 1000s
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ls.Wait(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	// The next token is 1000s away, past the deadline: an error now, not a wait.
	if err := ls.Wait(ctx, "db"); err == nil {
		t.Fatal("Wait must fail when the wait would pass the deadline")
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := ls.Wait(cctx, "other"); err == nil {
		t.Fatal("Wait with a cancelled context must fail")
	}
}

func TestLimitersConcurrentUse(t *testing.T) {
	ls := NewLimiters(1, 1)
	names := []string{"a", "b", "c", "d"}
	got := make([][]*rate.Limiter, 32)
	var wg sync.WaitGroup
	for g := range got {
		wg.Go(func() {
			for _, n := range names {
				got[g] = append(got[g], ls.Limiter(n))
			}
		})
	}
	wg.Wait()
	for g := range got {
		for i := range names {
			if got[g][i] != got[0][i] {
				t.Fatalf("goroutine %d got another limiter for %q", g, names[i])
			}
		}
	}
}
