package reconcile

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/kube"
)

// heartbeat is how often a long wait reports that it is still waiting.
const heartbeat = 15 * time.Second

var stsListGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSetList"}

// waitRollout watches the StatefulSet until its rollout is Current (kstatus), until
// is reached (the verify deadline), or ctx ends. It does not poll: it follows a
// watch from the resourceVersion it last saw, and re-establishes the watch if the
// server closes it. It reports progress changes and a heartbeat.
func (e *Engine) waitRollout(ctx context.Context, db *v1alpha1.Database, from *unstructured.Unstructured, until time.Time, report func(string)) error {
	if !until.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	rv := ""
	last := "the StatefulSet rollout"
	if from != nil {
		rv = from.GetResourceVersion()
		r := rollout(from)
		if r.Current {
			return nil
		}
		last = r.Progress()
	}
	// Say what is awaited now, not only when it changes: a rollout stuck at its
	// first state (pods unschedulable) would otherwise be silent until the heartbeat.
	report("waiting for " + last)
	for {
		done, nextRV, err := e.watchRolloutOnce(ctx, db, rv, &last, report)
		if done || err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil // the deadline: the caller decides again
		}
		rv = nextRV
	}
}

func (e *Engine) watchRolloutOnce(ctx context.Context, db *v1alpha1.Database, rv string, last *string, report func(string)) (bool, string, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(stsListGVK)
	w, err := e.Client.Watch(ctx, list, &client.ListOptions{
		Namespace:     db.Namespace,
		FieldSelector: fields.OneTermEqualSelector("metadata.name", db.StatefulSetName()),
		Raw:           &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true},
	})
	if err != nil {
		if ctx.Err() != nil {
			return false, rv, nil
		}
		return false, rv, fmt.Errorf("watching StatefulSet %s/%s: %w", db.Namespace, db.StatefulSetName(), kube.Explain(err))
	}
	defer w.Stop()
	tick := e.clock().NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, rv, nil
		case <-tick.C():
			report("still waiting for " + *last)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, rv, nil // closed by the server: watch again from rv
			}
			switch ev.Type {
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					return false, "", nil // too old: watch again from now
				}
				return false, rv, fmt.Errorf("watching StatefulSet %s/%s: %w", db.Namespace, db.StatefulSetName(), err)
			case watch.Deleted:
				return true, rv, nil // decide again: it is missing now
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			rv = u.GetResourceVersion()
			if ev.Type == watch.Bookmark {
				continue
			}
			r := rollout(u)
			if r.Current {
				return true, rv, nil
			}
			if p := r.Progress(); p != *last {
				*last = p
				report("waiting for " + p)
			}
		}
	}
}

var _ = phases.Rollout{}
