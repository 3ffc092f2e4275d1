package kube

// Every watch dbctl makes goes through this file: a ListerWatcher from ListWatch, run
// by client-go's informer machinery (k8s.io/client-go/tools/cache's Reflector) through
// WaitFor (one object until a condition holds: `dbctl install`, `dbctl status
// --watch`) or Inform (a set of objects until ctx ends: the reconcile engine's shared
// rollout watch).
//
// The Reflector gets the current state first (one WATCH request streaming it, on API
// servers that support streaming lists, else a LIST), then watches from the
// resourceVersion it saw; it watches again when the server closes a watch, and gets
// the current state again when that resourceVersion has expired (410 Gone, "too old
// resource version"), delivering what changed meanwhile; a watch the server ends
// with another error is treated the same way. Any other failed request (forbidden,
// not found, a server or network error) ends the wait with its error instead of
// being retried forever, so that the caller decides: report it, or retry under its
// own policy and deadline.

import (
	"context"
	"errors"
	"sync"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ListWatch returns the ListerWatcher of the objects of list's kind that opts select
// (client.InNamespace, client.MatchingLabels, client.MatchingFields…), made with c.
// For an unstructured list, list must have its apiVersion and kind set.
func ListWatch(c client.WithWatch, list client.ObjectList, opts ...client.ListOption) cache.ListerWatcher {
	base := (&client.ListOptions{}).ApplyOptions(opts)
	with := func(o metav1.ListOptions) *client.ListOptions {
		lo := *base
		lo.Raw = &o
		lo.Limit, lo.Continue = o.Limit, o.Continue // client.ListOptions overrides Raw's
		return &lo
	}
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l := list.DeepCopyObject().(client.ObjectList)
			if err := c.List(ctx, l, with(o)); err != nil {
				return nil, err
			}
			return l, nil
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, list.DeepCopyObject().(client.ObjectList), with(o))
		},
	}
}

// WaitFor follows the one object lw selects (a metadata.name field selector) until
// condition returns true or an error, ctx ends, or a request fails. condition sees
// the object's state when the watch starts (ADDED), each change (MODIFIED) and its
// deletion (DELETED). When the object does not exist when the watch starts,
// condition sees obj, the caller's last view of it, as DELETED. obj is of the type
// lw lists (for unstructured, with its apiVersion and kind).
//
// It returns nil when condition returned true; condition's error; the error of a
// failed request (not wrapped: wrap it with what was watched, and Explain it); or
// ctx.Err() when ctx ended first.
func WaitFor(ctx context.Context, lw cache.ListerWatcher, obj runtime.Object, condition watchtools.ConditionFunc) error {
	ctx, failed, stop := endOnError(ctx)
	defer stop()
	absent := func(store cache.Store) (bool, error) {
		if len(store.List()) > 0 {
			return false, nil // its ADDED event follows
		}
		return condition(watch.Event{Type: watch.Deleted, Object: obj})
	}
	_, err := watchtools.UntilWithSync(ctx, failing(lw, failed.set), obj, absent, condition)
	if ferr := failed.get(); ferr != nil {
		return ferr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Inform runs an informer over lw, calling handler for each object of type obj
// (for unstructured, with its apiVersion and kind) it adds, updates or deletes (a
// deletion seen only as missing from a new list arrives as
// cache.DeletedFinalStateUnknown), until ctx ends (it returns nil) or a request
// fails (it returns the error, not wrapped: wrap it with what was watched, and
// Explain it).
func Inform(ctx context.Context, lw cache.ListerWatcher, obj runtime.Object, handler cache.ResourceEventHandler) error {
	ctx, failed, stop := endOnError(ctx)
	defer stop()
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: failing(lw, failed.set),
		ObjectType:    obj,
		Handler:       handler,
	})
	informer.RunWithContext(ctx)
	return failed.get()
}

// requestError holds the first failed request of a watch.
type requestError struct {
	mu     sync.Mutex
	err    error
	cancel context.CancelFunc
}

func (r *requestError) set(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
		r.cancel()
	}
}

func (r *requestError) get() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// endOnError returns a context that ends with ctx or when a request fails, and
// discards client-go's logs of the watch (its retries would otherwise print to
// stderr through klog): what matters reaches the caller as an error.
func endOnError(ctx context.Context) (context.Context, *requestError, context.CancelFunc) {
	ctx, cancel := context.WithCancel(logr.NewContext(ctx, logr.Discard()))
	return ctx, &requestError{cancel: cancel}, cancel
}

// failing wraps lw so that a failed request the Reflector would retry forever is
// reported to fail (which ends the watch) instead; the Reflector still recovers from
// the errors it is made for.
func failing(lw cache.ListerWatcher, fail func(error)) cache.ListerWatcher {
	lwc := cache.ToListerWatcherWithContext(lw)
	check := func(ctx context.Context, o metav1.ListOptions, err error) {
		if err != nil && ctx.Err() == nil && !recoverable(o, err) {
			fail(err)
		}
	}
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l, err := lwc.ListWithContext(ctx, o)
			check(ctx, o, err)
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := lwc.WatchWithContext(ctx, o)
			check(ctx, o, err)
			return w, err
		},
	}
}

// recoverable reports whether the Reflector recovers from err, the error of a request
// with options o, by itself: an expired resourceVersion (it gets the current state
// again), one the server has not reached yet (likewise, from any resourceVersion), a
// streaming list the server does not support (it lists instead), and an ended
// context.
func recoverable(o metav1.ListOptions, err error) bool {
	switch {
	case apierrors.IsResourceExpired(err), apierrors.IsGone(err),
		apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge):
		return true
	case o.SendInitialEvents != nil && (apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)):
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return false
}
