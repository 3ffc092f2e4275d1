package reconcile

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/kube"
)

// watchLinger is how long a namespace's watch outlives its last waiter: the next
// Database of a run (--concurrency 1 reconciles them one after the other) finds it
// open.
const watchLinger = 10 * time.Second

// rolloutWatches shares one watch of dbctl's StatefulSets per namespace among the
// Databases waiting for a rollout there: 200 Databases reconciled from one directory
// wait on one watch, not 200. A namespace's watch starts with its first waiter and
// stops watchLinger after its last. Its zero value is ready to use.
type rolloutWatches struct {
	mu sync.Mutex
	ns map[string]*nsWatch
}

// nsWatch is the shared watch of one namespace.
type nsWatch struct {
	hub    *rolloutWatches
	ns     string
	cancel context.CancelFunc
	// guarded by hub.mu:
	subs   map[string]map[*rolloutSub]struct{} // by StatefulSet name
	latest map[string]*unstructured.Unstructured
	idle   *time.Timer // stops the watch when no one waits; nil while someone does
}

// rolloutSub is one waiter's view: the latest state of its StatefulSet, delivered
// "latest wins" so that a slow waiter never blocks the watch.
type rolloutSub struct {
	w      *nsWatch
	name   string
	signal chan struct{} // capacity 1: something new
	// guarded by w.hub.mu:
	obj     *unstructured.Unstructured
	deleted bool
	err     error
}

// subscribe registers a waiter for StatefulSet name in namespace ns, starting the
// namespace's watch when it is the first. The waiter is signalled on signal (which
// several subscriptions of one waiter may share; capacity 1), at once when the watch
// already knows the object. close must be called.
func (h *rolloutWatches) subscribe(c client.WithWatch, ns, name string, signal chan struct{}) *rolloutSub {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ns == nil {
		h.ns = map[string]*nsWatch{}
	}
	w := h.ns[ns]
	if w == nil {
		ctx, cancel := context.WithCancel(context.Background())
		w = &nsWatch{hub: h, ns: ns, cancel: cancel, subs: map[string]map[*rolloutSub]struct{}{}, latest: map[string]*unstructured.Unstructured{}}
		h.ns[ns] = w
		go w.run(ctx, c)
	}
	if w.idle != nil {
		w.idle.Stop()
		w.idle = nil
	}
	s := &rolloutSub{w: w, name: name, signal: signal}
	if w.subs[name] == nil {
		w.subs[name] = map[*rolloutSub]struct{}{}
	}
	w.subs[name][s] = struct{}{}
	if obj := w.latest[name]; obj != nil {
		s.obj = obj
		s.notify()
	}
	return s
}

func (s *rolloutSub) notify() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// state returns what the waiter has been told: the latest object (nil if none yet),
// whether it was deleted, and the error that ended the watch.
func (s *rolloutSub) state() (*unstructured.Unstructured, bool, error) {
	s.w.hub.mu.Lock()
	defer s.w.hub.mu.Unlock()
	return s.obj, s.deleted, s.err
}

// close unregisters the waiter; watchLinger after the last one of a namespace
// leaves, its watch stops.
func (s *rolloutSub) close() {
	h, w := s.w.hub, s.w
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(w.subs[s.name], s)
	if len(w.subs[s.name]) == 0 {
		delete(w.subs, s.name)
	}
	if len(w.subs) == 0 && w.idle == nil {
		w.idle = time.AfterFunc(watchLinger, func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(w.subs) > 0 {
				return // a waiter came back in time
			}
			w.cancel()
			if h.ns[w.ns] == w {
				delete(h.ns, w.ns)
			}
		})
	}
}

// run follows the namespace's StatefulSets until ctx ends, with an informer
// (kube.Inform): it gets their current state first, so a waiter joining late still
// gets it; a watch the server closes is resumed, and one whose resourceVersion
// expired gets the current state again. Any other error ends it for every current
// waiter (their retry policy decides); the next waiter starts a new watch.
func (w *nsWatch) run(ctx context.Context, c client.WithWatch) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("StatefulSetList"))
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind(phases.KindStatefulSet))
	lw := kube.ListWatch(c, list, client.InNamespace(w.ns), client.MatchingLabels{phases.LabelManagedBy: phases.ManagedBy})
	err := kube.Inform(ctx, lw, obj, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.deliver(o, false) },
		UpdateFunc: func(_, o any) { w.deliver(o, false) },
		DeleteFunc: func(o any) { w.deliver(o, true) },
	})
	if err != nil {
		w.fail(fmt.Errorf("watching StatefulSets in namespace %s: %w", w.ns, kube.Explain(err)))
	}
}

// deliver hands the informer's latest view of a StatefulSet to its waiters, latest
// wins: it never blocks on a waiter.
func (w *nsWatch) deliver(o any, deleted bool) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return
	}
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	name := u.GetName()
	if deleted {
		delete(w.latest, name)
	} else {
		w.latest[name] = u
	}
	for s := range w.subs[name] {
		s.obj, s.deleted = u, deleted
		s.notify()
	}
}

// fail ends the watch for its current waiters and forgets it, so that the next
// waiter starts a new one.
func (w *nsWatch) fail(err error) {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range w.subs {
		for s := range subs {
			s.err = err
			s.notify()
		}
	}
	if h.ns[w.ns] == w {
		delete(h.ns, w.ns)
	}
	w.cancel()
}
