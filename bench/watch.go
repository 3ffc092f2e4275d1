package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

var (
	stsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	dbGVR  = schema.GroupVersionResource{Group: "dbctl.io", Version: "v1alpha1", Resource: "databases"}
)

// stsWatcher records, from the harness's own watch, when each StatefulSet of a
// namespace first became Current the way kstatus computes it (dbctl's and kubectl
// rollout status's notion of "rolled out"), or, for Databases, Ready. It is started
// before the measured process, so that no transition is missed.
type stsWatcher struct {
	isReady func(*unstructured.Unstructured) bool

	mu     sync.Mutex
	ready  map[string]time.Time
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func watchStatefulSets(ctx context.Context, dyn dynamic.Interface, namespace string) (*stsWatcher, error) {
	return watchReady(ctx, dyn, stsGVR, namespace, func(u *unstructured.Unstructured) bool {
		res, err := status.Compute(u)
		return err == nil && res.Status == status.CurrentStatus
	})
}

// watchDatabases records when each Database of namespace first became Ready the
// way Database.IsReady says: phase Ready, condition Ready True, status of its
// current generation.
func watchDatabases(ctx context.Context, dyn dynamic.Interface, namespace string) (*stsWatcher, error) {
	return watchReady(ctx, dyn, dbGVR, namespace, databaseReady)
}

func databaseReady(u *unstructured.Unstructured) bool {
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	if phase != "Ready" || observed != u.GetGeneration() {
		return false
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
			return m["status"] == "True"
		}
	}
	return false
}

// watchReady watches the objects of gvr in namespace and records when each first
// satisfied isReady.
func watchReady(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, namespace string,
	isReady func(*unstructured.Unstructured) bool) (*stsWatcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &stsWatcher{isReady: isReady, ready: map[string]time.Time{}, cancel: cancel, done: make(chan struct{})}
	ri := dyn.Resource(gvr).Namespace(namespace)
	list, err := ri.List(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("listing %s in %s: %w", gvr.Resource, namespace, err)
	}
	now := time.Now()
	for i := range list.Items {
		w.observe(&list.Items[i], now)
	}
	rv := list.GetResourceVersion()
	wi, err := ri.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watching %s in %s: %w", gvr.Resource, namespace, err)
	}
	go func() {
		defer close(w.done)
		for {
			for ev := range wi.ResultChan() {
				if ev.Type == watch.Error {
					rv = ""
					continue
				}
				u, ok := ev.Object.(*unstructured.Unstructured)
				if !ok {
					continue
				}
				rv = u.GetResourceVersion()
				if ev.Type == watch.Added || ev.Type == watch.Modified {
					w.observe(u, time.Now())
				}
			}
			if ctx.Err() != nil {
				return
			}
			// Closed by the server: watch again from where we were.
			if wi, err = ri.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}); err != nil {
				if ctx.Err() == nil {
					w.mu.Lock()
					w.err = err
					w.mu.Unlock()
				}
				return
			}
		}
	}()
	return w, nil
}

func (w *stsWatcher) observe(u *unstructured.Unstructured, at time.Time) {
	if !w.isReady(u) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, seen := w.ready[u.GetName()]; !seen {
		w.ready[u.GetName()] = at
	}
}

// lastReady waits (up to timeout) until every StatefulSet in names has been seen
// Current, and returns the latest of those times.
func (w *stsWatcher) lastReady(names []string, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		var last time.Time
		missing := ""
		for _, n := range names {
			t, ok := w.ready[n]
			if !ok {
				missing = n
				break
			}
			if t.After(last) {
				last = t
			}
		}
		err := w.err
		w.mu.Unlock()
		if missing == "" {
			return last, nil
		}
		if err != nil {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s was never seen ready (rolled out)", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *stsWatcher) stop() {
	w.cancel()
	<-w.done
}

// readyTimes returns when each object was first seen ready.
func (w *stsWatcher) readyTimes() map[string]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]time.Time, len(w.ready))
	for k, v := range w.ready {
		out[k] = v
	}
	return out
}
