package reconcile

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// Which views of a StatefulSet a waiting run takes: not an older generation of the
// object it observed (a shared watch that lags behind the run's own apply), but a
// StatefulSet created again since (volume growth recreates it around its pods), whose
// generation starts over at 1.
func TestUnitRolloutViewStale(t *testing.T) {
	sts := func(uid string, gen int64) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetUID(types.UID(uid))
		u.SetGeneration(gen)
		return u
	}
	v := newRolloutView(map[string]*unstructured.Unstructured{"orders": sts("a", 4), "orders-replica": nil})
	for name, tc := range map[string]struct {
		set   string
		u     *unstructured.Unstructured
		stale bool
	}{
		"an older generation":         {"orders", sts("a", 3), true},
		"the observed generation":     {"orders", sts("a", 4), false},
		"a newer generation":          {"orders", sts("a", 5), false},
		"created again":               {"orders", sts("b", 1), false},
		"created after none observed": {"orders-replica", sts("c", 1), false},
	} {
		if got := v.stale(tc.set, tc.u); got != tc.stale {
			t.Errorf("%s: stale %v, want %v", name, got, tc.stale)
		}
	}
}
