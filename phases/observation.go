package phases

import (
	"fmt"
	"time"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// Observation is what the engine saw in the cluster, the input of Decide. Observe
// builds it from the live children.
type Observation struct {
	// Now is the time of the observation.
	Now time.Time
	// Children are the children the spec wants, with their live state, and the
	// ones it does not want that exist and must be pruned.
	Children []ChildState
	// DataExists is true when the StatefulSet or any of its PVCs exist: the data a
	// new password must never be put over.
	DataExists bool
	// Rollout is the StatefulSet's rollout as kstatus computes it.
	Rollout Rollout
	// Workload is what the live primary StatefulSet runs with; nil when there is
	// none. ReplicaWorkload is the replicas' StatefulSet's.
	Workload, ReplicaWorkload *Workload
	// Volumes are the Database's data PVCs; read (Volumes non-nil) only when they
	// matter: a volume growth is wanted (NeedsVolumes), or the Database is Verifying.
	Volumes []Volume
	// Dependencies is the result of checking spec.dependencies; nil when they were
	// not checked for this observation.
	Dependencies *DependencyResult
	// Backups is what the backup CronJob says; nil when there is none.
	Backups *BackupState
	// LastBackup is the newest complete backup found by the observation when the
	// CronJob reported a success newer than status.lastBackup; nil otherwise.
	LastBackup *v1alpha1.BackupRecord
}

// ChildState is one child and how its live object compares with the desired one.
type ChildState struct {
	Child
	// Exists is true when the live object exists.
	Exists bool
	// Drift lists what differs from the desired object ("spec.replicas"); empty when
	// the live object is as desired. A missing object has Drift ["missing"].
	Drift []string
	// Prune is true for an object that exists and must be removed (the
	// PodDisruptionBudget once replicas is 1).
	Prune bool
}

// Drifted reports whether the child must be written: missing, different, or to be pruned.
func (c ChildState) Drifted() bool { return len(c.Drift) > 0 || c.Prune }

// Describe is a one-line description of the child's drift.
func (c ChildState) Describe() string {
	switch {
	case c.Prune:
		return fmt.Sprintf("%s %s should not exist", c.Kind, c.Name)
	case !c.Exists:
		return fmt.Sprintf("%s %s is missing", c.Kind, c.Name)
	case len(c.Drift) > 0:
		return fmt.Sprintf("%s %s differs from the spec (%s)", c.Kind, c.Name, joinMax(c.Drift, 3))
	default:
		return fmt.Sprintf("%s %s is up to date", c.Kind, c.Name)
	}
}

// DriftIn describes the drifted children that phase p owns.
func (o *Observation) DriftIn(p v1alpha1.Phase) []string {
	var out []string
	for _, c := range o.Children {
		if c.Phase == p && c.Drifted() {
			out = append(out, c.Describe())
		}
	}
	return out
}

// Drift describes every drifted child.
func (o *Observation) Drift() []string {
	var out []string
	for _, c := range o.Children {
		if c.Drifted() {
			out = append(out, c.Describe())
		}
	}
	return out
}

// Child returns the state of the child ref, or nil when the observation does not
// hold it.
func (o *Observation) Child(ref Ref) *ChildState {
	for i := range o.Children {
		if o.Children[i].Ref == ref {
			return &o.Children[i]
		}
	}
	return nil
}

// DependencyResult is the outcome of checking every dependency once.
type DependencyResult struct {
	// Unavailable lists the dependencies that failed their check; empty when all
	// are healthy (or there are none).
	Unavailable []DependencyFailure
}

// DependencyFailure is one unavailable dependency.
type DependencyFailure struct {
	Name string
	// Message is the last error, with any URL credentials redacted.
	Message string
	// CircuitOpen is true when the check was not made because the dependency's
	// circuit breaker is open; NextProbe is when a probe is allowed.
	CircuitOpen bool
	NextProbe   time.Time
}

// Available reports whether every dependency is healthy. A nil result (not checked)
// is not available.
func (d *DependencyResult) Available() bool { return d != nil && len(d.Unavailable) == 0 }

// CircuitOpen returns the first failure whose circuit is open, or nil.
func (d *DependencyResult) CircuitOpen() *DependencyFailure {
	if d == nil {
		return nil
	}
	for i := range d.Unavailable {
		if d.Unavailable[i].CircuitOpen {
			return &d.Unavailable[i]
		}
	}
	return nil
}

// Message names the unavailable dependencies and their last errors.
func (d *DependencyResult) Message() string {
	if d == nil {
		return "dependencies not checked"
	}
	if len(d.Unavailable) == 0 {
		return "all dependencies are available"
	}
	msgs := make([]string, 0, len(d.Unavailable))
	for _, f := range d.Unavailable {
		if f.CircuitOpen {
			msgs = append(msgs, fmt.Sprintf("dependency %q: circuit breaker open (%s); next probe at %s",
				f.Name, f.Message, f.NextProbe.UTC().Format(time.RFC3339)))
			continue
		}
		msgs = append(msgs, fmt.Sprintf("dependency %q unavailable: %s", f.Name, f.Message))
	}
	return joinMax(msgs, len(msgs))
}

func joinMax(items []string, n int) string {
	out := ""
	for i, s := range items {
		if i == n {
			return out + fmt.Sprintf(", and %d more", len(items)-n)
		}
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
