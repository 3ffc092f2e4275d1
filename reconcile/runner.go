package reconcile

import (
	"context"
	"sync"
)

// ForEach calls fn for each target, with at most concurrency calls running at once
// (at least 1), and returns the results in the order of targets.
func ForEach[T any](targets []Target, concurrency int, fn func(Target) T) []T {
	if concurrency < 1 {
		concurrency = 1
	}
	results := make([]T, len(targets))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = fn(t)
		}()
	}
	wg.Wait()
	return results
}

// ReconcileAll reconciles the targets, at most concurrency at once, and returns
// their results in the order of targets.
func (e *Engine) ReconcileAll(ctx context.Context, targets []Target, concurrency int) []*Result {
	return ForEach(targets, concurrency, func(t Target) *Result { return e.Reconcile(ctx, t) })
}

// PlanResult is the plan of one target, or why it could not be made.
type PlanResult struct {
	Plan *Plan
	Err  error
}

// PlanAll plans the targets, at most concurrency at once, in the order of targets.
func (e *Engine) PlanAll(ctx context.Context, targets []Target, concurrency int) []PlanResult {
	return ForEach(targets, concurrency, func(t Target) PlanResult {
		p, err := e.Plan(ctx, t)
		return PlanResult{Plan: p, Err: err}
	})
}
