package phases

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func testDB(phase v1alpha1.Phase, mutate ...func(*v1alpha1.Database)) *v1alpha1.Database {
	r := int32(3)
	db := &v1alpha1.Database{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop", UID: "uid-1", Generation: 1},
		Spec: v1alpha1.DatabaseSpec{
			Engine: v1alpha1.EnginePostgres, Version: "16", Replicas: &r,
			Storage: v1alpha1.StorageSpec{Size: resource.MustParse("10Gi")},
		},
		Status: v1alpha1.DatabaseStatus{Phase: phase, ObservedGeneration: 1},
	}
	db.Default()
	for _, m := range mutate {
		m(db)
	}
	return db
}

// world describes an observation in a few words, for table tests.
type world struct {
	missing     []string // kinds whose child is missing
	drifted     []string // kinds whose child drifted
	prunePDB    bool
	noData      bool // neither StatefulSet nor PVCs exist
	notRolled   bool // rollout not complete
	depsDown    bool
	circuitOpen bool
	depsUnknown bool
	now         time.Time
	image       string // of the live StatefulSet; default postgres:16
	claim       string // its data volume claim's size; default 10Gi
	stsPods     int32  // the primary StatefulSet's replicas; default 1
	volumes     []Volume
}

func observe(db *v1alpha1.Database, w world) *Observation {
	now := w.now
	if now.IsZero() {
		now = t0
	}
	children, err := Desired(db, Inputs{Password: "pw"})
	if err != nil {
		panic(err)
	}
	obs := &Observation{Now: now, DataExists: !w.noData}
	for _, c := range children {
		if c.Want == Absent {
			if w.prunePDB {
				obs.Children = append(obs.Children, ChildState{Child: c, Exists: true, Prune: true})
			}
			continue
		}
		cs := ChildState{Child: c, Exists: true}
		if slices.Contains(w.missing, c.Kind) {
			cs.Exists, cs.Drift = false, []string{"missing"}
		}
		if slices.Contains(w.drifted, c.Kind) {
			cs.Drift = []string{"spec.replicas"}
		}
		obs.Children = append(obs.Children, cs)
	}
	stsMissing := slices.Contains(w.missing, KindStatefulSet)
	if !stsMissing {
		obs.Workload = &Workload{Name: "orders", Replicas: cmp.Or(w.stsPods, 1), Image: cmp.Or(w.image, "postgres:16"), Claim: &Claim{Size: cmp.Or(w.claim, "10Gi")}}
		obs.Volumes = w.volumes
	}
	obs.Rollout = Rollout{Exists: !stsMissing, Current: !w.notRolled && !stsMissing, Ready: 3, Desired: 3, Updated: 3}
	if w.notRolled {
		obs.Rollout.Ready = 1
	}
	switch {
	case w.depsUnknown:
	case w.circuitOpen:
		obs.Dependencies = &DependencyResult{Unavailable: []DependencyFailure{{Name: "backup", Message: "connection refused", CircuitOpen: true, NextProbe: now.Add(time.Minute)}}}
	case w.depsDown:
		obs.Dependencies = &DependencyResult{Unavailable: []DependencyFailure{{Name: "backup", Message: "connection refused"}}}
	default:
		obs.Dependencies = &DependencyResult{}
	}
	return obs
}

func withDeps(db *v1alpha1.Database) {
	db.Spec.Dependencies = []v1alpha1.Dependency{{Name: "backup", URL: "https://backup.example/healthz"}}
	db.Default()
}

func verifyingSince(d time.Duration) func(*v1alpha1.Database) {
	return func(db *v1alpha1.Database) {
		t := metav1.NewTime(t0.Add(-d))
		db.Status.VerifyStartTime = &t
	}
}

func failedAgo(d time.Duration, retries int32) func(*v1alpha1.Database) {
	return func(db *v1alpha1.Database) {
		t := metav1.NewTime(t0.Add(-d))
		db.Status.LastFailureTime = &t
		db.Status.RetryCount = retries
	}
}

