package reconcile

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/dbctl-io/dbctl/reconcile/redact"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/resilience"
)

// DependencyChecker checks spec.dependencies through a resilience.Guard: the
// dependency's rate limiter, then its circuit breaker, then the check with its
// timeout (SPEC §5). A nil Guard checks nothing and reports every dependency healthy
// only when there are none.
type DependencyChecker struct {
	Guard *resilience.Guard
}

// Check checks every dependency of db once, concurrently.
func (d *DependencyChecker) Check(ctx context.Context, db *v1alpha1.Database) *phases.DependencyResult {
	res := &phases.DependencyResult{}
	if len(db.Spec.Dependencies) == 0 {
		return res
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	failures := make([]*phases.DependencyFailure, len(db.Spec.Dependencies))
	for i := range db.Spec.Dependencies {
		dep := db.Spec.Dependencies[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := d.checkOne(ctx, dep)
			mu.Lock()
			failures[i] = f
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, f := range failures {
		if f != nil {
			res.Unavailable = append(res.Unavailable, *f)
		}
	}
	return res
}

func (d *DependencyChecker) checkOne(ctx context.Context, dep v1alpha1.Dependency) *phases.DependencyFailure {
	if d == nil || d.Guard == nil {
		return &phases.DependencyFailure{Name: dep.Name, Message: "dependency checks are not configured"}
	}
	check := resilience.TCPCheck(dep.TCP)
	if dep.URL != "" {
		check = resilience.HTTPCheck(dep.URL)
	}
	err := d.Guard.Check(ctx, resilience.Dependency{
		Name:    dep.Name,
		Target:  redact.URL(dep.Target()),
		Timeout: dep.CheckTimeout(),
	}, check)
	if err == nil {
		return nil
	}
	var open *resilience.OpenError
	if errors.As(err, &open) {
		return &phases.DependencyFailure{Name: dep.Name, Message: redact.Text(open.LastError),
			CircuitOpen: true, NextProbe: open.NextProbe}
	}
	// The guard's error names the dependency; the condition's message does too.
	// The check's error names the target unless it says only how it failed.
	msg := err.Error()
	if inner := errors.Unwrap(err); inner != nil {
		msg = inner.Error()
		if target := redact.URL(dep.Target()); !strings.Contains(msg, target) {
			msg = target + ": " + msg
		}
	}
	return &phases.DependencyFailure{Name: dep.Name, Message: redact.Text(msg)}
}
