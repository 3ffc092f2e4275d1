package breaker

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/resilience"
)

// ResetOptions of `dbctl breaker reset`.
type ResetOptions struct {
	IO *cmdutil.IOStreams
	// Store opens the breaker state store (a file or a ConfigMap).
	Store func() (resilience.StateStore, error)

	Names []string
	All   bool
}

// NewCmdReset builds `dbctl breaker reset`. runF replaces resetRun in tests.
func NewCmdReset(f *cmdutil.Factory, runF func(*ResetOptions) error) *cobra.Command {
	opts := &ResetOptions{IO: f.IOStreams, Store: openStore(f)}
	cmd := &cobra.Command{
		Use:   "reset (NAME... | --all)",
		Short: "Close circuit breakers",
		Long: `Closes the named circuit breakers (or all of them) by removing them from the breaker
state (--breaker-state: a file, or a ConfigMap): the next check of the dependency
reaches it, and its failures count from zero. A NAME the state does not hold is an
error, and then nothing is reset.`,
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
	store, err := opts.Store()
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
		fmt.Fprintf(opts.IO.ErrOut, "No circuit breakers to reset in %s.\n", store.Location())
		return nil
	}
	for _, name := range reset {
		fmt.Fprintf(opts.IO.Out, "circuit breaker %q reset\n", name)
	}
	return nil
}
