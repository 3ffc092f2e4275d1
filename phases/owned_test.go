package phases

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
)

// ownedBySchema is client-go's Extract<Kind>, the schema-based reference Owned must
// agree with.
func ownedBySchema(t *testing.T, live *unstructured.Unstructured, fieldManager string) *unstructured.Unstructured {
	t.Helper()
	var (
		ac  any
		err error
	)
	switch live.GetKind() {
	case KindSecret:
		ac, err = extract(live, fieldManager, corev1ac.ExtractSecret)
	case KindService:
		ac, err = extract(live, fieldManager, corev1ac.ExtractService)
	case KindConfigMap:
		ac, err = extract(live, fieldManager, corev1ac.ExtractConfigMap)
	case KindStatefulSet:
		ac, err = extract(live, fieldManager, appsv1ac.ExtractStatefulSet)
	case KindPodDisruptionBudget:
		ac, err = extract(live, fieldManager, policyv1ac.ExtractPodDisruptionBudget)
	}
	if err != nil {
		t.Fatal(err)
	}
	u, err := toUnstructured(ac)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// extract converts live to its typed object and runs client-go's Extract<Kind> on it.
func extract[T any, AC any](live *unstructured.Unstructured, fieldManager string, fn func(*T, string) (AC, error)) (any, error) {
	o := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, o); err != nil {
		return nil, err
	}
	return fn(o, fieldManager)
}

// TestOwnedAgreesWithExtract: live objects written by dbctl to a real API server,
// clean and after hand edits (kubectl scale, label, annotate, patch) and another
// applier's server-side apply, for every field manager that wrote them.
func TestOwnedAgreesWithExtract(t *testing.T) {
	files, err := filepath.Glob("testdata/live/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/live/*.json: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		live := &unstructured.Unstructured{}
		if err := json.Unmarshal(b, &live.Object); err != nil {
			t.Fatal(err)
		}
		managers := map[string]bool{"dbctl": true, "nobody": true}
		for _, mf := range live.GetManagedFields() {
			managers[mf.Manager] = true
		}
		for m := range managers {
			got, err := Owned(live, m)
			if err != nil {
				t.Fatalf("%s, %s: %v", f, m, err)
			}
			want := ownedBySchema(t, live, m)
			if d := Diff(want.Object, got.Object); len(d) > 0 {
				t.Errorf("%s, manager %s: Owned differs from Extract at %v", filepath.Base(f), m, d)
			}
			if !reflect.DeepEqual(normalizeDeep(want.Object), normalizeDeep(got.Object)) {
				wb, _ := json.Marshal(want.Object)
				gb, _ := json.Marshal(got.Object)
				t.Logf("%s, manager %s: not identical (same after normalisation)\nwant %s\ngot  %s", filepath.Base(f), m, wb, gb)
			}
		}
	}
}

// normalizeDeep drops empty values and makes numbers float64, as Drift compares.
func normalizeDeep(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if n := normalizeDeep(e); n != nil {
				out[k] = n
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(x) == 0 {
			return nil
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeDeep(e)
		}
		return out
	}
	return normalize(v)
}

// BenchmarkDriftFirstUse: the cost of the first Drift in a process, which is what a
// dbctl run pays (go test -bench DriftFirstUse -benchtime 1x -count 5).
func BenchmarkOwned(b *testing.B) {
	raw, err := os.ReadFile("testdata/live/clean-statefulset-noop.json")
	if err != nil {
		b.Fatal(err)
	}
	live := &unstructured.Unstructured{}
	if err := json.Unmarshal(raw, &live.Object); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Owned(live, "dbctl"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOwnedBySchema(b *testing.B) {
	raw, err := os.ReadFile("testdata/live/clean-statefulset-noop.json")
	if err != nil {
		b.Fatal(err)
	}
	live := &unstructured.Unstructured{}
	if err := json.Unmarshal(raw, &live.Object); err != nil {
		b.Fatal(err)
	}
	t := &testing.T{}
	for b.Loop() {
		ownedBySchema(t, live, "dbctl")
	}
}
