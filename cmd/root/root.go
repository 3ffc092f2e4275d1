// Package root assembles the dbctl command tree and runs it.
package root

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/dbctl-io/dbctl/cmd/backup"
	"github.com/dbctl-io/dbctl/cmd/breaker"
	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/cmd/controller"
	"github.com/dbctl-io/dbctl/cmd/install"
	"github.com/dbctl-io/dbctl/cmd/plan"
	reconcilecmd "github.com/dbctl-io/dbctl/cmd/reconcile"
	"github.com/dbctl-io/dbctl/cmd/status"
	"github.com/dbctl-io/dbctl/cmd/version"
	"github.com/dbctl-io/dbctl/reconcile/exitcode"
	"github.com/dbctl-io/dbctl/reconcile/load"
)

// NewCmdRoot builds the dbctl command with every subcommand.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dbctl",
		Short: "Reconcile Database resources once, GitOps-style",
		Long: `dbctl reconciles a Database resource (PostgreSQL or MySQL on Kubernetes) once:
it loads the spec from a file or the cluster, drives the phase state machine
(Pending → Provisioning → Configuring → Deploying → Verifying → Ready) to completion
or to a retryable stop, and prints what it changes.

  dbctl plan -f db.yaml        show what reconcile would change, change nothing
  dbctl reconcile -f db.yaml   apply and wait until Ready (exit 0), Failed (2) or a retryable stop (3)
  dbctl status NAME            phase, conditions, children`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE:          cmdutil.GroupRunE,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			if f.IOStreams.NoColor {
				return
			}
			if nc, _ := cmd.Flags().GetBool("no-color"); nc {
				f.IOStreams.NoColor = true
			}
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &cmdutil.FlagError{Err: err} })
	cmd.SetIn(f.IOStreams.In)
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)

	pf := cmd.PersistentFlags()
	f.ConfigFlags.AddFlags(pf)
	pf.Bool("no-color", false, "disable colour (also off when NO_COLOR is set or the output is not a terminal)")
	pf.BoolVarP(f.Verbose, "verbose", "v", false, "debug output on stderr: the API requests made, by verb (never secret values)")
	pf.Float32Var(f.QPS, "qps", *f.QPS, "client-side limit of API requests per second (the API server's priority and fairness still applies)")
	pf.IntVar(f.Burst, "burst", *f.Burst, "client-side burst of API requests")
	pf.StringVar(f.CIFlag, "ci", cmdutil.CIAuto, "CI integration: auto (GitHub Actions when GITHUB_ACTIONS=true), github or none")
	pf.StringVar(f.BreakerStatePath, "breaker-state", "", "circuit breaker state: a file, or cluster:NAMESPACE/NAME for a ConfigMap shared across machines (default $DBCTL_BREAKER_STATE, else $XDG_STATE_HOME/dbctl/breakers.json)")

	_ = cmd.RegisterFlagCompletionFunc("namespace", cmdutil.CompleteNamespaces(f))
	cmd.AddCommand(
		version.NewCmdVersion(f, nil),
		controller.NewCmdController(f, nil),
		backup.NewCmdBackup(f, nil),
		install.NewCmdInstall(f, nil),
		plan.NewCmdPlan(f, nil),
		reconcilecmd.NewCmdReconcile(f, nil),
		status.NewCmdStatus(f, nil),
		breaker.NewCmdBreaker(f),
	)
	return cmd
}

// Main runs dbctl with the process's arguments and returns its exit code.
func Main() exitcode.Code {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, cmdutil.New(), os.Args[1:])
}

// Run runs dbctl with args on the factory and returns its exit code: the command's
// error is printed (and, in CI, annotated) and mapped to an exit code.
func Run(ctx context.Context, f *cmdutil.Factory, args []string) exitcode.Code {
	cmd := NewCmdRoot(f)
	cmd.SetArgs(args)
	ran, err := cmd.ExecuteContextC(ctx)
	annotateError(f, err)
	return HandleError(f.IOStreams, ran, err)
}

// annotateError turns a command's error into CI annotations: one per spec error, on
// its file and line.
func annotateError(f *cmdutil.Factory, err error) {
	var silent *cmdutil.SilentError
	if err == nil || errors.As(err, &silent) {
		return
	}
	ci, cerr := f.CI()
	if cerr != nil || !ci.GitHub() {
		return
	}
	var many load.Errors
	var one *load.Error
	switch {
	case errors.As(err, &many):
		for _, e := range many {
			ci.Annotate(cmdutil.Annotation{File: e.File, Line: e.Line, Title: "dbctl: invalid Database spec", Message: e.Error()})
		}
	case errors.As(err, &one):
		ci.Annotate(cmdutil.Annotation{File: one.File, Line: one.Line, Title: "dbctl: invalid Database spec", Message: one.Error()})
	default:
		ci.Annotate(cmdutil.Annotation{Title: "dbctl", Message: err.Error()})
	}
}

// HandleError prints err (unless it is silent) and maps it to an exit code; a usage
// error (a *cmdutil.FlagError: bad flags or arguments) is followed by a hint to the
// --help of cmd, the command that ran.
func HandleError(io *cmdutil.IOStreams, cmd *cobra.Command, err error) exitcode.Code {
	if err == nil {
		return exitcode.OK
	}
	var silent *cmdutil.SilentError
	if !errors.As(err, &silent) {
		red := cmdutil.Colorizer(io.ColorErr(), 31)
		fmt.Fprintf(io.ErrOut, "%s %s\n", red("Error:"), err)
		var flagErr *cmdutil.FlagError
		if errors.As(err, &flagErr) && cmd != nil {
			fmt.Fprintf(io.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return cmdutil.ExitCode(err)
}
