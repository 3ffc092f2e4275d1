package reconcile

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
)

// Action is what happens to an object.
type Action string

// The actions, with their plan symbols.
const (
	ActionCreate    Action = "create"    // +
	ActionUpdate    Action = "update"    // ~
	ActionDelete    Action = "delete"    // -
	ActionUnchanged Action = "unchanged" // =
)

// Symbol is the plan's one-character symbol of the action.
func (a Action) Symbol() string {
	switch a {
	case ActionCreate:
		return "+"
	case ActionUpdate:
		return "~"
	case ActionDelete:
		return "-"
	default:
		return "="
	}
}

// Placeholders shown instead of Secret values. No length or hash of a value is ever shown.
const (
	SensitiveValue   = "(sensitive value)"
	SensitiveChanged = "(sensitive value changed)"
	GeneratedAtApply = "(generated at apply)"
)

// FieldChange is one changed field of an update.
type FieldChange struct {
	Path string `json:"path"`
	// Old and New are the values rendered as compact YAML/JSON scalars; "" when absent.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	// Sensitive is true for Secret data: Old and New are placeholders.
	Sensitive bool `json:"sensitive,omitempty"`
}

// Change is what happens (or would happen) to one child.
type Change struct {
	Action    Action
	Phase     v1alpha1.Phase
	Kind      string
	Namespace string
	Name      string
	// Fields lists the changed fields of an update, sorted by path.
	Fields []FieldChange
	// Before and After are the live and the resulting object, cleaned of noise
	// (managedFields, resourceVersion, uid, timestamps, status) and with every
	// Secret value replaced by a placeholder. Before is nil for a create, After for
	// a delete.
	Before, After *unstructured.Unstructured
	// Conflict is set in a plan when applying the child would conflict with another
	// applier; reconcile would stop there (without --force-conflicts).
	Conflict string
	// Cost is what the change does to the running pods, most significant first;
	// empty when nothing (set in plans).
	Cost []Effect
}

// ID is "Kind namespace/name".
func (c Change) ID() string { return fmt.Sprintf("%s %s/%s", c.Kind, c.Namespace, c.Name) }

// NewChange compares before (live; nil when absent) with after (the result of the
// apply or the dry-run; nil for a delete) and returns the change, cleaned and masked.
// generated marks Secret keys whose value dbctl generates at apply time.
func NewChange(phase v1alpha1.Phase, kind string, before, after *unstructured.Unstructured, generated ...string) Change {
	ref := after
	if ref == nil {
		ref = before
	}
	c := Change{Phase: phase, Kind: kind, Namespace: ref.GetNamespace(), Name: ref.GetName()}
	b, a := Clean(before), Clean(after)
	switch {
	case before == nil && after == nil:
		c.Action = ActionUnchanged
	case before == nil:
		c.Action = ActionCreate
	case after == nil:
		c.Action = ActionDelete
	default:
		for _, d := range phases.Diff(b.Object, a.Object) {
			c.Fields = append(c.Fields, fieldChange(kind, d))
		}
		c.Action = ActionUpdate
		if len(c.Fields) == 0 {
			c.Action = ActionUnchanged
		}
	}
	if kind == phases.KindSecret {
		maskSecret(b, "", generated)
		maskSecret(a, "", generated)
		if before == nil {
			maskSecret(a, GeneratedAtApply, generated)
		}
	}
	c.Before, c.After = b, a
	return c
}

// noisyMetadata are metadata fields the server sets; they are never part of a change.
var noisyMetadata = []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp",
	"deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"}

// Clean returns a deep copy of obj without server-set noise: managedFields,
// resourceVersion, generation, uid, timestamps and status.
func Clean(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if obj == nil {
		return nil
	}
	c := obj.DeepCopy()
	for _, f := range noisyMetadata {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	delete(c.Object, "status")
	if ann := c.GetAnnotations(); ann != nil {
		delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
		if len(ann) == 0 {
			unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
		} else {
			c.SetAnnotations(ann)
		}
	}
	// A template's creationTimestamp: null is noise too.
	unstructured.RemoveNestedField(c.Object, "spec", "template", "metadata", "creationTimestamp")
	return c
}

func fieldChange(kind string, d phases.Difference) FieldChange {
	fc := FieldChange{Path: d.Path}
	if kind == phases.KindSecret && isSecretData(d.Path) {
		fc.Sensitive = true
		switch {
		case d.Left == nil:
			fc.New = SensitiveValue
		case d.Right == nil:
			fc.Old = SensitiveValue
		default:
			fc.Old, fc.New = SensitiveChanged, SensitiveChanged
		}
		return fc
	}
	fc.Old, fc.New = scalar(d.Left), scalar(d.Right)
	return fc
}

// isSecretData reports whether a path of a Secret holds data (data, data.key,
// stringData…): anything that may carry a value.
func isSecretData(path string) bool {
	for _, root := range []string{"data", "stringData"} {
		if path == root || strings.HasPrefix(path, root+".") || strings.HasPrefix(path, root+"[") {
			return true
		}
	}
	return false
}

// maskSecret replaces every value under data and stringData with a placeholder:
// placeholder for the generated keys when given, SensitiveValue otherwise.
func maskSecret(obj *unstructured.Unstructured, placeholder string, generated []string) {
	if obj == nil {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		m, ok := obj.Object[field].(map[string]any)
		if !ok {
			continue
		}
		for k := range m {
			m[k] = SensitiveValue
			if placeholder != "" && contains(generated, k) {
				m[k] = placeholder
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scalar renders a value on one line: strings as they are, anything else as
// compact JSON-style YAML; "" for nil.
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case map[string]any, []any:
		b, err := yaml.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		s := strings.TrimSpace(string(b))
		if strings.Contains(s, "\n") {
			return FlowValue(x)
		}
		return s
	default:
		return fmt.Sprint(x)
	}
}

// FlowValue renders a value on one line in YAML flow style, map keys sorted:
// {a: 1, b: [x, y]}; nil is null.
func FlowValue(v any) string {
	switch x := v.(type) {
	case map[string]any:
		parts := make([]string, 0, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			parts = append(parts, k+": "+FlowValue(x[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, FlowValue(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case nil:
		return "null"
	default:
		return fmt.Sprint(x)
	}
}

// KindPersistentVolumeClaim is the kind of a data volume a growth expands.
const KindPersistentVolumeClaim = phases.KindPersistentVolumeClaim

// volumeChange is a PVC growth: its requested storage from g.From to g.To.
func volumeChange(namespace, name string, g *phases.Growth) Change {
	return Change{Action: ActionUpdate, Phase: v1alpha1.PhaseDeploying, Kind: KindPersistentVolumeClaim, Namespace: namespace, Name: name,
		Fields: []FieldChange{{Path: "spec.resources.requests.storage", Old: g.From.String(), New: g.To.String()}}}
}
