package render

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile"
)

// maxInline is the longest value shown on a field line; longer (or multi-line)
// values are left to the diff.
const maxInline = 100

const absent = "(absent)"

// placeholders are the values a masked Secret may show.
var placeholders = map[string]bool{
	reconcile.SensitiveValue:   true,
	reconcile.SensitiveChanged: true,
	reconcile.GeneratedAtApply: true,
}

// isSecretData reports whether path of an object of kind holds Secret data.
func isSecretData(kind, path string) bool {
	if kind != phases.KindSecret {
		return false
	}
	for _, root := range []string{"data", "stringData"} {
		if path == root || strings.HasPrefix(path, root+".") || strings.HasPrefix(path, root+"[") {
			return true
		}
	}
	return false
}

// sensitive returns the field with Secret values replaced by placeholders, whatever
// the change says: a last check, since NewChange masks at the source.
func sensitive(kind string, f reconcile.FieldChange) reconcile.FieldChange {
	if !f.Sensitive && !isSecretData(kind, f.Path) {
		return f
	}
	f.Sensitive = true
	mask := func(v string) string {
		if v == "" || placeholders[v] {
			return v
		}
		return reconcile.SensitiveChanged
	}
	f.Old, f.New = mask(f.Old), mask(f.New)
	if f.Old != "" && f.New != "" {
		f.Old, f.New = reconcile.SensitiveChanged, reconcile.SensitiveChanged
	}
	return f
}

// fieldText renders one changed field: "path: old → new", "(absent)" for a side
// without the field, one placeholder for a changed Secret value, and
// "(changed, see diff)" for values too long or on several lines.
func fieldText(kind string, f reconcile.FieldChange) string {
	f = sensitive(kind, f)
	if f.Sensitive && f.Old == f.New {
		return f.Path + ": " + f.Old
	}
	if long(f.Old) || long(f.New) {
		switch {
		case f.Old == "":
			return f.Path + ": (added, see diff)"
		case f.New == "":
			return f.Path + ": (removed, see diff)"
		}
		return f.Path + ": (changed, see diff)"
	}
	return f.Path + ": " + orAbsent(f.Old) + " → " + orAbsent(f.New)
}

func long(v string) bool { return strings.Contains(v, "\n") || len([]rune(v)) > maxInline }

func orAbsent(v string) string {
	if v == "" {
		return absent
	}
	return v
}

// keyField is a field shown for a create: a display path and where to find it.
type keyField struct {
	path string
	at   []any // map keys (string) and list indexes (int)
}

// keyFields are the fields of each kind a reviewer needs to see on a create; the
// rest is dbctl's fixed template and the API server's defaults (--show-objects
// prints everything).
var keyFields = map[string][]keyField{
	v1alpha1.Kind: {
		{"spec.engine", []any{"spec", "engine"}},
		{"spec.version", []any{"spec", "version"}},
		{"spec.image", []any{"spec", "image"}},
		{"spec.replicas", []any{"spec", "replicas"}},
		{"spec.storage.size", []any{"spec", "storage", "size"}},
		{"spec.storage.storageClassName", []any{"spec", "storage", "storageClassName"}},
		{"spec.credentials.username", []any{"spec", "credentials", "username"}},
		{"spec.parameters", []any{"spec", "parameters"}},
		{"spec.resources", []any{"spec", "resources"}},
		{"spec.backup", []any{"spec", "backup"}},
		{"spec.bootstrap", []any{"spec", "bootstrap"}},
		{"spec.deletionPolicy", []any{"spec", "deletionPolicy"}},
	},
	phases.KindSecret: {
		{"type", []any{"type"}},
	},
	phases.KindService: {
		{"spec.clusterIP", []any{"spec", "clusterIP"}}, // shown only when None (headless)
		{"spec.type", []any{"spec", "type"}},
		{"spec.publishNotReadyAddresses", []any{"spec", "publishNotReadyAddresses"}},
		{"spec.ports", []any{"spec", "ports"}},
	},
	phases.KindStatefulSet: {
		{"spec.replicas", []any{"spec", "replicas"}},
		{"spec.serviceName", []any{"spec", "serviceName"}},
		{"spec.template.spec.containers[0].image", []any{"spec", "template", "spec", "containers", 0, "image"}},
		{"spec.template.spec.containers[0].resources", []any{"spec", "template", "spec", "containers", 0, "resources"}},
		{"spec.template.metadata.annotations." + phases.AnnotationConfigHash, []any{"spec", "template", "metadata", "annotations", phases.AnnotationConfigHash}},
		{"spec.volumeClaimTemplates[0].spec.resources.requests.storage", []any{"spec", "volumeClaimTemplates", 0, "spec", "resources", "requests", "storage"}},
		{"spec.volumeClaimTemplates[0].spec.storageClassName", []any{"spec", "volumeClaimTemplates", 0, "spec", "storageClassName"}},
	},
	phases.KindPodDisruptionBudget: {
		{"spec.maxUnavailable", []any{"spec", "maxUnavailable"}},
	},
	phases.KindPersistentVolumeClaim: {
		{"spec.resources.requests.storage", []any{"spec", "resources", "requests", "storage"}},
		{"spec.storageClassName", []any{"spec", "storageClassName"}},
	},
	phases.KindCronJob: {
		{"spec.schedule", []any{"spec", "schedule"}},
		{"spec.concurrencyPolicy", []any{"spec", "concurrencyPolicy"}},
		{"spec.jobTemplate.spec.template.spec.containers[0].image", []any{"spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "image"}},
	},
}

// keyFieldLines renders the key fields of a create, "path: value". A Secret shows
// each key with its placeholder, a ConfigMap each key with its size in lines.
func keyFieldLines(c reconcile.Change) []string {
	_, after := displayObjects(c)
	if after == nil {
		return nil
	}
	var lines []string
	for _, kf := range keyFields[c.Kind] {
		v := dig(after.Object, kf.at)
		if empty(v) {
			continue
		}
		if kf.path == "spec.clusterIP" && v != "None" {
			continue // an allocated address is not the spec's, and changes with every dry run
		}
		lines = append(lines, kf.path+": "+inline(v))
	}
	switch c.Kind {
	case phases.KindSecret:
		for _, root := range []string{"data", "stringData"} {
			m, _ := after.Object[root].(map[string]any)
			for _, k := range slices.Sorted(maps.Keys(m)) {
				v, _ := m[k].(string)
				if !placeholders[v] {
					v = reconcile.SensitiveValue
				}
				lines = append(lines, root+"."+k+": "+v)
			}
		}
	case phases.KindConfigMap:
		m, _ := after.Object["data"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v, _ := m[k].(string)
			n := strings.Count(strings.TrimSuffix(v, "\n"), "\n") + 1
			lines = append(lines, fmt.Sprintf("data.%s: (%d lines; --show-objects prints them)", k, n))
		}
	}
	return lines
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// inline renders a value on one line (maps and lists in flow style).
func inline(v any) string {
	s := reconcile.FlowValue(v)
	if long(s) {
		return "(" + fmt.Sprint(len(strings.Split(s, "\n"))) + " lines; --show-objects prints them)"
	}
	return s
}

// dig follows map keys and list indexes; nil when a step is missing.
func dig(obj any, at []any) any {
	cur := obj
	for _, step := range at {
		switch k := step.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}
