package testenv

import (
	"context"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SimulateRollouts plays the StatefulSet controller, the kubelet and the garbage
// collector, which envtest does not run: until the test ends, or until the
// returned stop is called, every StatefulSet of namespace ns is marked fully rolled
// out (status caught up with its spec and generation) whenever it is created or
// changed, and one deleted with its pods left running (the orphan finalizer) is
// let go (envtest has no pods to orphan).
func (e *Env) SimulateRollouts(tb testing.TB, ns string) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	w, err := e.Client.Watch(ctx, &appsv1.StatefulSetList{}, client.InNamespace(ns))
	if err != nil {
		tb.Fatalf("testenv: watching StatefulSets in %s: %v", ns, err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			sts, ok := ev.Object.(*appsv1.StatefulSet)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			if sts.DeletionTimestamp != nil {
				ReleaseOrphans(ctx, e.Client, sts)
				continue
			}
			MarkRolledOut(ctx, e.Client, sts)
		}
	}()
	return cancel
}

// MarkRolledOut sets sts's status to a completed rollout of its spec. A conflict is
// ignored: a newer version of the StatefulSet follows.
func MarkRolledOut(ctx context.Context, c client.Client, sts *appsv1.StatefulSet) {
	n := int32(1)
	if sts.Spec.Replicas != nil {
		n = *sts.Spec.Replicas
	}
	want := appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, Replicas: n, ReadyReplicas: n,
		CurrentReplicas: n, UpdatedReplicas: n, AvailableReplicas: n, CurrentRevision: "r1", UpdateRevision: "r1"}
	// As the StatefulSet controller does (inconsistentStatus): no write unless a
	// count or revision differs or its observedGeneration is higher; a status whose
	// observedGeneration is ahead of the spec (left over from a StatefulSet deleted
	// under that name) is kept.
	same := sts.Status.DeepCopy()
	if same.ObservedGeneration > want.ObservedGeneration {
		same.ObservedGeneration = want.ObservedGeneration
	}
	if equality.Semantic.DeepEqual(*same, want) {
		return
	}
	sts = sts.DeepCopy()
	sts.Status = want
	_ = c.Status().Update(ctx, sts)
}

// ReleaseOrphans does the garbage collector's part of a deletion that orphans the
// dependents: it removes the orphan finalizer, and the object goes.
func ReleaseOrphans(ctx context.Context, c client.Client, sts *appsv1.StatefulSet) {
	if !slices.Contains(sts.Finalizers, metav1.FinalizerOrphanDependents) {
		return
	}
	sts = sts.DeepCopy()
	sts.Finalizers = slices.DeleteFunc(sts.Finalizers, func(f string) bool { return f == metav1.FinalizerOrphanDependents })
	_ = c.Update(ctx, sts)
}

// SetLeftoverStatus gives StatefulSet ns/name a status that is ahead of its spec
// (observedGeneration = generation + 1, every replica ready and updated), as the
// StatefulSet controller leaves on a StatefulSet created again under the name of one
// it was writing the status of: it never corrects it by itself.
func (e *Env) SetLeftoverStatus(tb testing.TB, ns, name string) {
	tb.Helper()
	sts := &appsv1.StatefulSet{}
	if err := e.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sts); err != nil {
		tb.Fatal(err)
	}
	MarkRolledOut(context.Background(), e.Client, sts)
	if err := e.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sts); err != nil {
		tb.Fatal(err)
	}
	sts.Status.ObservedGeneration = sts.Generation + 1
	if err := e.Client.Status().Update(context.Background(), sts); err != nil {
		tb.Fatalf("testenv: the leftover status of StatefulSet %s/%s: %v", ns, name, err)
	}
}
