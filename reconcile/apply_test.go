package reconcile_test

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/reconcile"
)

// The preconditions reconcile --plan writes with, on the real API server: an
// apply or a delete that carries a resourceVersion the object no longer has is
// refused (409), and the error is not another applier's conflict.
func TestWriterPreconditions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	w := &reconcile.Writer{Client: h.clients.Client}
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	cm.SetNamespace(h.ns)
	cm.SetName("orders-config")
	_ = unstructured.SetNestedField(cm.Object, "1", "data", "a")
	live, _, err := w.Apply(ctx, cm, nil)
	if err != nil {
		t.Fatal(err)
	}
	stale := live.GetResourceVersion()
	// Someone else changes it.
	other := live.DeepCopy()
	_ = unstructured.SetNestedField(other.Object, "2", "data", "b")
	if err := h.clients.Client.Update(ctx, other); err != nil {
		t.Fatal(err)
	}

	desired := cm.DeepCopy()
	_ = unstructured.SetNestedField(desired.Object, "3", "data", "a")
	desired.SetResourceVersion(stale)
	_, _, err = w.Apply(ctx, desired, live)
	var conflict *reconcile.ConflictError
	if !apierrors.IsConflict(err) || errors.As(err, &conflict) {
		t.Fatalf("apply with a stale resourceVersion: %v", err)
	}
	if err := w.Delete(ctx, live); !apierrors.IsConflict(err) {
		t.Fatalf("delete with a stale resourceVersion: %v", err)
	}
	got := &unstructured.Unstructured{}
	got.SetAPIVersion("v1")
	got.SetKind("ConfigMap")
	if err := h.clients.Client.Get(ctx, client.ObjectKeyFromObject(cm), got); err != nil {
		t.Fatalf("the ConfigMap is gone: %v", err)
	}
	if v, _, _ := unstructured.NestedString(got.Object, "data", "a"); v != "1" {
		t.Errorf("data.a = %q: the stale apply was written", v)
	}
}
