package phases

import (
	"fmt"
	"slices"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

type phase = v1alpha1.Phase

// Edge is a transition of the state machine.
type Edge struct{ From, To phase }

func (e Edge) String() string { return fmt.Sprintf("%s → %s", e.From, e.To) }

// Edges are the only transitions Decide ever returns: the seed's state diagram,
//
//	Pending → Provisioning → Configuring → Deploying → Verifying → Ready
//	Verifying → Failed   (verify.timeout exceeded, or a permanent error)
//	Ready → Updating → Verifying   (spec generation changed, or a child drifted)
//	Failed → Provisioning   (retry, gated by exponential backoff on retryCount)
//
// plus the seed's multi-phase rule that a permanent error in a phase that writes
// children (Provisioning, Configuring, Deploying, Updating) sends the Database to
// Failed: e.g. the credentials Secret is gone while the data is still there.
var Edges = []Edge{
	{v1alpha1.PhasePending, v1alpha1.PhaseProvisioning},
	{v1alpha1.PhaseProvisioning, v1alpha1.PhaseConfiguring},
	{v1alpha1.PhaseConfiguring, v1alpha1.PhaseDeploying},
	{v1alpha1.PhaseDeploying, v1alpha1.PhaseVerifying},
	{v1alpha1.PhaseVerifying, v1alpha1.PhaseReady},
	{v1alpha1.PhaseVerifying, v1alpha1.PhaseFailed},
	{v1alpha1.PhaseReady, v1alpha1.PhaseUpdating},
	{v1alpha1.PhaseUpdating, v1alpha1.PhaseVerifying},
	{v1alpha1.PhaseFailed, v1alpha1.PhaseProvisioning},
	{v1alpha1.PhaseProvisioning, v1alpha1.PhaseFailed},
	{v1alpha1.PhaseConfiguring, v1alpha1.PhaseFailed},
	{v1alpha1.PhaseDeploying, v1alpha1.PhaseFailed},
	{v1alpha1.PhaseUpdating, v1alpha1.PhaseFailed},
}

// Allowed reports whether from → to is an edge of the machine. Staying in a phase is
// not a transition and is always allowed.
func Allowed(from, to phase) bool {
	if from == to {
		return true
	}
	for _, e := range Edges {
		if e.From == from && e.To == to {
			return true
		}
	}
	return false
}

// handlers maps each phase to its decision; one file per phase.
var handlers = map[phase]func(*v1alpha1.Database, *Observation) Decision{
	v1alpha1.PhasePending:      pending,
	v1alpha1.PhaseProvisioning: provisioning,
	v1alpha1.PhaseConfiguring:  configuring,
	v1alpha1.PhaseDeploying:    deploying,
	v1alpha1.PhaseVerifying:    verifying,
	v1alpha1.PhaseReady:        ready,
	v1alpha1.PhaseUpdating:     updating,
	v1alpha1.PhaseFailed:       failed,
}

// Decide returns the next step for db given what was observed: the one place that
// says what happens next, for reconcile and plan alike. The step starts from
// Current(db, obs), which may differ from status.phase when the status and the
// cluster disagree; Decision.Derived says so. A step that would write children is
// refused (to Failed, before any write) when the spec asks for a change the running
// database cannot take: see Refusal.
func Decide(db *v1alpha1.Database, obs *Observation) Decision {
	cur, why := Current(db, obs)
	d := handlers[cur](db, obs)
	if len(d.Apply) > 0 {
		if msg := Refusal(db, obs); msg != "" {
			d = newStep(db, obs).fail(v1alpha1.ReasonApplyRejected, msg)
			d.Refused = msg
		} else if slices.Contains(d.Apply, v1alpha1.PhaseDeploying) {
			d.Grow = GrowthOf(db, obs)
		}
	}
	d.From = cur
	if d.To == "" {
		d.To = cur
	}
	d.Status.Phase = d.To
	if cur != db.Phase() {
		d.Derived = why
	}
	if !Allowed(d.From, d.To) {
		// Unreachable by construction (machine_test checks every handler); fail
		// loudly rather than write an impossible status.
		panic(fmt.Sprintf("phases: handler for %s returned the transition %s", cur, Edge{d.From, d.To}))
	}
	return d
}

// Refusal explains why the children of db cannot be written over what runs now:
// pods of an earlier dbctl that hold databases of their own (TopologyChange), a
// PostgreSQL major version change or a MySQL downgrade (VersionChange), a smaller
// storage size or a new class (StorageChange), a growth the volumes cannot take
// (GrowthRefusal), MySQL with replicas. "" when nothing is
// refused. The running pods and volumes stay as they are.
func Refusal(db *v1alpha1.Database, obs *Observation) string {
	for _, msg := range []string{
		TopologyChange(db, obs.Workload),
		VersionChange(db, obs.Workload),
		StorageChange(db, obs.Workload),
		StorageChange(db, obs.ReplicaWorkload),
		GrowthRefusal(db, obs),
		mysqlReplicas(db),
	} {
		if msg != "" {
			return msg
		}
	}
	return ""
}

// mysqlReplicas refuses MySQL with replicas (the CRD does too; a Database read
// from the cluster may predate the rule).
func mysqlReplicas(db *v1alpha1.Database) string {
	if db.Spec.Engine != v1alpha1.EngineMySQL || !db.Replicated() {
		return ""
	}
	return fmt.Sprintf("spec.replicas: engine mysql runs one instance only (no MySQL server proves replication in dbctl's tests): "+
		"use engine mariadb for a primary with streaming replicas, or set replicas: 1 (Database %s/%s has %d)",
		db.Namespace, db.Name, db.ReplicaCount())
}

// Current is the phase the Database is really in: status.phase, re-derived from live
// state where the two disagree (the seed's getCurrentPhase):
//   - no or an unknown status.phase is Pending;
//   - an in-progress phase (Configuring, Deploying, Verifying) whose earlier phase's
//     children are missing or drifted goes back to the earliest such phase, e.g.
//     status says Verifying but the ConfigMap was deleted: Configuring.
//
// Ready, Updating, Failed, Pending and Provisioning are kept as they are: a Ready
// Database whose children drifted moves on through the Ready → Updating edge, and a
// Failed one waits for its retry.
func Current(db *v1alpha1.Database, obs *Observation) (phase, string) {
	p := db.Phase()
	if _, known := handlers[p]; !known {
		return v1alpha1.PhasePending, fmt.Sprintf("status.phase %q is not a known phase", p)
	}
	inProgress := p == v1alpha1.PhaseConfiguring || p == v1alpha1.PhaseDeploying || p == v1alpha1.PhaseVerifying
	if !inProgress {
		return p, ""
	}
	for _, earlier := range []phase{v1alpha1.PhaseProvisioning, v1alpha1.PhaseConfiguring, v1alpha1.PhaseDeploying} {
		if order(earlier) >= order(p) {
			break
		}
		if d := obs.DriftIn(earlier); len(d) > 0 {
			return earlier, fmt.Sprintf("status says %s but %s", p, d[0])
		}
	}
	return p, ""
}

func order(p phase) int {
	for i, q := range v1alpha1.Phases {
		if q == p {
			return i
		}
	}
	return -1
}

// Rejected is the step after the API server permanently rejected a child of the
// current phase (e.g. 422 Invalid: an image reference it does not accept): the
// Database goes Failed, since only a change of its spec can help. ok is false when
// the current phase writes no children (then the error is just an error).
func Rejected(db *v1alpha1.Database, obs *Observation, message string) (d Decision, ok bool) {
	cur, why := Current(db, obs)
	if !Allowed(cur, v1alpha1.PhaseFailed) || cur == v1alpha1.PhaseVerifying {
		return Decision{}, false
	}
	s := newStep(db, obs)
	d = s.fail(v1alpha1.ReasonApplyRejected, message)
	d.From = cur
	if cur != db.Phase() {
		d.Derived = why
	}
	return d, true
}
