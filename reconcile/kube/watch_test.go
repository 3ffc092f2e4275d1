package kube

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

func TestRecoverable(t *testing.T) {
	cm := schema.GroupResource{Resource: "configmaps"}
	streaming := metav1.ListOptions{SendInitialEvents: new(true)}
	tooLarge := apierrors.NewTimeoutError("too large resource version", 1)
	tooLarge.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge}}
	tests := []struct {
		name string
		opts metav1.ListOptions
		err  error
		want bool
	}{
		{"expired", metav1.ListOptions{}, apierrors.NewResourceExpired("too old resource version: 1 (2)"), true},
		{"gone", metav1.ListOptions{}, apierrors.NewGone("gone"), true},
		{"wrapped expired", metav1.ListOptions{}, fmt.Errorf("listing: %w", apierrors.NewResourceExpired("too old")), true},
		{"resourceVersion too large", metav1.ListOptions{}, tooLarge, true},
		{"streaming list unsupported", streaming, apierrors.NewBadRequest("sendInitialEvents is forbidden"), true},
		{"streaming list invalid", streaming, apierrors.NewInvalid(schema.GroupKind{Kind: "ListOptions"}, "", nil), true},
		{"list invalid", metav1.ListOptions{}, apierrors.NewBadRequest("bad"), false},
		{"streaming list forbidden", streaming, apierrors.NewForbidden(cm, "", errors.New("no")), false},
		{"forbidden", metav1.ListOptions{}, apierrors.NewForbidden(cm, "", errors.New("no")), false},
		{"not found", metav1.ListOptions{}, apierrors.NewNotFound(cm, ""), false},
		{"server error", metav1.ListOptions{}, apierrors.NewInternalError(errors.New("etcd")), false},
		{"canceled", metav1.ListOptions{}, context.Canceled, true},
	}
	for _, tt := range tests {
		if got := recoverable(tt.opts, tt.err); got != tt.want {
			t.Errorf("%s: recoverable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// stubLW answers the Reflector as an API server without streaming lists would.
type stubLW struct {
	list  func() (runtime.Object, error)
	watch func() (watch.Interface, error)
}

func (s stubLW) ListerWatcher() cache.ListerWatcher {
	return &cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) { return s.list() },
		WatchFuncWithContext: func(_ context.Context, o metav1.ListOptions) (watch.Interface, error) {
			if o.SendInitialEvents != nil {
				return nil, apierrors.NewBadRequest("sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled")
			}
			return s.watch()
		},
	}
}

func emptyList() (runtime.Object, error) {
	return &corev1.ConfigMapList{ListMeta: metav1.ListMeta{ResourceVersion: "7"}}, nil
}

func TestWaitForEndsOnAFailedRequest(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "", errors.New("no"))
	lw := stubLW{list: func() (runtime.Object, error) { return nil, forbidden }}.ListerWatcher()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := WaitFor(ctx, lw, &corev1.ConfigMap{}, func(watch.Event) (bool, error) { return false, nil })
	if !apierrors.IsForbidden(err) {
		t.Fatalf("WaitFor = %v, want the Forbidden of the list", err)
	}
}

func TestWaitForAnAbsentObjectSeesItDeleted(t *testing.T) {
	lw := stubLW{list: emptyList, watch: func() (watch.Interface, error) { return watch.NewFake(), nil }}.ListerWatcher()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	last := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "orders-config"}}
	gone := errors.New("gone")
	err := WaitFor(ctx, lw, last, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted && ev.Object == last {
			return false, gone
		}
		return false, fmt.Errorf("unexpected event %s", ev.Type)
	})
	if err != gone {
		t.Fatalf("WaitFor = %v, want the condition's error for the deleted object", err)
	}
}

func TestWaitForEndsWithTheContext(t *testing.T) {
	lw := stubLW{list: emptyList, watch: func() (watch.Interface, error) { return watch.NewFake(), nil }}.ListerWatcher()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := WaitFor(ctx, lw, &corev1.ConfigMap{}, func(watch.Event) (bool, error) { return false, nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor = %v, want the context's deadline", err)
	}
}

func TestInform(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	fw := watch.NewFake()
	lw := stubLW{list: emptyList, watch: func() (watch.Interface, error) { return fw, nil }}.ListerWatcher()
	added := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- Inform(ctx, lw, &corev1.ConfigMap{}, cache.ResourceEventHandlerFuncs{
			AddFunc: func(o any) { added <- o.(*corev1.ConfigMap).Name },
		})
	}()
	fw.Add(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "orders-config", ResourceVersion: "8"}})
	select {
	case name := <-added:
		if name != "orders-config" {
			t.Errorf("added %s", name)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no add")
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Inform after its context ended = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Inform did not return when its context ended")
	}

	// A failed request ends it with that error.
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, "")
	lw = stubLW{list: func() (runtime.Object, error) { return nil, notFound }}.ListerWatcher()
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Inform(ctx, lw, &corev1.ConfigMap{}, cache.ResourceEventHandlerFuncs{}); !apierrors.IsNotFound(err) {
		t.Errorf("Inform = %v, want the NotFound of the list", err)
	}
}
