// Package render turns plans, applied changes and Database status into what people
// and machines read: text (optionally coloured) and JSON.
//
// Everything it writes is deterministic (sorted, no clock of its own) so that
// golden files are stable, and it never shows a Secret value: the changes it
// renders are already masked at the source (reconcile.NewChange) and it masks
// again whatever under a Secret's data or stringData is not a placeholder.
//
//   - plan.go: the text plan (`dbctl plan`): the Database's phase path, its own
//     change, the children grouped by phase, a unified diff of each update, and the
//     Plan/Total lines.
//   - change.go: one change as lines (the per-change block of plan and of
//     `dbctl reconcile`'s progress).
//   - fields.go: field lines of updates and the key fields of creates.
//   - diff.go: the unified diff of the cleaned YAML of an update.
//   - planjson.go: the JSON plan (docs/plan-format.md, docs/plan-format.schema.json).
//   - status.go: the status model of `dbctl status` and its text rendering.
//   - style.go: colours, enabled explicitly (never fatih/color's global state).
package render
