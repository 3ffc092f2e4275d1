package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/reconcile"
)

// PlanOptions select what a text plan shows.
type PlanOptions struct {
	Style Style
	// NoDiff leaves out the unified diffs of updates (the field lines stay).
	NoDiff bool
	// Objects shows each create's whole object instead of its key fields.
	Objects bool
}

// Counts are the numbers of a plan's Plan line (children only: the Database's own
// change is shown above them, not counted).
type Counts struct {
	Add       int `json:"add"`
	Change    int `json:"change"`
	Delete    int `json:"delete"`
	Unchanged int `json:"unchanged"`
	// Conflicts counts the changes (already counted above) that another applier's
	// fields would stop reconcile at, without --force-conflicts.
	Conflicts int `json:"conflicts"`
	// Costs add up the changes' effects on the running pods.
	Costs reconcile.Costs `json:"costs"`
}

// CountsOf counts a plan's children.
func CountsOf(p *reconcile.Plan) Counts {
	var c Counts
	c.Add, c.Change, c.Delete, c.Unchanged = p.Counts()
	c.Conflicts = p.Conflicts()
	c.Costs = p.Costs()
	return c
}

// Plus adds two counts.
func (c Counts) Plus(d Counts) Counts {
	return Counts{c.Add + d.Add, c.Change + d.Change, c.Delete + d.Delete, c.Unchanged + d.Unchanged, c.Conflicts + d.Conflicts,
		c.Costs.Plus(d.Costs)}
}

// Summary is "<label>: N to add, N to change, N to delete, N unchanged.", the
// changes' effects on the pods before the period when there are any ("…, 5
// unchanged; rolls 3 pods.").
func (c Counts) Summary(label string) string {
	s := fmt.Sprintf("%s: %d to add, %d to change, %d to delete, %d unchanged", label, c.Add, c.Change, c.Delete, c.Unchanged)
	if costs := c.Costs.Text(); costs != "" {
		s += "; " + costs
	}
	return s + "."
}

// conflictLine explains a plan's conflicts; "" when there are none.
func (c Counts) conflictLine() string {
	switch c.Conflicts {
	case 0:
		return ""
	case 1:
		return "Conflicts: 1 object has fields another applier owns (marked !): reconcile stops there unless run with --force-conflicts."
	}
	return fmt.Sprintf("Conflicts: %d objects have fields another applier owns (marked !): reconcile stops there unless run with --force-conflicts.", c.Conflicts)
}

// WritePlans writes the text plans, one block per Database separated by a blank
// line, and with several a closing "Total: …" line.
func WritePlans(w io.Writer, plans []*reconcile.Plan, o PlanOptions) error {
	var b strings.Builder
	var total Counts
	for i, p := range plans {
		if i > 0 {
			b.WriteString("\n")
		}
		for _, l := range PlanLines(p, o) {
			b.WriteString(l + "\n")
		}
		total = total.Plus(CountsOf(p))
	}
	if len(plans) > 1 {
		b.WriteString("\n" + o.Style.Bold(total.Summary("Total")) + "\n")
		if l := total.conflictLine(); l != "" {
			b.WriteString(o.Style.Alert(l) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// PlanLines renders one Database's plan:
//
//	Database shop/orders (examples/postgres.yaml: document 1)
//	  phase: Ready → Updating → Verifying → Ready
//
//	  Deploying
//	    ~ StatefulSet shop/orders
//	        spec.replicas: 3 → 1
//	      --- StatefulSet shop/orders (live)
//	      …
//
//	  Plan: 0 to add, 1 to change, 0 to delete, 5 unchanged.
func PlanLines(p *reconcile.Plan, o PlanOptions) []string {
	s := o.Style
	head := "Database " + p.Namespace + "/" + p.Name
	if p.Source != "" {
		head += " (" + p.Source + ")"
	}
	lines := []string{s.Bold(head)}
	copts := ChangeOptions{Style: s, Objects: o.Objects}
	if db := p.Database; db.Action == reconcile.ActionCreate || db.Action == reconcile.ActionUpdate || db.Conflict != "" {
		if db.Kind == "" {
			db.Kind = v1alpha1.Kind
		}
		lines = append(lines, indent("  ", ChangeLines(db, copts))...)
	}
	lines = append(lines, "  phase: "+pathText(p, s))
	if p.Offline {
		lines = append(lines, "  note: offline: rendered against an empty cluster, without cluster access")
	}
	for _, n := range p.Notes {
		lines = append(lines, "  note: "+n)
	}
	if p.Refused != "" {
		lines = append(lines, "  "+s.Alert("refused: "+p.Refused))
	}
	copts.Diff = !o.NoDiff
	var phase v1alpha1.Phase = "-"
	for _, c := range p.Changes {
		if c.Phase != phase {
			phase = c.Phase
			lines = append(lines, "", "  "+s.Bold(string(phase)))
		}
		lines = append(lines, indent("    ", ChangeLines(c, copts))...)
	}
	counts := CountsOf(p)
	lines = append(lines, "", "  "+s.Bold(counts.Summary("Plan")))
	if l := counts.conflictLine(); l != "" {
		lines = append(lines, "  "+s.Alert(l))
	}
	return lines
}

// pathText is the phase path, "Ready → Updating → Verifying → Ready", or the one
// phase with "(no change)".
func pathText(p *reconcile.Plan, s Style) string {
	path := p.Path
	if len(path) == 0 {
		path = []v1alpha1.Phase{p.Phase}
	}
	parts := make([]string, len(path))
	for i, ph := range path {
		parts[i] = phaseText(ph, s)
	}
	if len(parts) == 1 {
		return parts[0] + " (no change)"
	}
	return strings.Join(parts, " → ")
}

func phaseText(p v1alpha1.Phase, s Style) string {
	switch p {
	case v1alpha1.PhaseReady:
		return s.Green(string(p))
	case v1alpha1.PhaseFailed:
		return s.Red(string(p))
	}
	return string(p)
}
