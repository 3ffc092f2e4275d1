package breaker

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
)

// ResetOptions of `dbctl breaker reset`.
type ResetOptions struct {
	IO        *cmdutil.IOStreams
	StatePath func() (string, error)

	Names []string
	All   bool
}

// NewCmdReset builds `dbctl breaker reset`. runF replaces resetRun in tests.
func NewCmdReset(f *cmdutil.Factory, runF func(*ResetOptions) error) *cobra.Command {
	opts := &ResetOptions{IO: f.IOStreams, StatePath: statePath(f)}
	cmd := &cobra.Command{
		Use:   "reset (NAME... | --all)",
		Short: "Close circuit breakers",
		Long: `Closes the named circuit breakers (or all of them) by removing them from the state
file: the next check of the dependency reaches it, and its failures count from zero.
A NAME the state file does not hold is an error, and then nothing is reset.`,
		Example: `  dbctl breaker reset postgres
  dbctl breaker reset --all`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case opts.All && len(args) > 0:
				return cmdutil.FlagErrorf("give NAME arguments or --all, not both")
			case !opts.All && len(args) == 0:
				return cmdutil.FlagErrorf("give the NAME of a circuit breaker to reset, or --all")
			}
			opts.Names = args
			if runF != nil {
				return runF(opts)
			}
			return resetRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "reset every circuit breaker")
	return cmd
}

func resetRun(opts *ResetOptions) error {
	store, err := openStore(opts.IO, opts.StatePath)
	if err != nil {
		return err
	}
	var reset []string
	if opts.All {
		reset, err = store.ResetAll()
	} else {
		reset, err = store.Reset(opts.Names...)
	}
	if err != nil {
		return err
	}
	if len(reset) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "No circuit breakers to reset in %s.\n", store.Path())
		return nil
	}
	for _, name := range reset {
		fmt.Fprintf(opts.IO.Out, "circuit breaker %q reset\n", name)
	}
	return nil
}
