package phases

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// Volume is one data PVC of the Database (data-<name>-0, data-<name>-replica-<i>),
// as a volume growth needs it.
type Volume struct {
	Name string
	// Requested is spec.resources.requests.storage; Capacity status.capacity.storage
	// (zero when absent).
	Requested, Capacity resource.Quantity
	// Mounted: a pod of the Database uses it (its ordinal is below its
	// StatefulSet's replicas).
	Mounted bool
	// FileSystemResizePending: the volume itself is expanded; its file system grows
	// when a pod mounts it.
	FileSystemResizePending bool
	// Infeasible says why a resize of it cannot continue (the resizer gave up);
	// "" when it can.
	Infeasible string
	// NotExpandable is the API server's answer to growing it (a server-side dry
	// run: only a bound PVC whose StorageClass allows expansion grows); "" when it
	// may grow, or when no growth is wanted.
	NotExpandable string
}

// Grown reports whether the volume has its requested size, as far as the
// Database needs it: a mounted one reports the capacity; one no pod mounts counts
// once the volume itself is expanded (its file system grows at the next mount).
func (v Volume) Grown() bool {
	return v.Capacity.Cmp(v.Requested) >= 0 || !v.Mounted && v.FileSystemResizePending
}

// Growth is a volume growth the spec asks for: spec.storage.size above the size
// the StatefulSets' volume claim templates have. Kubernetes does not let those
// templates change, so the growth expands every data PVC and recreates each
// StatefulSet around its running pods (orphaned, then adopted: no pod restarts).
type Growth struct {
	// From is the smallest size the StatefulSets claim now; To spec.storage.size.
	From, To resource.Quantity
	// StatefulSets are the names of the StatefulSets to recreate.
	StatefulSets []string
	// PVCs are the names of the data PVCs to expand (requests below To).
	PVCs []string
}

// GrowthOf is the growth db's spec asks for; nil when none (no StatefulSet, or
// every StatefulSet's claim is at least spec.storage.size: a shrink or a new class
// is StorageChange's refusal). The PVCs are known only when obs.Volumes was read.
func GrowthOf(db *v1alpha1.Database, obs *Observation) *Growth {
	want := db.Spec.Storage.Size
	var g *Growth
	for _, w := range []*Workload{obs.Workload, obs.ReplicaWorkload} {
		if w == nil || w.Claim == nil || w.Deleting {
			continue
		}
		size, err := resource.ParseQuantity(w.Claim.Size)
		if err != nil || size.Cmp(want) >= 0 || !sameClass(db, w.Claim) {
			continue
		}
		if g == nil {
			g = &Growth{From: size, To: want}
		}
		if size.Cmp(g.From) < 0 {
			g.From = size
		}
		g.StatefulSets = append(g.StatefulSets, w.Name)
	}
	if g == nil {
		return nil
	}
	for _, v := range obs.Volumes {
		if v.Requested.Cmp(want) < 0 {
			g.PVCs = append(g.PVCs, v.Name)
		}
	}
	return g
}

func sameClass(db *v1alpha1.Database, c *Claim) bool {
	want := ""
	if db.Spec.Storage.StorageClassName != nil {
		want = *db.Spec.Storage.StorageClassName
	}
	return c.StorageClass == want || !c.HasStorageClass && want == ""
}

// NeedsVolumes reports whether the engine must read the data PVCs for Decide: a
// growth is wanted (its checks and its PVCs), or the Database is Verifying (the
// volumes' new capacity).
func NeedsVolumes(db *v1alpha1.Database, obs *Observation) bool {
	cur, _ := Current(db, obs)
	return cur == v1alpha1.PhaseVerifying || GrowthOf(db, obs) != nil
}

// GrowthRefusal explains why a wanted growth cannot start, before anything is
// touched: a data PVC of a running pod is missing, or a PVC cannot grow (its
// StorageClass does not allow expansion, it is not bound, its resize gave up).
// "" when it can, or when no growth is wanted.
func GrowthRefusal(db *v1alpha1.Database, obs *Observation) string {
	g := GrowthOf(db, obs)
	if g == nil {
		return ""
	}
	have := map[string]bool{}
	for _, v := range obs.Volumes {
		have[v.Name] = true
	}
	var problems []string
	for _, name := range expectedVolumes(db, obs) {
		if !have[name] {
			problems = append(problems, fmt.Sprintf("PVC %s is missing", name))
		}
	}
	for _, v := range obs.Volumes {
		switch {
		case v.Infeasible != "":
			problems = append(problems, fmt.Sprintf("PVC %s: its resize cannot continue (%s)", v.Name, v.Infeasible))
		case v.NotExpandable != "":
			problems = append(problems, fmt.Sprintf("PVC %s cannot grow: %s", v.Name, v.NotExpandable))
		}
	}
	if len(problems) == 0 {
		return ""
	}
	return fmt.Sprintf("spec.storage.size cannot grow from %s to %s: %s. Nothing was changed: set spec.storage.size back to %s, "+
		"or make the volumes growable (a StorageClass with allowVolumeExpansion: true, the PVCs bound) and run dbctl again",
		g.From.String(), g.To.String(), strings.Join(problems, "; "), g.From.String())
}

// expectedVolumes are the PVCs the running pods use: data-<name>-0 and one per
// replica of the replicas' StatefulSet.
func expectedVolumes(db *v1alpha1.Database, obs *Observation) []string {
	var out []string
	for _, w := range []*Workload{obs.Workload, obs.ReplicaWorkload} {
		if w == nil {
			continue
		}
		for i := int32(0); i < w.Replicas; i++ {
			out = append(out, fmt.Sprintf("%s-%s-%d", dataVolume, w.Name, i))
		}
	}
	return out
}

// PendingVolumes describes the data PVCs that have not grown to their requested
// size yet ("PVC data-orders-0 has 1Gi of 5Gi"); nil when every one has, or the
// volumes were not read.
func PendingVolumes(obs *Observation) []string {
	var out []string
	for _, v := range obs.Volumes {
		if !v.Grown() {
			out = append(out, fmt.Sprintf("PVC %s has %s of %s", v.Name, quantity(v.Capacity), v.Requested.String()))
		}
	}
	return out
}

func quantity(q resource.Quantity) string {
	if q.IsZero() {
		return "no capacity reported"
	}
	return q.String()
}

// VolumeOwner parses a data PVC's name into the StatefulSet and the ordinal of the
// pod that mounts it: data-orders-0 is (orders, 0), data-orders-replica-2 is
// (orders-replica, 2). ok is false for any other PVC (including a pod of an earlier
// dbctl's, data-orders-1).
func VolumeOwner(db *v1alpha1.Database, pvc string) (sts string, ordinal int32, ok bool) {
	for _, name := range []string{db.ReplicaStatefulSetName(), db.StatefulSetName()} {
		m := regexp.MustCompile("^" + dataVolume + "-" + regexp.QuoteMeta(name) + "-([0-9]+)$").FindStringSubmatch(pvc)
		if m == nil {
			continue
		}
		n, err := strconv.ParseInt(m[1], 10, 32)
		if err != nil || name == db.StatefulSetName() && n != 0 {
			return "", 0, false
		}
		return name, int32(n), true
	}
	return "", 0, false
}
