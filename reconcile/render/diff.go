package render

import (
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile"
)

// diffContext is the number of unchanged lines around each hunk.
const diffContext = 3

// displayObjects returns copies of the change's Before and After as they are shown:
// for a Secret, every data and stringData value is a placeholder (whatever slipped
// through is masked), and a changed key shows (sensitive value changed) on the
// right side, so that the diff shows which keys change and never how.
func displayObjects(c reconcile.Change) (before, after *unstructured.Unstructured) {
	if c.Before != nil {
		before = c.Before.DeepCopy()
	}
	if c.After != nil {
		after = c.After.DeepCopy()
	}
	if c.Kind != phases.KindSecret {
		return before, after
	}
	for _, obj := range []*unstructured.Unstructured{before, after} {
		if obj == nil {
			continue
		}
		for _, root := range []string{"data", "stringData"} {
			switch m := obj.Object[root].(type) {
			case map[string]any:
				for k, v := range m {
					if s, ok := v.(string); !ok || !placeholders[s] {
						m[k] = reconcile.SensitiveValue
					}
				}
			case nil:
			default:
				obj.Object[root] = reconcile.SensitiveValue
			}
		}
	}
	if after != nil {
		for _, f := range c.Fields {
			f = sensitive(c.Kind, f)
			if !f.Sensitive || f.Old == "" || f.New == "" {
				continue
			}
			root, key, ok := strings.Cut(f.Path, ".")
			if m, isMap := after.Object[root].(map[string]any); ok && isMap {
				if _, has := m[key]; has {
					m[key] = reconcile.SensitiveChanged
				}
			}
		}
	}
	return before, after
}

// diffLines is the unified diff (3 lines of context) of the cleaned YAML of an
// update, with "--- ID (live)" and "+++ ID (to)" headers; multi-line strings (a
// config file) are YAML block scalars, so they diff line by line.
func diffLines(c reconcile.Change, to string, s Style) []string {
	before, after := displayObjects(c)
	if before == nil || after == nil {
		return nil
	}
	a, b := yamlLines(before.Object), yamlLines(after.Object)
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        withNewlines(a),
		B:        withNewlines(b),
		FromFile: c.ID() + " (live)",
		ToFile:   c.ID() + " (" + to + ")",
		Context:  diffContext,
	})
	if err != nil || text == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "---"), strings.HasPrefix(l, "+++"):
			lines[i] = s.Bold(l)
		case strings.HasPrefix(l, "@@"):
			lines[i] = s.Cyan(l)
		case strings.HasPrefix(l, "+"):
			lines[i] = s.Green(l)
		case strings.HasPrefix(l, "-"):
			lines[i] = s.Red(l)
		}
	}
	return lines
}

func withNewlines(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l + "\n"
	}
	return out
}
