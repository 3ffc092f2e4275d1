package render

import (
	"fmt"
	"strings"

	"github.com/dbctl-io/dbctl/reconcile"
)

// PlanMarkdown renders plans as the Markdown of a CI step summary: a table of the
// counts per Database, then each Database's changes in a collapsed block. Secret
// values are masked as in the text plan.
func PlanMarkdown(plans []*reconcile.Plan, errs []PlanError) string {
	var b strings.Builder
	b.WriteString("### dbctl plan\n\n")
	b.WriteString("| Database | Phase | Add | Change | Delete | Unchanged | Conflicts |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|\n")
	var total Counts
	for _, p := range plans {
		c := CountsOf(p)
		total = total.Plus(c)
		fmt.Fprintf(&b, "| `%s/%s` | %s | %d | %d | %d | %d | %d |\n", p.Namespace, p.Name,
			mdCell(pathText(p, Style{})), c.Add, c.Change, c.Delete, c.Unchanged, c.Conflicts)
	}
	for _, e := range errs {
		fmt.Fprintf(&b, "| `%s/%s` | error: %s | | | | | |\n", e.Namespace, e.Name, mdCell(e.Message))
	}
	if len(plans) > 1 {
		fmt.Fprintf(&b, "| **Total** | | %d | %d | %d | %d | %d |\n", total.Add, total.Change, total.Delete, total.Unchanged, total.Conflicts)
	}
	b.WriteString("\n")
	for _, p := range plans {
		c := CountsOf(p)
		if c.Add+c.Change+c.Delete == 0 {
			continue
		}
		fmt.Fprintf(&b, "<details><summary><code>%s/%s</code>: %s</summary>\n\n```diff\n", p.Namespace, p.Name,
			strings.TrimSuffix(strings.TrimPrefix(c.Summary("Plan"), "Plan: "), "."))
		for _, l := range PlanLines(p, PlanOptions{NoDiff: true}) {
			b.WriteString(diffMarker(l) + "\n")
		}
		b.WriteString("```\n\n</details>\n\n")
	}
	return b.String()
}

// ResultsMarkdown renders reconcile results as the Markdown of a CI step summary:
// the outcome of each Database, then its conditions.
func ResultsMarkdown(results []*reconcile.Result) string {
	var b strings.Builder
	b.WriteString("### dbctl reconcile\n\n")
	b.WriteString("| Database | Result | Phase | Transitions | Message |\n|---|---|---|---|---|\n")
	for _, r := range results {
		var tr []string
		for _, t := range r.Transitions {
			tr = append(tr, t.String())
		}
		fmt.Fprintf(&b, "| `%s/%s` | %s %s | %s | %s | %s |\n", r.Namespace, r.Name, outcomeIcon(r.Outcome), r.Outcome,
			r.Phase, mdCell(strings.Join(tr, ", ")), mdCell(r.Message))
	}
	b.WriteString("\n")
	for _, r := range results {
		if len(r.Conditions) == 0 {
			continue
		}
		fmt.Fprintf(&b, "<details><summary><code>%s/%s</code> conditions</summary>\n\n", r.Namespace, r.Name)
		b.WriteString("| Type | Status | Reason | Message |\n|---|---|---|---|\n")
		for _, c := range r.Conditions {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Type, c.Status, c.Reason, mdCell(c.Message))
		}
		b.WriteString("\n</details>\n\n")
	}
	return b.String()
}

func outcomeIcon(o reconcile.Outcome) string {
	switch o {
	case reconcile.OutcomeReady:
		return "✅"
	case reconcile.OutcomeNotReady:
		return "⏳"
	default:
		return "❌"
	}
}

// mdCell makes text safe in a table cell: one line, pipes escaped.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// diffMarker moves a plan line's action symbol to the first column, so that a
// ```diff block colours creates green and deletes red.
func diffMarker(line string) string {
	t := strings.TrimLeft(line, " ")
	if t == "" {
		return line
	}
	switch t[0] {
	case '+', '-', '~', '!':
		sym := t[0]
		if sym == '~' || sym == '!' {
			sym = '!'
		}
		return string(sym) + line[1:]
	}
	return " " + line
}
