package phases

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// What a waiting run says of a rollout: the count of ready replicas, and what keeps
// a rollout whose replicas are all ready from being complete.
func TestRolloutProgress(t *testing.T) {
	for name, tc := range map[string]struct {
		r    Rollout
		want string
	}{
		"starting":       {Rollout{Exists: true, Observed: true, Desired: 3}, "0/3 replicas ready"},
		"complete":       {Rollout{Exists: true, Current: true, Observed: true, Ready: 3, Updated: 3, Desired: 3}, "3/3 replicas ready"},
		"scaling down":   {Rollout{Exists: true, Observed: true, Ready: 3, Updated: 1, Desired: 1}, "3 replicas ready, scaling down to 1"},
		"not observed":   {Rollout{Exists: true, Ready: 3, Updated: 3, Desired: 3}, "3/3 replicas ready, the latest spec not yet observed"},
		"leftover":       {Rollout{Exists: true, Observed: true, LeftoverStatus: true, Ready: 3, Updated: 3, Desired: 3}, "3/3 replicas ready, the status left over from the StatefulSet it replaced"},
		"rolling":        {Rollout{Exists: true, Observed: true, Ready: 3, Updated: 1, Desired: 3}, "3/3 replicas ready, 1/3 updated"},
		"kstatus says":   {Rollout{Exists: true, Observed: true, Ready: 3, Updated: 3, Desired: 3, Message: "Waiting for revision"}, "3/3 replicas ready, Waiting for revision"},
		"does not exist": {Rollout{Message: "StatefulSet does not exist"}, "0/0 replicas ready"},
	} {
		if got := tc.r.Progress(); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

// A StatefulSet whose status is ahead of its spec holds the status of the one it
// replaced: not rolled out, whatever its counts say.
func TestRolloutOfALeftoverStatus(t *testing.T) {
	sts := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "StatefulSet",
		"metadata": map[string]any{"name": "orders-replica", "generation": int64(1)},
		"spec":     map[string]any{"replicas": int64(2)},
		"status": map[string]any{"observedGeneration": int64(2), "replicas": int64(2), "readyReplicas": int64(2),
			"currentReplicas": int64(2), "updatedReplicas": int64(2), "availableReplicas": int64(2),
			"currentRevision": "r1", "updateRevision": "r1"},
	}}
	r := RolloutOf(sts)
	if !r.LeftoverStatus || r.Current || r.Progress() != "2/2 replicas ready, the status left over from the StatefulSet it replaced" {
		t.Errorf("%+v: %s", r, r.Progress())
	}
	_ = unstructured.SetNestedField(sts.Object, int64(1), "status", "observedGeneration")
	if r := RolloutOf(sts); r.LeftoverStatus || !r.Current {
		t.Errorf("rewritten by the controller: %+v", r)
	}
}
