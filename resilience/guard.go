package resilience

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dbctl-io/dbctl/reconcile/redact"

	"k8s.io/utils/clock"
)

// probeLeaseMargin is added to a check's timeout when it is longer than the probe
// lease: the lease must outlive the probe, plus the time to record its result.
const probeLeaseMargin = 5 * time.Second

// Guard runs dependency checks through the SPEC §5 chain: rate limiter → circuit
// breaker → the check with its timeout. A nil Limiters skips the rate limit, a nil
// Store the circuit breaker, a nil Clock is the real clock.
type Guard struct {
	Limiters *Limiters
	// Store keeps the breakers: a state file (*Store) or a ConfigMap
	// (*ClusterStore). It is called only to read and write a breaker, never while
	// the dependency is being checked.
	Store    StateStore
	Settings Settings
	Clock    clock.PassiveClock
}

// Dependency is one external dependency of a Database.
type Dependency struct {
	// Name keys the rate limiter and the circuit breaker.
	Name string
	// Target is the URL or host:port checked; it is stored and shown redacted.
	Target string
	// Timeout bounds one check; zero means only the caller's context does.
	Timeout time.Duration
}

func (g *Guard) clock() clock.PassiveClock {
	if g.Clock == nil {
		return clock.RealClock{}
	}
	return g.Clock
}

// Check waits for the dependency's rate limiter, asks its circuit breaker, runs
// check with the dependency's timeout, and records the result in the breaker.
//
// While the breaker is open, check is not called and Check returns an *OpenError
// naming the next probe. The state store is called (and a state file locked) only
// to read and write the breaker, never while check runs. When the caller's ctx ends during check, the
// result is not counted as a failure of the dependency (and a probe's lease is
// released). Check's errors name the dependency and its target, redacted, and wrap
// the check's error.
func (g *Guard) Check(ctx context.Context, dep Dependency, check func(context.Context) error) error {
	if g.Limiters != nil {
		if err := g.Limiters.Wait(ctx, dep.Name); err != nil {
			return err
		}
	}
	settings := g.Settings.withDefaults()
	if dep.Timeout > 0 && settings.ProbeLease < dep.Timeout+probeLeaseMargin {
		settings.ProbeLease = dep.Timeout + probeLeaseMargin
	}

	probe := false
	if g.Store != nil {
		now := g.clock().Now()
		err := g.Store.UpdateContext(ctx, func(sf *StateFile) error {
			r := record(sf, dep.Name)
			if dep.Target != "" {
				r.Target = redact.URL(dep.Target)
			}
			var err error
			probe, err = settings.Allow(r, now)
			return err
		})
		if err != nil {
			var open *OpenError
			if errors.As(err, &open) {
				open.Name = dep.Name
				return open
			}
			return fmt.Errorf("circuit breaker of dependency %q: %w", dep.Name, err)
		}
	}

	rawErr := g.run(ctx, dep, check)
	checkErr := wrapCheckError(dep, rawErr)
	if g.Store == nil {
		return checkErr
	}

	if checkErr != nil && ctx.Err() != nil {
		// Interrupted by the caller (SIGINT, --timeout): says nothing about the
		// dependency. Give up the probe lease so that the next run probes at once.
		if probe {
			_ = g.Store.Update(func(sf *StateFile) error {
				settings.Release(record(sf, dep.Name))
				return nil
			})
		}
		return checkErr
	}
	now := g.clock().Now()
	recordErr := g.Store.Update(func(sf *StateFile) error {
		r := record(sf, dep.Name)
		if checkErr == nil {
			settings.Success(r, now)
		} else {
			settings.Failure(r, now, redact.Text(rawErr.Error()))
		}
		return nil
	})
	if recordErr != nil {
		recordErr = fmt.Errorf("recording the result of dependency %q in the circuit breaker: %w", dep.Name, recordErr)
		return errors.Join(checkErr, recordErr)
	}
	return checkErr
}

// run calls check with the dependency's timeout.
func (g *Guard) run(ctx context.Context, dep Dependency, check func(context.Context) error) error {
	if dep.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dep.Timeout)
		defer cancel()
	}
	return check(ctx)
}

// wrapCheckError names the dependency and its target, redacted.
func wrapCheckError(dep Dependency, err error) error {
	if err == nil {
		return nil
	}
	if dep.Target == "" {
		return fmt.Errorf("dependency %q: %w", dep.Name, redactError(err))
	}
	return fmt.Errorf("dependency %q (%s): %w", dep.Name, redact.URL(dep.Target), redactError(err))
}

// record returns the breaker of name in sf, adding a closed one if there is none.
func record(sf *StateFile, name string) *Record {
	r := sf.Breakers[name]
	if r == nil {
		r = &Record{State: StateClosed}
		sf.Breakers[name] = r
	}
	return r
}
