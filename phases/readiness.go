package phases

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Rollout is a StatefulSet's rollout state.
type Rollout struct {
	// Exists is true when the StatefulSet exists.
	Exists bool
	// Current is true when the rollout is complete the way kstatus computes it
	// (observedGeneration caught up, every replica updated and ready, no replica
	// left over from a scale-down).
	Current bool
	// Ready, Updated and Desired count replicas.
	Ready, Updated, Desired int32
	// Observed is false while the StatefulSet controller has not yet seen the
	// latest spec (status.observedGeneration behind metadata.generation).
	Observed bool
	// LeftoverStatus is true when the status is ahead of the spec
	// (status.observedGeneration above metadata.generation): the StatefulSet
	// controller wrote the status of a StatefulSet deleted under this name onto the
	// one created in its place (it retries a conflicting status write on the object
	// it then finds under that name), and never corrects it, since its own
	// observedGeneration is not higher. A volume growth recreates StatefulSets.
	LeftoverStatus bool
	// Message is kstatus's message, e.g. "Ready: 2/3".
	Message string
}

// RolloutOf is the readiness of a StatefulSet, computed by kstatus: the one
// definition of "rolled out" that reconcile waits for and status shows. A nil
// StatefulSet does not exist.
func RolloutOf(sts *unstructured.Unstructured) Rollout {
	if sts == nil {
		return Rollout{Message: "StatefulSet does not exist"}
	}
	r := Rollout{Exists: true}
	desired, found, _ := unstructured.NestedInt64(sts.Object, "spec", "replicas")
	if !found {
		desired = 1
	}
	ready, _, _ := unstructured.NestedInt64(sts.Object, "status", "readyReplicas")
	updated, _, _ := unstructured.NestedInt64(sts.Object, "status", "updatedReplicas")
	observed, _, _ := unstructured.NestedInt64(sts.Object, "status", "observedGeneration")
	r.Desired, r.Ready, r.Updated = int32(desired), int32(ready), int32(updated)
	r.Observed = observed >= sts.GetGeneration()
	r.LeftoverStatus = observed > sts.GetGeneration()
	res, err := status.Compute(sts)
	if err != nil {
		r.Message = err.Error()
		return r
	}
	r.Current = res.Status == status.CurrentStatus
	r.Message = res.Message
	return r
}

// And is the rollout of two StatefulSets together (the primary's and the
// replicas'): current when both are, the replicas counted together.
func (r Rollout) And(o Rollout) Rollout {
	out := Rollout{Exists: r.Exists && o.Exists, Current: r.Current && o.Current, Observed: r.Observed && o.Observed,
		LeftoverStatus: r.LeftoverStatus || o.LeftoverStatus,
		Ready:          r.Ready + o.Ready, Updated: r.Updated + o.Updated, Desired: r.Desired + o.Desired, Message: r.Message}
	if !o.Current && r.Current {
		out.Message = o.Message
	}
	return out
}

// Progress is "2/3 replicas ready"; when every replica is ready but the rollout is
// not complete, it says what is missing ("3/3 replicas ready, 1/3 updated").
func (r Rollout) Progress() string {
	switch {
	case r.Ready > r.Desired:
		return fmt.Sprintf("%d replicas ready, scaling down to %d", r.Ready, r.Desired)
	case r.Ready < r.Desired || r.Current || !r.Exists:
		return fmt.Sprintf("%d/%d replicas ready", r.Ready, r.Desired)
	case !r.Observed:
		return fmt.Sprintf("%d/%d replicas ready, the latest spec not yet observed", r.Ready, r.Desired)
	case r.LeftoverStatus:
		return fmt.Sprintf("%d/%d replicas ready, the status left over from the StatefulSet it replaced", r.Ready, r.Desired)
	case r.Updated < r.Desired:
		return fmt.Sprintf("%d/%d replicas ready, %d/%d updated", r.Ready, r.Desired, r.Updated, r.Desired)
	default:
		return fmt.Sprintf("%d/%d replicas ready, %s", r.Ready, r.Desired, r.Message)
	}
}