func TestDecide(t *testing.T) {
	P := v1alpha1.PhaseProvisioning
	C := v1alpha1.PhaseConfiguring
	D := v1alpha1.PhaseDeploying
	tests := map[string]struct {
		db    *v1alpha1.Database
		world world
		from  v1alpha1.Phase
		to    v1alpha1.Phase
		apply []v1alpha1.Phase
		wait  Wait
		done  bool
		// ready is the Ready condition's reason after the step; "" means not checked.
		ready string
		// refused is a substring of Decision.Refused; "" means not refused.
		refused string
		// grow is Decision.Grow as "sts…: pvc… from→to"; "" means none.
		grow string
	}{
		"pending starts provisioning": {
			db: testDB(""), world: world{missing: []string{KindSecret, KindService, KindConfigMap, KindStatefulSet, KindPodDisruptionBudget}, noData: true},
			from: v1alpha1.PhasePending, to: P, ready: v1alpha1.ReasonProgressing,
		},
		"pending waits for an unavailable dependency": {
			db: testDB("", withDeps), world: world{depsDown: true, noData: true},
			from: v1alpha1.PhasePending, to: v1alpha1.PhasePending, wait: WaitDependencies, ready: v1alpha1.ReasonExternalSystemUnavailable,
		},
		"pending with healthy dependencies provisions": {
			db: testDB("", withDeps), world: world{noData: true}, from: v1alpha1.PhasePending, to: P,
		},
		"provisioning writes its children": {
			db: testDB(P), world: world{missing: []string{KindSecret}, noData: true},
			from: P, to: C, apply: []v1alpha1.Phase{P},
		},
		"provisioning without the secret but with data fails": {
			db: testDB(P), world: world{missing: []string{KindSecret}},
			from: P, to: v1alpha1.PhaseFailed, ready: v1alpha1.ReasonCredentialsMissing,
		},
		"configuring writes the config map": {
			db: testDB(C), world: world{}, from: C, to: D, apply: []v1alpha1.Phase{C},
		},
		"deploying writes the statefulset and starts verifying": {
			db: testDB(D), world: world{notRolled: true}, from: D, to: v1alpha1.PhaseVerifying, apply: []v1alpha1.Phase{D},
			ready: v1alpha1.ReasonWaitingForRollout,
		},
		"verifying waits for the rollout": {
			db: testDB(v1alpha1.PhaseVerifying, verifyingSince(time.Minute)), world: world{notRolled: true},
			from: v1alpha1.PhaseVerifying, to: v1alpha1.PhaseVerifying, wait: WaitRollout, ready: v1alpha1.ReasonWaitingForRollout,
		},
		"verifying becomes ready": {
			db: testDB(v1alpha1.PhaseVerifying, verifyingSince(time.Minute)), world: world{},
			from: v1alpha1.PhaseVerifying, to: v1alpha1.PhaseReady, ready: v1alpha1.ReasonReconciled,
		},
		"verifying times out": {
			db: testDB(v1alpha1.PhaseVerifying, verifyingSince(11*time.Minute)), world: world{notRolled: true},
			from: v1alpha1.PhaseVerifying, to: v1alpha1.PhaseFailed, ready: v1alpha1.ReasonVerificationTimeout,
		},
		"verifying waits for a dependency": {
			db: testDB(v1alpha1.PhaseVerifying, withDeps, verifyingSince(time.Minute)), world: world{depsDown: true},
			from: v1alpha1.PhaseVerifying, to: v1alpha1.PhaseVerifying, wait: WaitDependencies, ready: v1alpha1.ReasonExternalSystemUnavailable,
		},
		"verifying with a dependency down past the deadline fails": {
			db: testDB(v1alpha1.PhaseVerifying, withDeps, verifyingSince(11*time.Minute)), world: world{depsDown: true},
			from: v1alpha1.PhaseVerifying, to: v1alpha1.PhaseFailed, ready: v1alpha1.ReasonVerificationTimeout,
		},
		"ready with nothing to do is done": {
			db: testDB(v1alpha1.PhaseReady), world: world{}, from: v1alpha1.PhaseReady, to: v1alpha1.PhaseReady, done: true,
		},
		"ready with a new generation updates": {
			db: testDB(v1alpha1.PhaseReady, func(db *v1alpha1.Database) { db.Generation = 2 }), world: world{},
			from: v1alpha1.PhaseReady, to: v1alpha1.PhaseUpdating, ready: v1alpha1.ReasonSpecChanged,
		},
		"ready with a drifted statefulset updates": {
			db: testDB(v1alpha1.PhaseReady), world: world{drifted: []string{KindStatefulSet}},
			from: v1alpha1.PhaseReady, to: v1alpha1.PhaseUpdating, ready: v1alpha1.ReasonDrift,
		},
		"ready with a deleted statefulset updates": {
			db: testDB(v1alpha1.PhaseReady), world: world{missing: []string{KindStatefulSet}},
			from: v1alpha1.PhaseReady, to: v1alpha1.PhaseUpdating, ready: v1alpha1.ReasonDrift,
		},
		"ready with a pdb to prune updates": {
			db: testDB(v1alpha1.PhaseReady, func(db *v1alpha1.Database) { r := int32(1); db.Spec.Replicas = &r }), world: world{prunePDB: true},
			from: v1alpha1.PhaseReady, to: v1alpha1.PhaseUpdating, ready: v1alpha1.ReasonDrift,
		},
		"ready with a replica down updates": {
			db: testDB(v1alpha1.PhaseReady), world: world{notRolled: true},
			from: v1alpha1.PhaseReady, to: v1alpha1.PhaseUpdating, ready: v1alpha1.ReasonDrift,
		},
		"updating writes everything": {
			db: testDB(v1alpha1.PhaseUpdating), world: world{drifted: []string{KindStatefulSet}},
			from: v1alpha1.PhaseUpdating, to: v1alpha1.PhaseVerifying, apply: []v1alpha1.Phase{P, C, D},
		},
		"updating without the secret but with data fails": {
			db: testDB(v1alpha1.PhaseUpdating), world: world{missing: []string{KindSecret}},
			from: v1alpha1.PhaseUpdating, to: v1alpha1.PhaseFailed, ready: v1alpha1.ReasonCredentialsMissing,
		},
		"failed inside its window waits": {
			db: testDB(v1alpha1.PhaseFailed, failedAgo(2*time.Second, 0)), world: world{},
			from: v1alpha1.PhaseFailed, to: v1alpha1.PhaseFailed, wait: WaitBackoff, ready: v1alpha1.ReasonRetryBackoff,
		},
		"failed after its window retries": {
			db: testDB(v1alpha1.PhaseFailed, failedAgo(6*time.Second, 0)), world: world{},
			from: v1alpha1.PhaseFailed, to: P,
		},
		"failed after its window with a dependency down waits": {
			db: testDB(v1alpha1.PhaseFailed, withDeps, failedAgo(time.Hour, 3)), world: world{depsDown: true},
			from: v1alpha1.PhaseFailed, to: v1alpha1.PhaseFailed, wait: WaitDependencies,
		},
		"verifying with a deleted config map goes back to configuring": {
			db: testDB(v1alpha1.PhaseVerifying, verifyingSince(time.Minute)), world: world{missing: []string{KindConfigMap}},
			from: C, to: D, apply: []v1alpha1.Phase{C},
		},
		"deploying with a deleted secret goes back to provisioning": {
			db: testDB(D), world: world{missing: []string{KindSecret}, noData: true},
			from: P, to: C, apply: []v1alpha1.Phase{P},
		},
		"verifying with a scaled statefulset goes back to deploying": {
			db: testDB(v1alpha1.PhaseVerifying, verifyingSince(time.Minute)), world: world{drifted: []string{KindStatefulSet}},
			from: D, to: v1alpha1.PhaseVerifying, apply: []v1alpha1.Phase{D},
		},
		"updating to another postgres major is refused before any write": {
			db: testDB(v1alpha1.PhaseUpdating, func(db *v1alpha1.Database) { db.Spec.Version = "17" }), world: world{drifted: []string{KindStatefulSet}},
			from: v1alpha1.PhaseUpdating, to: v1alpha1.PhaseFailed, ready: v1alpha1.ReasonApplyRejected,
			refused: "spec.version cannot change PostgreSQL from 16 to 17",
		},
		"a growth whose PVC is missing is refused before any write": {
			db: testDB(P, func(db *v1alpha1.Database) { db.Spec.Storage.Size = resource.MustParse("20Gi") }), world: world{},
			from: P, to: v1alpha1.PhaseFailed, ready: v1alpha1.ReasonApplyRejected,
			refused: "spec.storage.size cannot grow from 10Gi to 20Gi: PVC data-orders-0 is missing",
		},
		"a growth the StorageClass does not allow is refused before any write": {
			db: testDB(v1alpha1.PhaseUpdating, func(db *v1alpha1.Database) { db.Spec.Storage.Size = resource.MustParse("20Gi") }),
			world: world{drifted: []string{KindStatefulSet}, volumes: []Volume{{Name: "data-orders-0", Requested: resource.MustParse("10Gi"),
				NotExpandable: "only dynamically provisioned pvc can be resized"}}},
			from: v1alpha1.PhaseUpdating, to: v1alpha1.PhaseFailed, ready: v1alpha1.ReasonApplyRejected,
			refused: "PVC data-orders-0 cannot grow: only dynamically provisioned pvc can be resized",
		},
		"a growth is planned by the step that writes the StatefulSets": {
			db:    testDB(v1alpha1.PhaseUpdating, func(db *v1alpha1.Database) { db.Spec.Storage.Size = resource.MustParse("20Gi") }),
			world: world{drifted: []string{KindStatefulSet}, volumes: []Volume{{Name: "data-orders-0", Requested: resource.MustParse("10Gi")}}},
			from:  v1alpha1.PhaseUpdating, to: v1alpha1.PhaseVerifying, apply: []v1alpha1.Phase{P, C, D}, grow: "orders: data-orders-0 10Gi→20Gi",
		},
		"verifying waits for the volumes to grow": {
			db:    testDB(v1alpha1.PhaseVerifying, verifyingSince(time.Minute)),
			world: world{volumes: []Volume{{Name: "data-orders-0", Mounted: true, Requested: resource.MustParse("20Gi"), Capacity: resource.MustParse("10Gi")}}},
			from:  v1alpha1.PhaseVerifying, to: v1alpha1.PhaseVerifying, wait: WaitVolumes, ready: v1alpha1.ReasonWaitingForVolumes,
		},
		"verifying counts a volume no pod mounts once it is expanded": {
			db: testDB(v1alpha1.PhaseVerifying, verifyingSince(time.Minute)),
			world: world{volumes: []Volume{{Name: "data-orders-replica-4", Requested: resource.MustParse("20Gi"), Capacity: resource.MustParse("10Gi"),
				FileSystemResizePending: true}}},
			from: v1alpha1.PhaseVerifying, to: v1alpha1.PhaseReady, ready: v1alpha1.ReasonReconciled,
		},
		"verifying fails when the volumes never grow": {
			db:    testDB(v1alpha1.PhaseVerifying, verifyingSince(11*time.Minute)),
			world: world{volumes: []Volume{{Name: "data-orders-0", Mounted: true, Requested: resource.MustParse("20Gi"), Capacity: resource.MustParse("10Gi")}}},
			from:  v1alpha1.PhaseVerifying, to: v1alpha1.PhaseFailed, ready: v1alpha1.ReasonVerificationTimeout,
		},
		"verifying with a changed version re-derives to deploying and is refused": {
			db: testDB(v1alpha1.PhaseVerifying, verifyingSince(time.Minute)), world: world{drifted: []string{KindStatefulSet}, image: "postgres:15"},
			from: D, to: v1alpha1.PhaseFailed, ready: v1alpha1.ReasonApplyRejected, refused: "from 15 to 16",
		},
		"a StatefulSet of an earlier dbctl with 3 pods is refused before any write, the Services included": {
			db: testDB(v1alpha1.PhaseReady, func(db *v1alpha1.Database) { db.Generation = 2 }), world: world{stsPods: 3},
			from: v1alpha1.PhaseReady, to: v1alpha1.PhaseUpdating,
		},
		"updating over a StatefulSet of an earlier dbctl is refused": {
			db: testDB(v1alpha1.PhaseUpdating), world: world{stsPods: 3, drifted: []string{KindStatefulSet}},
			from: v1alpha1.PhaseUpdating, to: v1alpha1.PhaseFailed, ready: v1alpha1.ReasonApplyRejected,
			refused: "pods orders-1, orders-2 hold databases of their own (PVCs data-orders-1, data-orders-2)",
		},
		"provisioning over a StatefulSet of an earlier dbctl is refused": {
			db: testDB(P), world: world{stsPods: 2, missing: []string{KindService}},
			from: P, to: v1alpha1.PhaseFailed, ready: v1alpha1.ReasonApplyRejected, refused: "kubectl scale statefulset orders -n shop --replicas=1",
		},
		"mysql with replicas read from the cluster is refused": {
			db: testDB(P, func(db *v1alpha1.Database) { db.Spec.Engine = v1alpha1.EngineMySQL }), world: world{},
			from: P, to: v1alpha1.PhaseFailed, ready: v1alpha1.ReasonApplyRejected, refused: "engine mysql runs one instance only",
		},
		"a minor version change is not refused": {
			db: testDB(v1alpha1.PhaseUpdating), world: world{drifted: []string{KindStatefulSet}, image: "postgres:16.2"},
			from: v1alpha1.PhaseUpdating, to: v1alpha1.PhaseVerifying, apply: []v1alpha1.Phase{P, C, D},
		},
		"an unknown phase is pending": {
			db: testDB("Exploded"), world: world{noData: true}, from: v1alpha1.PhasePending, to: P,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := Decide(tc.db, observe(tc.db, tc.world))
			if d.From != tc.from || d.To != tc.to {
				t.Fatalf("got %s → %s, want %s → %s (%s)", d.From, d.To, tc.from, tc.to, d.Message)
			}
			if !slices.Equal(d.Apply, tc.apply) {
				t.Errorf("apply = %v, want %v", d.Apply, tc.apply)
			}
			if d.Wait != tc.wait {
				t.Errorf("wait = %q, want %q", d.Wait, tc.wait)
			}
			if d.Done != tc.done {
				t.Errorf("done = %v, want %v", d.Done, tc.done)
			}
			if (tc.refused == "") != (d.Refused == "") || !strings.Contains(d.Refused, tc.refused) {
				t.Errorf("refused = %q, want %q", d.Refused, tc.refused)
			}
			if got := growText(d.Grow); got != tc.grow {
				t.Errorf("grow = %q, want %q", got, tc.grow)
			}
			if d.Status.Phase != tc.to {
				t.Errorf("status.phase = %q, want %q", d.Status.Phase, tc.to)
			}
			if tc.ready != "" {
				c := findCondition(d.Status.Conditions, v1alpha1.ConditionReady)
				if c == nil || c.Reason != tc.ready {
					t.Errorf("Ready condition = %+v, want reason %s", c, tc.ready)
				}
			}
		})
	}
}

