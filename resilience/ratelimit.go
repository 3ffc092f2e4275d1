package resilience

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/time/rate"
)

// DefaultQPS is the default rate of checks per dependency: 1 per second (SPEC §5).
const DefaultQPS = 1.0

// Limiters holds one token-bucket rate limiter per dependency name, created on first
// use. One Limiters is shared by every Database of a run, so that the rate of a
// dependency is bounded for the whole run. It is safe for concurrent use; the zero
// value is not usable, use NewLimiters.
type Limiters struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// NewLimiters returns limiters that allow qps checks per second per dependency, with
// bursts of burst. qps ≤ 0 means DefaultQPS; burst ≤ 0 means 1.
func NewLimiters(qps float64, burst int) *Limiters {
	if qps <= 0 {
		qps = DefaultQPS
	}
	if burst <= 0 {
		burst = 1
	}
	return &Limiters{limit: rate.Limit(qps), burst: burst, m: map[string]*rate.Limiter{}}
}

// Limiter returns the limiter of the dependency name, creating it on first use.
func (l *Limiters) Limiter(name string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[name]
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.m[name] = lim
	}
	return lim
}

// Wait blocks until the dependency name may be checked, or ctx ends. It returns an
// error at once, without waiting, when the wait would end after ctx's deadline.
func (l *Limiters) Wait(ctx context.Context, name string) error {
	if err := l.Limiter(name).Wait(ctx); err != nil {
		return fmt.Errorf("rate limit of dependency %q: %w", name, err)
	}
	return nil
}
