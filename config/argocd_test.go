package config

import (
	"os"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// health is what Argo CD makes of the table a health script returns.
type health struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// runHealthLua runs script the way Argo CD runs a resource customization's health
// script: the standard libraries off except base and table, the object as the
// global obj (converted from its unstructured form: maps and lists to tables,
// integers and floats to numbers), the returned table read as {status, message}.
func runHealthLua(t *testing.T, script string, obj map[string]any) health {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for name, open := range map[string]lua.LGFunction{lua.BaseLibName: lua.OpenBase, lua.TabLibName: lua.OpenTable} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(open), Protect: true}, lua.LString(name)); err != nil {
			t.Fatal(err)
		}
	}
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("the health script fails: %v", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the health script returns a %s, not a table", L.Get(-1).Type())
	}
	h := health{Status: lua.LVAsString(ret.RawGetString("status")), Message: lua.LVAsString(ret.RawGetString("message"))}
	switch h.Status {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
	default:
		t.Fatalf("status %q is not one Argo CD knows", h.Status)
	}
	return h
}

// toLua converts an unstructured value to Lua, as Argo CD does.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetString(k, toLua(L, item))
		}
		return t
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(L, item))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	}
	return lua.LNil
}

// sample is a Database as dbctl leaves it: generation 3, a phase, the Ready
// condition, observedGeneration.
func sample(phase v1alpha1.Phase, ready metav1.ConditionStatus, msg string, observed int64) *v1alpha1.Database {
	db := &v1alpha1.Database{TypeMeta: metav1.TypeMeta{APIVersion: "dbctl.io/v1alpha1", Kind: "Database"},
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop", Generation: 3}}
	db.Status.Phase = phase
	db.Status.ObservedGeneration = observed
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if ready != "" {
		db.SetCondition(v1alpha1.ConditionReady, ready, v1alpha1.ReasonProgressing, msg, now)
		db.SetCondition(v1alpha1.ConditionDeployed, metav1.ConditionTrue, v1alpha1.ReasonReconciled, "not the Ready one", now)
	}
	return db
}

func unstructuredOf(t *testing.T, db *v1alpha1.Database) map[string]any {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(db)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestArgoCDHealth(t *testing.T) {
	script, err := os.ReadFile("argocd/health.lua")
	if err != nil {
		t.Fatal(err)
	}
	const defaultMsg = "Waiting for dbctl to reconcile the Database"
	cases := []struct {
		name        string
		db          *v1alpha1.Database
		status, msg string
	}{
		{"no status", sample("", "", "", 0), "Progressing", defaultMsg},
		{"Ready", sample(v1alpha1.PhaseReady, metav1.ConditionTrue, "Database is ready", 3), "Healthy", "Database is ready"},
		{"Ready, spec changed since", sample(v1alpha1.PhaseReady, metav1.ConditionTrue, "Database is ready", 2), "Progressing", "Database is ready"},
		{"Ready, never observed", sample(v1alpha1.PhaseReady, metav1.ConditionTrue, "Database is ready", 0), "Progressing", "Database is ready"},
		{"Ready phase, condition False", sample(v1alpha1.PhaseReady, metav1.ConditionFalse, "drifted", 3), "Progressing", "drifted"},
		{"Ready phase, no condition", sample(v1alpha1.PhaseReady, "", "", 3), "Progressing", defaultMsg},
		{"Failed", sample(v1alpha1.PhaseFailed, metav1.ConditionFalse, "verification did not finish within 10m0s", 3), "Degraded", "verification did not finish within 10m0s"},
		{"Failed, older generation", sample(v1alpha1.PhaseFailed, metav1.ConditionFalse, "the API server rejected a child", 2), "Degraded", "the API server rejected a child"},
		{"Failed, no condition", sample(v1alpha1.PhaseFailed, "", "", 3), "Degraded", defaultMsg},
		{"Updating", sample(v1alpha1.PhaseUpdating, metav1.ConditionFalse, "the spec changed", 3), "Progressing", "the spec changed"},
	}
	for _, p := range []v1alpha1.Phase{v1alpha1.PhasePending, v1alpha1.PhaseProvisioning, v1alpha1.PhaseConfiguring,
		v1alpha1.PhaseDeploying, v1alpha1.PhaseVerifying} {
		msg := "StatefulSet orders has 0/1 replicas ready"
		cases = append(cases, struct {
			name        string
			db          *v1alpha1.Database
			status, msg string
		}{string(p), sample(p, metav1.ConditionFalse, msg, 3), "Progressing", msg})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := runHealthLua(t, string(script), unstructuredOf(t, tc.db))
			if got != (health{tc.status, tc.msg}) {
				t.Fatalf("health %+v, want {%s %s}", got, tc.status, tc.msg)
			}
			// Healthy exactly when dbctl itself says Ready (status exit 0).
			if (got.Status == "Healthy") != tc.db.IsReady() {
				t.Fatalf("Healthy = %v, Database.IsReady = %v", got.Status == "Healthy", tc.db.IsReady())
			}
			// kstatus (Flux's health checks) agrees on every status dbctl writes (the
			// Ready condition and observedGeneration, always together): Current exactly
			// when Healthy. Before dbctl has written a status, kstatus's generic rules
			// say Current (README, GitOps tools).
			res, err := status.Compute(&unstructured.Unstructured{Object: unstructuredOf(t, tc.db)})
			if err != nil {
				t.Fatal(err)
			}
			written := tc.db.Condition(v1alpha1.ConditionReady) != nil && tc.db.Status.ObservedGeneration > 0
			if written && (res.Status == status.CurrentStatus) != (got.Status == "Healthy") {
				t.Fatalf("kstatus says %s (%s), Argo CD %s", res.Status, res.Message, got.Status)
			}
			if tc.name == "no status" && res.Status != status.CurrentStatus {
				t.Fatalf("kstatus says %s of a Database without a status; the README says Current", res.Status)
			}
		})
	}
}

// TestArgoCDSnippets: the argocd-cm patch and the README's snippet hold the script
// exactly, under the key Argo CD reads.
func TestArgoCDSnippets(t *testing.T) {
	script, err := os.ReadFile("argocd/health.lua")
	if err != nil {
		t.Fatal(err)
	}
	const key = "resource.customizations.health.dbctl.io_Database"
	patch, err := os.ReadFile("argocd/argocd-cm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		APIVersion, Kind string
		Metadata         struct{ Name, Namespace string }
		Data             map[string]string
	}
	if err := yaml.UnmarshalStrict(patch, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-cm" || cm.Data[key] != string(script) {
		t.Fatalf("argocd/argocd-cm.yaml is not argocd-cm with %s = argocd/health.lua:\n%s", key, patch)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var indented strings.Builder
	indented.WriteString("  " + key + ": |\n")
	for _, l := range strings.SplitAfter(string(script), "\n") {
		if strings.TrimSpace(l) == "" {
			indented.WriteString(l)
			continue
		}
		indented.WriteString("    " + l)
	}
	if !strings.Contains(string(readme), indented.String()) {
		t.Fatalf("README.md has no snippet with argocd/health.lua as it is; it should hold:\n%s", indented.String())
	}
}
