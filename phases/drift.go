package phases

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
)

// Owned extracts from a live object the fields that fieldManager owns through
// server-side apply (client-go's Extract<Kind>), as an unstructured object. It is
// what dbctl last applied, minus anything another manager has since taken over.
func Owned(live *unstructured.Unstructured, fieldManager string) (*unstructured.Unstructured, error) {
	var (
		ac  any
		err error
	)
	switch live.GetKind() {
	case KindSecret:
		o := &corev1.Secret{}
		if err = fromUnstructured(live, o); err == nil {
			ac, err = corev1ac.ExtractSecret(o, fieldManager)
		}
	case KindService:
		o := &corev1.Service{}
		if err = fromUnstructured(live, o); err == nil {
			ac, err = corev1ac.ExtractService(o, fieldManager)
		}
	case KindConfigMap:
		o := &corev1.ConfigMap{}
		if err = fromUnstructured(live, o); err == nil {
			ac, err = corev1ac.ExtractConfigMap(o, fieldManager)
		}
	case KindStatefulSet:
		o := &appsv1.StatefulSet{}
		if err = fromUnstructured(live, o); err == nil {
			ac, err = appsv1ac.ExtractStatefulSet(o, fieldManager)
		}
	case KindPodDisruptionBudget:
		o := &policyv1.PodDisruptionBudget{}
		if err = fromUnstructured(live, o); err == nil {
			ac, err = policyv1ac.ExtractPodDisruptionBudget(o, fieldManager)
		}
	default:
		return nil, fmt.Errorf("no field extraction for kind %q", live.GetKind())
	}
	if err != nil {
		return nil, fmt.Errorf("extracting the fields %s owns in %s %s: %w", fieldManager, live.GetKind(), live.GetName(), err)
	}
	return toUnstructured(ac)
}

// Drift compares what dbctl wants to apply with what it owns in the live object and
// returns the paths that differ, sorted ("spec.replicas",
// "spec.template.spec.containers[0].image"); nil when they are the same. A field
// another manager took over (kubectl scale, kubectl edit) is missing from the owned
// fields and so shows as drift.
func Drift(desired, live *unstructured.Unstructured, fieldManager string) ([]string, error) {
	owned, err := Owned(live, fieldManager)
	if err != nil {
		return nil, err
	}
	var paths []string
	diffValues("", desired.Object, owned.Object, &paths)
	out := paths[:0]
	for _, p := range paths {
		if !defaultedByServer(p, desired.Object) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// atomicWithDefaults are atomic lists: whoever applies them owns every field of
// their items, including the ones the API server defaults (a volumeClaimTemplate's
// volumeMode and status). Inside them only the fields dbctl sets are compared.
var atomicWithDefaults = []string{"spec.volumeClaimTemplates["}

// defaultedByServer reports a path inside an atomic list that dbctl does not set.
func defaultedByServer(path string, desired map[string]any) bool {
	for _, prefix := range atomicWithDefaults {
		if strings.HasPrefix(path, prefix) && !hasPath(desired, path) {
			return true
		}
	}
	return false
}

// hasPath reports whether path ("a.b[0].c") exists in obj.
func hasPath(obj map[string]any, path string) bool {
	var cur any = obj
	for _, seg := range strings.Split(path, ".") {
		key, idx := seg, -1
		if i := strings.IndexByte(seg, '['); i >= 0 {
			key = seg[:i]
			fmt.Sscanf(seg[i:], "[%d]", &idx)
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[key]; !ok {
			return false
		}
		if idx >= 0 {
			l, ok := cur.([]any)
			if !ok || idx >= len(l) {
				return false
			}
			cur = l[idx]
		}
	}
	return true
}

// DiffPaths returns the paths at which a and b differ (the same walk Drift uses).
func DiffPaths(a, b map[string]any) []string {
	var paths []string
	for _, d := range Diff(a, b) {
		paths = append(paths, d.Path)
	}
	return paths
}

// Difference is one place where two objects differ: the path and the value on each
// side (nil when absent).
type Difference struct {
	Path        string
	Left, Right any
}

// Diff returns where a and b differ, sorted by path. Keys with dots in them (an
// annotation such as dbctl.io/config-hash) make paths ambiguous to parse, which is
// why the values come with them.
func Diff(a, b map[string]any) []Difference {
	var out []Difference
	walkDiff("", a, b, func(path string, x, y any) { out = append(out, Difference{path, x, y}) })
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func diffValues(path string, a, b any, out *[]string) {
	walkDiff(path, a, b, func(p string, _, _ any) { *out = append(*out, p) })
}

func walkDiff(path string, a, b any, emit func(path string, a, b any)) {
	if normalize(a) == nil && normalize(b) == nil {
		return
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			emit(orRoot(path), a, b)
			return
		}
		for k, x := range av {
			walkDiff(join(path, k), x, bv[k], emit)
		}
		for k, y := range bv {
			if _, seen := av[k]; !seen {
				walkDiff(join(path, k), nil, y, emit)
			}
		}
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			emit(orRoot(path), a, b)
			return
		}
		for i := range av {
			walkDiff(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i], emit)
		}
	default:
		if !reflect.DeepEqual(normalize(a), normalize(b)) {
			emit(orRoot(path), a, b)
		}
	}
}

// normalize makes numbers comparable across int64 and float64 and treats empty
// values as absent.
func normalize(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case int32:
		return float64(x)
	case int:
		return float64(x)
	case string:
		if x == "" {
			return nil
		}
	case map[string]any:
		if len(x) == 0 {
			return nil
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
	}
	return v
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orRoot(p string) string {
	if p == "" {
		return "(object)"
	}
	return p
}

func fromUnstructured(u *unstructured.Unstructured, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)
}
