// Package exitcode holds dbctl's exit codes (SPEC §4): one type, what each code
// means for each command, and the order of severity that combines the codes of
// several Databases into the code of the run. The commands, the engine's outcomes
// and the status document use it; the README's exit code table is generated from
// Table (make docs) and checked fresh by make verify.
package exitcode

import (
	"fmt"
	"strings"
)

// Code is a process exit code.
type Code int

// The exit codes.
const (
	// OK: success; for reconcile and status, every Database is Ready.
	OK Code = 0
	// Error: bad input, a cluster error that is not retryable (forbidden, a
	// conflict with another applier, the CRD missing), anything unexpected.
	Error Code = 1
	// Failed: a Database is Failed and needs a person.
	Failed Code = 2
	// Changes: plan --detailed-exitcode found changes. The same number as Failed;
	// plan never reports Failed.
	Changes Code = 2
	// Retryable: a retryable stop: not Ready yet, a dependency unavailable, a
	// circuit open, a backoff window not over, a timeout, an interrupt.
	Retryable Code = 3
)

// severity orders the codes for a run over several Databases: 1 > 2 > 3 > 0; an
// unknown code is the most severe.
func (c Code) severity() int {
	switch c {
	case OK:
		return 0
	case Retryable:
		return 1
	case Failed:
		return 2
	case Error:
		return 3
	default:
		return 4
	}
}

// Worst returns the most severe of the codes (OK for none).
func Worst(codes ...Code) Code {
	worst := OK
	for _, c := range codes {
		if c.severity() > worst.severity() {
			worst = c
		}
	}
	return worst
}

// Row is what one code means for each command.
type Row struct {
	Code                            Code
	Reconcile, Status, Plan, Backup string
}

// Table is what each code means for reconcile, status and plan: the README's table.
var Table = []Row{
	{OK, "every Database Ready", "Ready", "ok (with `--detailed-exitcode`: no changes)", "the backup is complete and verified"},
	{Error, "error: bad input, forbidden, conflict, missing CRD, unexpected; with `--plan`: the cluster changed since the plan (nothing written); with `--backup-first`: the backup failed (nothing risky written)", "error or not found", "error, a refused spec", "the backup failed (the Job and its error named), or none can be taken (no `spec.backup`, no CronJob yet)"},
	{Failed, "a Database is Failed: needs a person", "Failed", "with `--detailed-exitcode`: changes", "—"},
	{Retryable, "retryable stop: not Ready when `--timeout` ended, dependency unavailable, circuit open, backoff window; with `--plan`: a write the plan does not contain", "not Ready yet", "—", "`--timeout` ended first: the Job goes on"},
}

// Markdown renders Table as the README's Markdown table.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| code | reconcile | status | plan | backup |\n|---|---|---|---|---|\n")
	for _, r := range Table {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", r.Code, r.Reconcile, r.Status, r.Plan, r.Backup)
	}
	return b.String()
}
