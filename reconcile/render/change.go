package render

import (
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/reconcile"
)

// ChangeOptions select what a change block shows.
type ChangeOptions struct {
	Style Style
	// Diff adds the unified diff of the cleaned YAML to an update.
	Diff bool
	// Objects shows a create's whole object (cleaned YAML, Secret values masked)
	// instead of its key fields.
	Objects bool
	// NoFields leaves out the field lines and key fields: one line per change.
	NoFields bool
	// ToLabel names the right side of the diff: "planned" (the default) or "applied".
	ToLabel string
}

// Indentation of a change block, relative to the symbol's column.
const (
	fieldIndent = "    "
	diffIndent  = "  "
)

// ChangeLines renders one change: a line with its symbol (+ create, ~ update,
// - delete, = unchanged, ! a conflict with another applier) and ID, then for a
// create its key fields (or its object), for an update its changed fields
// ("path: old → new") and, with Diff, the unified diff; for a conflict, what
// reconcile would do about it. Lines carry no trailing newline and no indentation
// of their own.
func ChangeLines(c reconcile.Change, o ChangeOptions) []string {
	s := o.Style
	head := c.Action.Symbol() + " " + c.ID()
	if cost := reconcile.CostText(c.Cost); cost != "" {
		head += "  (" + cost + ")"
	}
	switch {
	case c.Conflict != "":
		head = s.Alert("! " + c.ID() + ": conflict with another applier")
	case c.Action == reconcile.ActionCreate:
		head = s.Green(head)
	case c.Action == reconcile.ActionUpdate:
		head = s.Yellow(head)
	case c.Action == reconcile.ActionDelete:
		head = s.Red(head)
	default:
		head = s.Faint(head)
	}
	lines := []string{head}
	if c.Conflict != "" {
		lines = append(lines,
			fieldIndent+s.Alert("owned by another applier: "+c.Conflict),
			fieldIndent+"reconcile stops here: remove these fields from that tool's manifests, or rerun with --force-conflicts to take them")
	}
	if o.NoFields {
		return lines
	}
	switch c.Action {
	case reconcile.ActionCreate:
		if o.Objects {
			_, after := displayObjects(c)
			lines = append(lines, indent(fieldIndent, yamlLines(after))...)
		} else {
			lines = append(lines, indent(fieldIndent, keyFieldLines(c))...)
		}
	case reconcile.ActionUpdate:
		for _, f := range c.Fields {
			lines = append(lines, fieldIndent+fieldText(c.Kind, f))
		}
		if o.Diff {
			to := o.ToLabel
			if to == "" {
				to = "planned"
			}
			lines = append(lines, indent(diffIndent, diffLines(c, to, s))...)
		}
	}
	return lines
}

func indent(prefix string, lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if l == "" {
			out = append(out, "")
			continue
		}
		out = append(out, prefix+l)
	}
	return out
}

// yamlLines renders an object as YAML lines (keys sorted).
func yamlLines(obj any) []string {
	if obj == nil {
		return nil
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		return []string{"(cannot render: " + err.Error() + ")"}
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
