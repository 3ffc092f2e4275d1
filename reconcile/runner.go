package reconcile

import (
	"context"
	"sync"
)

// ReconcileAll reconciles the targets with at most concurrency running at once
// (at least 1) and returns their results in the order of targets.
func (e *Engine) ReconcileAll(ctx context.Context, targets []Target, concurrency int) []*Result {
	if concurrency < 1 {
		concurrency = 1
	}
	results := make([]*Result, len(targets))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = e.Reconcile(ctx, t)
		}()
	}
	wg.Wait()
	return results
}
