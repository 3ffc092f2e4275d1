// Package backup implements `dbctl backup`: a backup of a Database now.
package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/reconcile"
)

// Options of `dbctl backup`.
type Options struct {
	IO      *cmdutil.IOStreams
	Clients func() (*cmdutil.Clients, error)
	Factory *cmdutil.Factory
	Name    string

	Timeout time.Duration
	Output  string
	Quiet   bool
}

// NewCmdBackup builds `dbctl backup`. runF replaces run in tests.
func NewCmdBackup(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Clients: f.Clients, Factory: f}
	cmd := &cobra.Command{
		Use:   "backup NAME",
		Short: "Back a Database up now, and wait until the backup is complete",
		Long: `Backup starts a backup of the Database now: a Job made from the template of its
CronJob <name>-backup (spec.backup; reconcile writes the CronJob), which dumps the
application database from the primary into the PVC <name>-backups, reads the file
back, checksums it and only then gives it its name. It waits for the Job, with
progress on stderr, and prints the backup's file, size and sha256 (-o json for
machines). The backup is recorded in the Database's status.lastBackup.

Exit codes: 0 the backup is complete and verified; 1 it failed (the Job and the
script's error are named), or the Database cannot be backed up (no spec.backup, no
CronJob yet); 3 --timeout ended first (the Job goes on: dbctl status shows the
backup when it completes).`,
		Example: `  dbctl backup orders -n shop
  dbctl backup orders -n shop --timeout 1h -o json`,
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if opts.Output != "text" && opts.Output != "json" {
				return cmdutil.FlagErrorf("--output must be text or json, not %q", opts.Output)
			}
			if opts.Timeout <= 0 {
				return cmdutil.FlagErrorf("--timeout must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.ValidArgsFunction = cmdutil.CompleteDatabaseNames(f)
	fl := cmd.Flags()
	fl.DurationVar(&opts.Timeout, "timeout", 30*time.Minute, "how long to wait for the backup before exit 3 (the Job goes on)")
	fl.StringVarP(&opts.Output, "output", "o", "text", "result format: text or json")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print only the result, no progress")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	clients, err := opts.Clients()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	engine := &reconcile.Engine{Client: clients.Client}
	if opts.Factory != nil {
		engine.Secrets = opts.Factory.Secrets
	}
	start := time.Now()
	rec, err := engine.Backup(ctx, clients.Namespace, opts.Name, func(msg string) {
		if !opts.Quiet {
			fmt.Fprintf(opts.IO.ErrOut, "%s: %s (%s)\n", opts.Name, msg, time.Since(start).Round(time.Second))
		}
	})
	if err != nil {
		return classify(err)
	}
	if opts.Output == "json" {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
			*v1alpha1.BackupRecord
		}{clients.Namespace, opts.Name, rec})
	}
	fmt.Fprintf(opts.IO.Out, "%s/%s: backup %s complete: %s, sha256 %s (Job %s, %s)\n", clients.Namespace, opts.Name,
		rec.File, size(rec.SizeBytes), rec.SHA256, rec.Job, time.Since(start).Round(time.Second))
	return nil
}

// classify maps the errors of a backup to exit codes: the deadline or an
// interrupt while the Job runs is a retryable stop (3); anything else exit 1.
func classify(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &cmdutil.RetryableError{Err: err}
	}
	return err
}

func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
