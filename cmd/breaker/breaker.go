// Package breaker implements `dbctl breaker list|reset`: the circuit breakers of the
// external dependencies, as the breaker state file holds them (SPEC §5).
package breaker

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/resilience"
)

// NewCmdBreaker builds `dbctl breaker` and its subcommands.
func NewCmdBreaker(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "breaker <command>",
		Short: "List and reset the circuit breakers of external dependencies",
		Long: `Every external dependency check of reconcile goes through a circuit breaker. After
5 consecutive failures (--breaker-threshold) the breaker opens: no check reaches the
dependency and reconcile stops with exit 3 until, after 1m (--breaker-cooldown), one
probe is allowed. The breakers persist in a state file shared by every dbctl on the
machine (--breaker-state, $DBCTL_BREAKER_STATE, else
$XDG_STATE_HOME/dbctl/breakers.json).`,
		Example: `  dbctl breaker list
  dbctl breaker list -o json
  dbctl breaker reset postgres
  dbctl breaker reset --all`,
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.GroupRunE,
	}
	cmd.AddCommand(
		NewCmdList(f, nil),
		NewCmdReset(f, nil),
	)
	return cmd
}

// statePath resolves the state file when the command runs, after the flags are
// parsed: --breaker-state, else resilience.DefaultStatePath.
func statePath(f *cmdutil.Factory) func() (string, error) {
	return func() (string, error) {
		if f.BreakerStatePath != nil && *f.BreakerStatePath != "" {
			return *f.BreakerStatePath, nil
		}
		return resilience.DefaultStatePath()
	}
}

// openStore returns the store of the state file; its warnings go to ErrOut.
func openStore(io *cmdutil.IOStreams, path func() (string, error)) (*resilience.Store, error) {
	p, err := path()
	if err != nil {
		return nil, err
	}
	return resilience.NewStore(p, func(msg string) {
		fmt.Fprintf(io.ErrOut, "Warning: %s\n", msg)
	}), nil
}
