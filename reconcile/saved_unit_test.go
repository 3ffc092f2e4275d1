package reconcile

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/exitcode"
)

// coldPlan is the saved plan of a cold run of db: the Database exists (generation
// 1), no child does, and the plan writes writes (every child when nil).
func coldPlan(t *testing.T, db *v1alpha1.Database, writes []string) *SavedDatabase {
	t.Helper()
	digest, err := SpecDigest(db)
	if err != nil {
		t.Fatal(err)
	}
	s := &SavedDatabase{Namespace: db.Namespace, Name: db.Name, SpecDigest: digest, Writes: writes,
		Database: ObjectState{Kind: v1alpha1.Kind, Name: db.Name, Exists: true, Generation: 1}}
	for _, c := range phases.Children(db) {
		s.Children = append(s.Children, ObjectState{Kind: c.Kind, Name: c.Name})
		if writes == nil && c.Want == phases.Present {
			s.Writes = append(s.Writes, c.Ref.String())
		}
	}
	return s
}

func reconcilePlanned(t *testing.T, e *Engine, s *SavedDatabase) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.Reconcile(ctx, Target{Namespace: "shop", Name: "orders", Planned: s})
}

func TestUnitSavedPlanApplied(t *testing.T) {
	db := unitDB()
	m := newMemCluster(db)
	e, _ := unitEngine(m)
	r := reconcilePlanned(t, e, coldPlan(t, db, nil))
	if r.Outcome != OutcomeReady {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	if n := len(m.writes()); n != 11 { // two Secrets created and applied, seven more children applied
		t.Errorf("%d writes", n)
	}
}

func TestUnitSavedPlanChangedWritesNothing(t *testing.T) {
	db := unitDB()
	for name, tc := range map[string]struct {
		setup func(*memCluster, *SavedDatabase)
		want  string
	}{
		"a child created since": {func(m *memCluster, _ *SavedDatabase) {
			u := &unstructured.Unstructured{}
			u.SetKind("ConfigMap")
			u.SetName("orders-config")
			u.SetResourceVersion("7")
			m.objs[refOf(u)] = u
		}, "ConfigMap shop/orders-config was created since the plan"},
		"a child deleted since": {func(_ *memCluster, s *SavedDatabase) {
			s.Children[0] = ObjectState{Kind: phases.KindSecret, Name: "orders-credentials", Exists: true, ResourceVersion: "3"}
		}, "Secret shop/orders-credentials was deleted since the plan"},
		"the Database edited since": {func(m *memCluster, _ *SavedDatabase) { m.db.Generation = 2 },
			"Database shop/orders changed since the plan (generation 1 → 2)"},
		"another spec": {func(_ *memCluster, s *SavedDatabase) { s.SpecDigest = "sha256:0123456789abcdef0123" },
			"Database shop/orders: the spec is not the one planned"},
		"a volume resized since": {func(m *memCluster, s *SavedDatabase) {
			m.withVolumes(1, "2Gi")
			s.Volumes = []VolumeState{{Name: "data-orders-0", Requested: "1Gi"}}
		}, "PersistentVolumeClaim shop/data-orders-0 changed since the plan (requests 1Gi → 2Gi)"},
	} {
		t.Run(name, func(t *testing.T) {
			m := newMemCluster(db)
			s := coldPlan(t, db, nil)
			tc.setup(m, s)
			e, _ := unitEngine(m)
			r := reconcilePlanned(t, e, s)
			if r.Outcome != OutcomeError || r.Outcome.ExitCode() != exitcode.Error {
				t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
			}
			if !strings.Contains(r.Message, tc.want) || !strings.Contains(r.Message, "nothing was written") {
				t.Errorf("message %q lacks %q", r.Message, tc.want)
			}
			if w := m.writes(); len(w) > 0 || m.statusW > 0 {
				t.Errorf("wrote %v and %d statuses", w, m.statusW)
			}
		})
	}
}

// A write the plan does not contain stops the run (exit 3) before it is made.
func TestUnitSavedPlanDivergedStops(t *testing.T) {
	db := unitDB()
	m := newMemCluster(db)
	e, _ := unitEngine(m)
	r := reconcilePlanned(t, e, coldPlan(t, db, []string{"Secret/orders-credentials", "Secret/orders-replication"}))
	if r.Outcome != OutcomeNotReady || r.Outcome.ExitCode() != exitcode.Retryable {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	want := "reconcile would write Service shop/orders-headless, which the plan does not contain"
	if !strings.Contains(r.Message, want) {
		t.Errorf("message %q lacks %q", r.Message, want)
	}
	w := m.writes()
	if slices.ContainsFunc(w, func(op string) bool { return !strings.Contains(op, "Secret/") }) {
		t.Errorf("wrote %v: only the planned Secrets may be written", w)
	}
}

// A failed precondition (the object changed between the check and the write) is
// never retried as a transient conflict.
func TestUnitSavedPlanPreconditionFailsOnce(t *testing.T) {
	db := unitDB()
	m := newMemCluster(db)
	applies := 0
	m.fault = func(op, obj string) error {
		if op == "apply" && obj == "Service/orders-headless" {
			applies++
			return kerrors.NewConflict(schema.GroupResource{Resource: "services"}, "orders-headless",
				&kerrors.StatusError{})
		}
		return nil
	}
	e, _ := unitEngine(m)
	r := reconcilePlanned(t, e, coldPlan(t, db, nil))
	if r.Outcome != OutcomeError || applies != 1 {
		t.Fatalf("outcome %s after %d applies: %s", r.Outcome, applies, r.Message)
	}
	if !strings.Contains(r.Message, "Service shop/orders-headless changed while it was being written") ||
		!strings.Contains(r.Message, "stopped before that write") {
		t.Errorf("message %q", r.Message)
	}
}

func TestDescribeDifferences(t *testing.T) {
	for name, tc := range map[string]struct {
		planned, live ObjectState
		want          string
	}{
		"same generation":       {ObjectState{Kind: "StatefulSet", Name: "a", Exists: true, Generation: 4}, ObjectState{Kind: "StatefulSet", Name: "a", Exists: true, Generation: 4}, ""},
		"generation moved":      {ObjectState{Kind: "StatefulSet", Name: "a", Exists: true, Generation: 4}, ObjectState{Kind: "StatefulSet", Name: "a", Exists: true, Generation: 5}, "StatefulSet shop/a changed since the plan (generation 4 → 5)"},
		"resourceVersion moved": {ObjectState{Kind: "Secret", Name: "a", Exists: true, ResourceVersion: "10"}, ObjectState{Kind: "Secret", Name: "a", Exists: true, ResourceVersion: "12"}, "Secret shop/a changed since the plan (resourceVersion 10 → 12)"},
		"created":               {ObjectState{Kind: "Service", Name: "a"}, ObjectState{Kind: "Service", Name: "a", Exists: true, ResourceVersion: "1"}, "Service shop/a was created since the plan"},
		"deleted":               {ObjectState{Kind: "Service", Name: "a", Exists: true, ResourceVersion: "1"}, ObjectState{Kind: "Service", Name: "a"}, "Service shop/a was deleted since the plan"},
		"still absent":          {ObjectState{Kind: "Service", Name: "a"}, ObjectState{Kind: "Service", Name: "a"}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.planned.describe("shop", tc.live); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// The digest is the same for a spec with its defaults written out or left to the
// API server, and changes with the spec.
func TestSpecDigest(t *testing.T) {
	a := unitDB()
	b := unitDB()
	b.Spec.Storage.Size = resource.MustParse("2Gi")
	da, _ := SpecDigest(a)
	db, _ := SpecDigest(b)
	r := int32(3)
	raw := &v1alpha1.Database{Spec: v1alpha1.DatabaseSpec{Engine: v1alpha1.EnginePostgres, Version: "16", Replicas: &r,
		Storage: v1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}} // no defaults written
	dr, _ := SpecDigest(raw)
	if da == db || da != dr || !strings.HasPrefix(da, "sha256:") {
		t.Errorf("digests %s %s %s", da, db, dr)
	}
}
