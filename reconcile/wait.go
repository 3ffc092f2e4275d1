package reconcile

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
)

// heartbeat is how often a long wait reports that it is still waiting.
const heartbeat = 15 * time.Second

// waitRollout waits until every StatefulSet in sets (by name: the primary's and
// the replicas', each as last observed, nil when not seen yet) is rolled out the
// way kstatus computes it, until is reached (the verify deadline), or ctx ends. It
// does not poll: it follows the namespace's shared watch (rolloutWatches, an
// informer), which is re-established when the server closes it or its
// resourceVersion expires. It returns nil when the rollout is complete, when a
// StatefulSet was deleted (the caller decides again) and at the deadline; an error
// when the watch failed. It reports the combined progress when it changes, and a
// heartbeat.
func (e *Engine) waitRollout(ctx context.Context, db *v1alpha1.Database, sets map[string]*unstructured.Unstructured, until time.Time, report func(phases.Rollout, string)) error {
	// The deadline is on the engine's clock, as the verify deadline is: a context
	// deadline would measure it on the wall clock.
	var deadline <-chan time.Time
	if !until.IsZero() {
		t := e.clock().NewTimer(until.Sub(e.now()))
		defer t.Stop()
		deadline = t.C()
	}
	w := newRolloutView(sets)
	if w.rollout().Current {
		return nil
	}
	signal := make(chan struct{}, 1)
	subs := map[string]*rolloutSub{}
	for name := range sets {
		subs[name] = e.rollouts.subscribe(e.Client, db.Namespace, name, signal)
		defer subs[name].close()
	}
	// Say what is awaited now, not only when it changes: a rollout stuck at its
	// first state (pods unschedulable) would otherwise be silent until the heartbeat.
	last := w.rollout()
	report(last, "waiting for "+last.Progress())
	cleared := map[string]bool{} // resourceVersions of StatefulSets already looked at
	tick := e.clock().NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil // the run's end: the caller stops
		case <-deadline:
			return nil // the verify deadline: the caller decides again
		case <-tick.C():
			report(last, "still waiting for "+last.Progress())
		case <-signal:
			done, err := w.update(subs)
			if done || err != nil {
				return err
			}
			for _, sts := range w.latest {
				if sts == nil || cleared[sts.GetResourceVersion()] {
					continue
				}
				cleared[sts.GetResourceVersion()] = true
				if err := e.clearLeftoverStatus(ctx, e.kube(), sts, func(ev Event) { report(last, ev.Message) }); err != nil {
					return err
				}
			}
			if r := w.rollout(); r.Progress() != last.Progress() || r.Current {
				if last = r; r.Current {
					return nil
				}
				report(r, "waiting for "+r.Progress())
			}
		}
	}
}

// rolloutView is what one waiter knows of its StatefulSets.
type rolloutView struct {
	latest map[string]*unstructured.Unstructured
	// observed is each StatefulSet as the run observed it before its writes.
	observed map[string]*unstructured.Unstructured
}

func newRolloutView(sets map[string]*unstructured.Unstructured) *rolloutView {
	v := &rolloutView{latest: map[string]*unstructured.Unstructured{}, observed: map[string]*unstructured.Unstructured{}}
	for name, obj := range sets {
		v.latest[name] = obj
		v.observed[name] = obj
	}
	return v
}

// stale reports whether u predates what the run observed of StatefulSet name: the
// same object at an older generation. A StatefulSet created again since (volume
// growth recreates it around its pods) has another UID and starts at generation 1:
// it is newer, whatever its generation.
func (v *rolloutView) stale(name string, u *unstructured.Unstructured) bool {
	o := v.observed[name]
	return o != nil && u.GetUID() == o.GetUID() && u.GetGeneration() < o.GetGeneration()
}

// update takes what the subscriptions were told. done is true when a StatefulSet
// was deleted (decide again: it is missing now); an error ended the watch. A view
// older than the generation this run observed is ignored (the shared watch's
// predates what this run applied; one created again since is not older).
func (v *rolloutView) update(subs map[string]*rolloutSub) (done bool, err error) {
	for name, sub := range subs {
		u, deleted, err := sub.state()
		switch {
		case err != nil:
			return true, err
		case deleted:
			return true, nil
		case u == nil || v.stale(name, u):
			continue
		}
		v.latest[name] = u
	}
	return false, nil
}

// rollout is the StatefulSets' rollout together.
func (v *rolloutView) rollout() phases.Rollout {
	var out *phases.Rollout
	for _, obj := range v.latest {
		r := phases.RolloutOf(obj)
		if out == nil {
			out = &r
			continue
		}
		*out = out.And(r)
	}
	if out == nil {
		return phases.Rollout{}
	}
	return *out
}

// clearLeftoverStatus asks the StatefulSet controller to write the status of sts
// anew when it holds the status of the StatefulSet it replaced (a volume growth
// deletes and creates StatefulSets): the controller never corrects it by itself, and
// the rollout would never complete. Nothing happens for any other StatefulSet.
func (e *Engine) clearLeftoverStatus(ctx context.Context, c cluster, sts *unstructured.Unstructured, emit func(Event)) error {
	if sts == nil || !phases.RolloutOf(sts).LeftoverStatus {
		return nil
	}
	observed, _, _ := unstructured.NestedInt64(sts.Object, "status", "observedGeneration")
	emit(Event{Type: EventInfo, Message: fmt.Sprintf("StatefulSet %s holds the status of the StatefulSet it replaced (observed generation %d, generation %d): "+
		"clearing it so that the StatefulSet controller writes it again", sts.GetName(), observed, sts.GetGeneration())})
	return c.clearLeftoverStatus(ctx, sts)
}
