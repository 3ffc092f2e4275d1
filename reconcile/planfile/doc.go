// Package planfile reads and writes saved plans: the file `dbctl plan --out FILE`
// writes and `dbctl reconcile --plan FILE` applies (docs/plan-format.md, "Saved
// plans"). A saved plan is the JSON plan plus a "saved" section: what every
// Database's plan was computed from, the preconditions reconcile checks before its
// first write. It holds no secret value: it is meant to be stored as a CI artifact.
package planfile
