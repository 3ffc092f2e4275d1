package phases

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// Owned extracts from a live object the fields that fieldManager owns through
// server-side apply (the fields of its Apply entry in managedFields), as an
// unstructured object: what dbctl last applied, minus anything another manager has
// since taken over. It is what client-go's Extract<Kind> returns, computed without a
// schema: the managed fields name every list item they own by its key (k:{…}),
// value (v:…) or index (i:…), so the live object can be walked with them alone.
// (Extract<Kind> parses client-go's embedded OpenAPI schema on first use: ~100 ms of
// CPU in every dbctl process, most of a no-op reconcile; see BENCHMARKS.md.)
func Owned(live *unstructured.Unstructured, fieldManager string) (*unstructured.Unstructured, error) {
	switch live.GetKind() {
	case KindSecret, KindService, KindConfigMap, KindStatefulSet, KindPodDisruptionBudget, KindPersistentVolumeClaim, KindCronJob:
	default:
		return nil, fmt.Errorf("no field extraction for kind %q", live.GetKind())
	}
	out := map[string]any{}
	for _, mf := range live.GetManagedFields() {
		if mf.Manager != fieldManager || mf.Operation != metav1.ManagedFieldsOperationApply || mf.Subresource != "" || mf.FieldsV1 == nil {
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(bytes.NewReader(mf.FieldsV1.Raw)); err != nil {
			return nil, fmt.Errorf("extracting the fields %s owns in %s %s: %w", fieldManager, live.GetKind(), live.GetName(), err)
		}
		if m, ok := extractOwned(live.Object, set.Leaves()).(map[string]any); ok {
			out = m
		}
		break
	}
	u := &unstructured.Unstructured{Object: out}
	u.SetAPIVersion(live.GetAPIVersion())
	u.SetKind(live.GetKind())
	u.SetName(live.GetName())
	u.SetNamespace(live.GetNamespace())
	return u, nil
}

// extractOwned returns the parts of v that set (leaves: a member is kept whole, a
// child is walked into) names; nil when it names none.
func extractOwned(v any, set *fieldpath.Set) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		set.Members.Iterate(func(pe fieldpath.PathElement) {
			if pe.FieldName != nil {
				if val, ok := x[*pe.FieldName]; ok {
					out[*pe.FieldName] = runtime.DeepCopyJSONValue(val)
				}
			}
		})
		set.Children.Iterate(func(pe fieldpath.PathElement) {
			if pe.FieldName == nil {
				return
			}
			val, ok := x[*pe.FieldName]
			if !ok {
				return
			}
			child, _ := set.Children.Get(pe)
			if sub := extractOwned(val, child); sub != nil {
				out[*pe.FieldName] = sub
			}
		})
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		var out []any
		for i, item := range x {
			var kept any
			set.Members.Iterate(func(pe fieldpath.PathElement) {
				if kept == nil && itemMatches(pe, i, item) {
					kept = runtime.DeepCopyJSONValue(item)
				}
			})
			if kept == nil {
				set.Children.Iterate(func(pe fieldpath.PathElement) {
					if kept == nil && itemMatches(pe, i, item) {
						child, _ := set.Children.Get(pe)
						kept = extractOwned(item, child)
					}
				})
			}
			if kept != nil {
				out = append(out, kept)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return nil
}

// itemMatches reports whether the list item at index i is the one pe names.
func itemMatches(pe fieldpath.PathElement, i int, item any) bool {
	switch {
	case pe.Key != nil:
		m, ok := item.(map[string]any)
		if !ok {
			return false
		}
		for _, f := range *pe.Key {
			v, ok := m[f.Name]
			if !ok || !value.Equals(value.NewValueInterface(v), f.Value) {
				return false
			}
		}
		return true
	case pe.Value != nil:
		return value.Equals(value.NewValueInterface(item), *pe.Value)
	case pe.Index != nil:
		return *pe.Index == i
	}
	return false
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
