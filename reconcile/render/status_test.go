package render_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dbctl-io/dbctl/test/golden"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/exitcode"
	"github.com/dbctl-io/dbctl/reconcile/render"
	"github.com/dbctl-io/dbctl/resilience"
)

var now = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func cond(typ string, ok bool, reason, msg string, age time.Duration) metav1.Condition {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, LastTransitionTime: ago(age), ObservedGeneration: 3}
}

// child returns a live child owned by db (or, with owner "", by nothing).
func child(db *v1alpha1.Database, kind, apiVersion, name string, extra map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range extra {
		u.Object[k] = v
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(db.Namespace)
	u.SetName(name)
	u.SetGeneration(2)
	tr := true
	u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "dbctl.io/v1alpha1", Kind: "Database", Name: db.Name, UID: db.UID, Controller: &tr}})
	return u
}

// children are the Database's children, its pods ready and updated counted over
// the primary (first) and the replicas.
func children(db *v1alpha1.Database, ready, updated int64, pdb bool) phases.Live {
	sts := func(name string, replicas, ready, updated int64) *unstructured.Unstructured {
		return child(db, "StatefulSet", "apps/v1", name, map[string]any{
			"spec": map[string]any{"replicas": replicas},
			"status": map[string]any{"observedGeneration": int64(2), "replicas": replicas,
				"readyReplicas": ready, "currentReplicas": updated, "updatedReplicas": updated,
				"currentRevision": name + "-1", "updateRevision": name + "-1"},
		})
	}
	n := int64(db.ReplicaCount())
	objs := []*unstructured.Unstructured{
		child(db, "Secret", "v1", db.SecretName(), nil),
		child(db, "Service", "v1", db.HeadlessServiceName(), nil),
		child(db, "Service", "v1", db.ServiceName(), nil),
		child(db, "ConfigMap", "v1", db.ConfigMapName(), nil),
		sts(db.StatefulSetName(), 1, min(ready, 1), min(updated, 1)),
	}
	if n > 1 {
		objs = append(objs, child(db, "Secret", "v1", db.ReplicationSecretName(), nil),
			child(db, "Service", "v1", db.ReadOnlyServiceName(), nil),
			sts(db.ReplicaStatefulSetName(), n-1, max(ready-1, 0), max(updated-1, 0)))
	}
	if pdb {
		objs = append(objs, child(db, "PodDisruptionBudget", "policy/v1", db.PodDisruptionBudgetName(), nil))
	}
	live := phases.Live{}
	for _, o := range objs {
		live[phases.Ref{Kind: o.GetKind(), Name: o.GetName()}] = o
	}
	return live
}

func pod(name, role string, ready bool) corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"dbctl.io/role": role}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}}
}

func withoutSecret(db *v1alpha1.Database, live phases.Live) phases.Live {
	delete(live, phases.Ref{Kind: phases.KindSecret, Name: db.SecretName()})
	return live
}

func statusDB(phase v1alpha1.Phase) *v1alpha1.Database {
	db := database("orders", 3)
	db.Default()
	db.UID, db.Generation = "uid-1", 3
	db.Status = v1alpha1.DatabaseStatus{Phase: phase, ObservedGeneration: 3, Endpoint: "orders.shop.svc:5432"}
	return db
}

