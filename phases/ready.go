package phases

import (
	"fmt"
	"strings"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// Ready is the goal. A Ready Database moves to Updating when its spec changed
// (metadata.generation is past status.observedGeneration) or a child drifted: it is
// missing, differs from what the spec renders, must be pruned, or the StatefulSet is
// no longer fully ready. Otherwise there is nothing to do.
func ready(db *v1alpha1.Database, obs *Observation) Decision {
	s := newStep(db, obs)
	switch {
	case db.Generation != db.Status.ObservedGeneration:
		msg := fmt.Sprintf("spec changed (generation %d, last reconciled %d)", db.Generation, db.Status.ObservedGeneration)
		s.progress(v1alpha1.ReasonSpecChanged, "Updating: "+msg)
		return s.move(v1alpha1.PhaseUpdating, msg)
	case len(obs.Drift()) > 0:
		msg := "drift: " + strings.Join(obs.Drift(), "; ")
		s.progress(v1alpha1.ReasonDrift, "Updating: "+msg)
		return s.move(v1alpha1.PhaseUpdating, msg)
	case !obs.Rollout.Current:
		msg := fmt.Sprintf("drift: StatefulSet %s has %s", db.StatefulSetName(), obs.Rollout.Progress())
		s.progress(v1alpha1.ReasonDrift, "Updating: "+msg)
		return s.move(v1alpha1.PhaseUpdating, msg)
	}
	d := s.stay(WaitNone, obs.Now, "up to date")
	d.Done = true
	return d
}
