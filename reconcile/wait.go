package reconcile

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
)

// heartbeat is how often a long wait reports that it is still waiting.
const heartbeat = 15 * time.Second

// waitRollout waits until the StatefulSet's rollout is Current (kstatus), until is
// reached (the verify deadline), or ctx ends. It does not poll: it follows the
// namespace's shared watch (rolloutWatches, an informer), which is re-established
// when the server closes it or its resourceVersion expires. It returns nil when the
// rollout is complete, when the StatefulSet was
// deleted (the caller decides again) and at the deadline; an error when the watch
// failed. It reports progress changes and a heartbeat.
func (e *Engine) waitRollout(ctx context.Context, db *v1alpha1.Database, from *unstructured.Unstructured, until time.Time, report func(string)) error {
	if !until.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	last := "the StatefulSet rollout"
	var minGeneration int64
	if from != nil {
		r := phases.RolloutOf(from)
		if r.Current {
			return nil
		}
		last = r.Progress()
		minGeneration = from.GetGeneration()
	}
	sub := e.rollouts.subscribe(e.Client, db.Namespace, db.StatefulSetName())
	defer sub.close()
	// Say what is awaited now, not only when it changes: a rollout stuck at its
	// first state (pods unschedulable) would otherwise be silent until the heartbeat.
	report("waiting for " + last)
	tick := e.clock().NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil // the deadline: the caller decides again
		case <-tick.C():
			report("still waiting for " + last)
		case <-sub.signal:
			u, deleted, err := sub.state()
			switch {
			case err != nil:
				return err
			case deleted:
				return nil // decide again: it is missing now
			case u == nil || u.GetGeneration() < minGeneration:
				continue // the shared watch's view predates what this run applied
			}
			r := phases.RolloutOf(u)
			if r.Current {
				return nil
			}
			if p := r.Progress(); p != last {
				last = p
				report("waiting for " + p)
			}
		}
	}
}
