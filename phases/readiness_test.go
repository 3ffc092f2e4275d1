package phases

import "testing"

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
		"rolling":        {Rollout{Exists: true, Observed: true, Ready: 3, Updated: 1, Desired: 3}, "3/3 replicas ready, 1/3 updated"},
		"kstatus says":   {Rollout{Exists: true, Observed: true, Ready: 3, Updated: 3, Desired: 3, Message: "Waiting for revision"}, "3/3 replicas ready, Waiting for revision"},
		"does not exist": {Rollout{Message: "StatefulSet does not exist"}, "0/0 replicas ready"},
	} {
		if got := tc.r.Progress(); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}