func growText(g *Growth) string {
	if g == nil {
		return ""
	}
	return fmt.Sprintf("%s: %s %s→%s", strings.Join(g.StatefulSets, " "), strings.Join(g.PVCs, " "), g.From.String(), g.To.String())
}

func findCondition(cs []metav1.Condition, t string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}

// TestOnlyAllowedTransitions runs Decide over every phase and every combination of
// the world's features and checks that each transition is an edge of the machine,
// and that every edge is reachable.
func TestOnlyAllowedTransitions(t *testing.T) {
	seen := map[Edge]bool{}
	kinds := []string{KindSecret, KindService, KindConfigMap, KindStatefulSet, KindPodDisruptionBudget}
	phases := append([]v1alpha1.Phase{""}, v1alpha1.Phases...)
	for _, p := range phases {
		for mask := 0; mask < 1<<10; mask++ {
			bit := func(i int) bool { return mask&(1<<i) != 0 }
			w := world{noData: bit(0), notRolled: bit(1), depsDown: bit(2), circuitOpen: bit(3) && bit(2), prunePDB: bit(9)}
			if bit(4) {
				w.missing = append(w.missing, kinds[mask%len(kinds)])
			}
			if bit(5) {
				w.drifted = append(w.drifted, kinds[(mask/7)%len(kinds)])
			}
			mutators := []func(*v1alpha1.Database){withDeps}
			if bit(6) {
				mutators = append(mutators, verifyingSince(time.Hour), failedAgo(time.Hour, 2))
			} else {
				mutators = append(mutators, verifyingSince(time.Second), failedAgo(time.Second, 2))
			}
			if bit(7) {
				mutators = append(mutators, func(db *v1alpha1.Database) { db.Generation = 5 })
			}
			if bit(8) {
				mutators = append(mutators, func(db *v1alpha1.Database) { r := int32(1); db.Spec.Replicas = &r })
			}
			db := testDB(p, mutators...)
			var d Decision
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("phase %q world %+v: %v", p, w, r)
					}
				}()
				d = Decide(db, observe(db, w))
			}()
			if r, ok := Rejected(db, observe(db, w), "rejected"); ok {
				if !Allowed(r.From, r.To) || r.To != v1alpha1.PhaseFailed {
					t.Fatalf("Rejected: %s → %s", r.From, r.To)
				}
				seen[Edge{r.From, r.To}] = true
			}
			if !Allowed(d.From, d.To) {
				t.Fatalf("phase %q world %+v: %s → %s is not an edge", p, w, d.From, d.To)
			}
			if d.Transition() {
				seen[Edge{d.From, d.To}] = true
			}
		}
	}
	for _, e := range Edges {
		if !seen[e] {
			t.Errorf("edge %s is never taken", e)
		}
	}
}