func TestStatusGolden(t *testing.T) {
	// Ready.
	ready := statusDB(v1alpha1.PhaseReady)
	ready.Status.Conditions = []metav1.Condition{
		cond("Verified", true, "Reconciled", "StatefulSet rolled out, 3/3 replicas ready", 2*time.Hour),
		cond("Ready", true, "Reconciled", "Database is ready at orders.shop.svc:5432", 2*time.Hour),
		cond("Provisioned", true, "Reconciled", "credentials Secret and Services applied", 50*time.Hour),
		cond("Configured", true, "Reconciled", "engine configuration applied", 50*time.Hour),
		cond("Deployed", true, "Reconciled", "StatefulSet applied", 50*time.Hour),
		cond("DependenciesAvailable", true, "NoDependencies", "no dependencies declared", 50*time.Hour),
	}

	// Verifying, 2/3 ready.
	verifying := statusDB(v1alpha1.PhaseVerifying)
	start := ago(2 * time.Minute)
	verifying.Status.VerifyStartTime = &start
	verifying.Status.Conditions = []metav1.Condition{
		cond("Ready", false, "WaitingForRollout", "Verifying: waiting for the StatefulSet rollout", 2*time.Minute),
		cond("Verified", false, "WaitingForRollout", "waiting for the StatefulSet rollout", 2*time.Minute),
	}

	// Failed, with its retry time.
	failed := statusDB(v1alpha1.PhaseFailed)
	failed.Spec.Replicas = new(int32)
	*failed.Spec.Replicas = 1
	lastFailure := ago(10 * time.Second)
	failed.Status.LastFailureTime, failed.Status.RetryCount = &lastFailure, 2
	failed.Status.Conditions = []metav1.Condition{
		cond("Ready", false, "VerificationTimeout", "verification did not finish within 5m0s (spec.verify.timeout): StatefulSet orders has 0/1 replicas ready", 10*time.Second),
	}

	// A dependency whose breaker is open, another closed with failures, one unknown.
	deps := statusDB(v1alpha1.PhaseVerifying)
	deps.Status.VerifyStartTime = &start
	deps.Spec.Dependencies = []v1alpha1.Dependency{
		{Name: "backup-store", URL: "https://backup:s3cr3t-token@backup.internal/healthz?key=abc"},
		{Name: "vault", TCP: "vault.internal:8200"},
		{Name: "metrics", URL: "http://metrics.internal/ready"},
	}
	deps.Status.Conditions = []metav1.Condition{
		cond("Ready", false, "ExternalSystemUnavailable", "dependency backup-store unavailable: circuit open", time.Minute),
		cond("DependenciesAvailable", false, "ExternalSystemUnavailable", "dependency backup-store unavailable: circuit open", time.Minute),
	}
	opened := now.Add(-30 * time.Second)
	breakers := map[string]*resilience.Record{
		"backup-store": {State: resilience.StateOpen, Failures: 5, OpenedAt: &opened, LastError: "GET https://backup.internal/healthz: connection refused"},
		"vault":        {State: resilience.StateClosed, Failures: 2, LastError: "dial tcp vault.internal:8200: i/o timeout"},
	}

	for _, tc := range []struct {
		name     string
		db       *v1alpha1.Database
		objs     phases.Live
		breakers map[string]*resilience.Record
		code     exitcode.Code
		pods     []corev1.Pod
	}{
		{"status-ready.txt", ready, children(ready, 3, 3, true), nil, 0, []corev1.Pod{
			pod("orders-replica-1", "replica", true), pod("orders-0", "primary", true), pod("orders-replica-0", "replica", true)}},
		{"status-verifying.txt", verifying, children(verifying, 2, 3, true), nil, 3, []corev1.Pod{
			pod("orders-0", "primary", true), pod("orders-replica-0", "replica", true), pod("orders-replica-1", "replica", false)}},
		{"status-failed.txt", failed, withoutSecret(failed, children(failed, 0, 1, true)), nil, 2, nil},
		{"status-breaker-open.txt", deps, children(deps, 3, 3, true), breakers, 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := render.NewStatus(render.StatusInput{Database: tc.db, Live: tc.objs, Pods: tc.pods, Breakers: tc.breakers, Now: now})
			if st.ExitCode != tc.code {
				t.Errorf("exit code %d, want %d", st.ExitCode, tc.code)
			}
			var b bytes.Buffer
			if err := render.WriteStatuses(&b, []render.Status{st}, render.NewStyle(false)); err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, tc.name, b.String())
			js, _ := json.Marshal(st)
			if strings.Contains(b.String()+string(js), "s3cr3t") || strings.Contains(b.String()+string(js), "key=abc") {
				t.Errorf("a dependency URL's credentials show:\n%s\n%s", b.String(), js)
			}
		})
	}
}
