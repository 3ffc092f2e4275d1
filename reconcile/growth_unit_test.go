package reconcile

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/resilience"
)

// readyAt1Gi is a Ready Database of 3 replicas on 1Gi volumes, on m.
func readyAt1Gi(t *testing.T) (*memCluster, *Engine) {
	t.Helper()
	m := newMemCluster(unitDB()).withVolumes(3, "1Gi")
	e, _ := unitEngine(m)
	if r := reconcileUnit(t, e, 10*time.Second); r.Outcome != OutcomeReady {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	m.writes()
	return m, e
}

func growTo(m *memCluster, size string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.db.Spec.Storage.Size = resource.MustParse(size)
	m.db.Generation++
}

func TestUnitGrowth(t *testing.T) {
	m, e := readyAt1Gi(t)
	template := func() string {
		sts := m.objs[phases.Ref{Kind: phases.KindStatefulSet, Name: "orders"}]
		tmpl, _, _ := unstructured.NestedMap(sts.Object, "spec", "template")
		return fmt.Sprint(tmpl)
	}
	before := template()
	growTo(m, "5Gi")
	r := reconcileUnit(t, e, 10*time.Second)
	if r.Outcome != OutcomeReady {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	got := m.writes()
	want := []string{"apply ConfigMap/orders-config", "grow PersistentVolumeClaim/data-orders-0", "grow PersistentVolumeClaim/data-orders-replica-0",
		"grow PersistentVolumeClaim/data-orders-replica-1", "delete-orphan StatefulSet/orders", "delete-orphan StatefulSet/orders-replica",
		"apply StatefulSet/orders", "apply StatefulSet/orders-replica"}
	if !slices.Equal(got, want) {
		t.Errorf("writes %v\nwant %v", got, want)
	}
	if template() != before {
		t.Error("the pod template changed: the pods would roll")
	}
	var kinds []string
	for _, c := range r.Changes {
		kinds = append(kinds, string(c.Action)+" "+c.Kind+" "+c.Name)
	}
	if !slices.Contains(kinds, "update StatefulSet orders") || !slices.Contains(kinds, "update PersistentVolumeClaim data-orders-0") {
		t.Errorf("changes %v: the StatefulSets are updated (recreated), the PVCs grown", kinds)
	}
	// The next run has nothing to do.
	if r := reconcileUnit(t, e, 10*time.Second); r.Outcome != OutcomeReady || len(r.Changes) > 0 {
		t.Errorf("rerun: %s, %d changes", r.Outcome, len(r.Changes))
	}
}

func TestUnitGrowthRefusedBeforeAnyWrite(t *testing.T) {
	m, e := readyAt1Gi(t)
	m.noExpansion = true
	growTo(m, "5Gi")
	r := reconcileUnit(t, e, 10*time.Second)
	if r.Outcome != OutcomeFailed || !strings.Contains(r.Message, "PVC data-orders-0 cannot grow: only dynamically provisioned pvc") {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	if got := m.writes(); len(got) > 0 {
		t.Errorf("a refused growth wrote %v", got)
	}
}

// A resize that never completes: Verifying waits for it, reports the PVCs by name,
// and the Database goes Failed after verify.timeout.
func TestUnitGrowthNeverCompletes(t *testing.T) {
	m, e := readyAt1Gi(t)
	m.noResize = true
	m.mu.Lock()
	m.db.Spec.Verify.Timeout = &metav1.Duration{Duration: 300 * time.Millisecond}
	m.mu.Unlock()
	growTo(m, "5Gi")
	r := reconcileUnit(t, e, 10*time.Second)
	if r.Outcome != OutcomeFailed || !strings.Contains(r.Message, "the volumes did not grow: PVC data-orders-0 has 1Gi of 5Gi") {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Message)
	}
	// Inside --timeout but past it: exit 3, naming the volumes.
	m.noResize = false
}

// The run ends between deleting a StatefulSet and writing it again (a lost
// connection, standing in for a SIGKILL there): the next run finds the growth half
// done and finishes it, the StatefulSets back, the PVCs at the new size.
func TestUnitGrowthFinishedByTheNextRun(t *testing.T) {
	for _, stop := range []string{"grow PersistentVolumeClaim/data-orders-replica-0", "delete-orphan StatefulSet/orders-replica", "apply StatefulSet/orders"} {
		t.Run(stop, func(t *testing.T) {
			m, e := readyAt1Gi(t)
			growTo(m, "5Gi")
			killed := errors.New("killed")
			op, obj, _ := strings.Cut(stop, " ")
			m.fault = func(o, ob string) error {
				if o == op && ob == obj {
					return resilience.Permanent(killed)
				}
				return nil
			}
			if r := reconcileUnit(t, e, 10*time.Second); r.Outcome != OutcomeError || !errors.Is(r.Err, killed) {
				t.Fatalf("outcome %s: %v", r.Outcome, r.Err)
			}
			m.fault = nil
			if r := reconcileUnit(t, e, 10*time.Second); r.Outcome != OutcomeReady {
				t.Fatalf("the next run: %s: %s", r.Outcome, r.Message)
			}
			for _, name := range []string{"orders", "orders-replica"} {
				if m.objs[phases.Ref{Kind: phases.KindStatefulSet, Name: name}] == nil {
					t.Errorf("StatefulSet %s is missing", name)
				}
			}
			for _, v := range m.volumes {
				if q := v.Spec.Resources.Requests[corev1.ResourceStorage]; q.Cmp(resource.MustParse("5Gi")) != 0 {
					t.Errorf("PVC %s requests %s", v.Name, q.String())
				}
			}
			if c := m.db.Status.Conditions; !slices.ContainsFunc(c, func(c metav1.Condition) bool {
				return c.Type == v1alpha1.ConditionReady && c.Status == metav1.ConditionTrue
			}) {
				t.Errorf("not Ready: %+v", c)
			}
		})
	}
}