func TestAllowed(t *testing.T) {
	for _, from := range v1alpha1.Phases {
		for _, to := range v1alpha1.Phases {
			want := from == to || slices.Contains(Edges, Edge{from, to})
			if got := Allowed(from, to); got != want {
				t.Errorf("Allowed(%s, %s) = %v", from, to, got)
			}
		}
	}
	// Spot-check edges that must not exist.
	for _, e := range []Edge{
		{v1alpha1.PhasePending, v1alpha1.PhaseReady}, {v1alpha1.PhaseReady, v1alpha1.PhaseFailed},
		{v1alpha1.PhaseFailed, v1alpha1.PhaseReady}, {v1alpha1.PhaseUpdating, v1alpha1.PhaseReady},
		{v1alpha1.PhaseVerifying, v1alpha1.PhaseDeploying}, {v1alpha1.PhaseReady, v1alpha1.PhasePending},
	} {
		if Allowed(e.From, e.To) {
			t.Errorf("%s must not be allowed", e)
		}
	}
}

func TestCurrent(t *testing.T) {
	tests := map[string]struct {
		db    *v1alpha1.Database
		world world
		want  v1alpha1.Phase
	}{
		"empty status is pending":                 {testDB(""), world{}, v1alpha1.PhasePending},
		"ready stays ready even with drift":       {testDB(v1alpha1.PhaseReady), world{missing: []string{KindStatefulSet}}, v1alpha1.PhaseReady},
		"failed stays failed":                     {testDB(v1alpha1.PhaseFailed), world{missing: []string{KindSecret}}, v1alpha1.PhaseFailed},
		"verifying without a secret":              {testDB(v1alpha1.PhaseVerifying), world{missing: []string{KindSecret}}, v1alpha1.PhaseProvisioning},
		"deploying without a config map":          {testDB(v1alpha1.PhaseDeploying), world{missing: []string{KindConfigMap}}, v1alpha1.PhaseConfiguring},
		"deploying without a statefulset is fine": {testDB(v1alpha1.PhaseDeploying), world{missing: []string{KindStatefulSet}}, v1alpha1.PhaseDeploying},
		"configuring with everything":             {testDB(v1alpha1.PhaseConfiguring), world{}, v1alpha1.PhaseConfiguring},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got, _ := Current(tc.db, observe(tc.db, tc.world)); got != tc.want {
				t.Errorf("Current = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRetryWindow(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for n, w := range want {
		if got := RetryWindow(int32(n)); got != w {
			t.Errorf("RetryWindow(%d) = %s, want %s", n, got, w)
		}
	}
	if got := RetryWindow(1000); got != RetryMax {
		t.Errorf("RetryWindow(1000) = %s", got)
	}
	db := testDB(v1alpha1.PhaseFailed, failedAgo(0, 2))
	if got, want := RetryAt(db), t0.Add(20*time.Second); !got.Equal(want) {
		t.Errorf("RetryAt = %s, want %s", got, want)
	}
}

func TestConditionTransitionTimeOnlyOnChange(t *testing.T) {
	db := testDB(v1alpha1.PhaseVerifying, verifyingSince(time.Minute))
	d := Decide(db, observe(db, world{notRolled: true}))
	db.Status = d.Status
	first := findCondition(db.Status.Conditions, v1alpha1.ConditionReady).LastTransitionTime
	later := observe(db, world{notRolled: true, now: t0.Add(30 * time.Second)})
	d = Decide(db, later)
	if got := findCondition(d.Status.Conditions, v1alpha1.ConditionReady).LastTransitionTime; !got.Equal(&first) {
		t.Errorf("lastTransitionTime moved from %s to %s without a transition", first, got)
	}
	// A second identical decision changes nothing at all: no status write.
	db.Status = d.Status
	if d2 := Decide(db, later); fmt.Sprint(d2.Status) != fmt.Sprint(db.Status) {
		t.Errorf("status changed on an identical observation:\n%v\n%v", d2.Status, db.Status)
	}
}

// A Database that reaches Ready has every condition for its current generation,
// even when the path there skipped phases (a spec changed while Verifying
// re-derives to Deploying only): no condition keeps an older observedGeneration.
func TestReadyConditionsAtCurrentGeneration(t *testing.T) {
	db := testDB(v1alpha1.PhaseVerifying, verifyingSince(time.Minute))
	for _, c := range []string{v1alpha1.ConditionProvisioned, v1alpha1.ConditionConfigured, v1alpha1.ConditionDeployed} {
		db.SetCondition(c, metav1.ConditionTrue, v1alpha1.ReasonReconciled, "applied", t0.Add(-time.Hour))
	}
	db.Generation = 2 // the StatefulSet was re-applied for it (Deploying), the rest is current
	d := Decide(db, observe(db, world{}))
	if d.To != v1alpha1.PhaseReady {
		t.Fatalf("Verifying → %s, want Ready", d.To)
	}
	for _, c := range d.Status.Conditions {
		if c.ObservedGeneration != 2 || c.Status != metav1.ConditionTrue {
			t.Errorf("condition %s: %s, observedGeneration %d; want True, 2", c.Type, c.Status, c.ObservedGeneration)
		}
	}
}
