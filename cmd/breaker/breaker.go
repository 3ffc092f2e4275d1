// Package breaker implements `dbctl breaker list|reset`: the circuit breakers of the
// external dependencies, as the breaker state file or ConfigMap holds them (SPEC §5).
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
$XDG_STATE_HOME/dbctl/breakers.json), or, with --breaker-state
cluster:NAMESPACE/NAME, in a ConfigMap shared by every dbctl using that cluster.`,
		Example: `  dbctl breaker list
  dbctl breaker list -o json
  dbctl breaker reset postgres
  dbctl breaker reset --all
  dbctl breaker list --breaker-state cluster:dbctl-system/dbctl-breakers`,
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.GroupRunE,
	}
	cmd.AddCommand(
		NewCmdList(f, nil),
		NewCmdReset(f, nil),
	)
	return cmd
}

// openStore returns a function that opens, when the command runs (after the flags
// are parsed), the store --breaker-state names (a file or a ConfigMap); its warnings
// go to ErrOut.
func openStore(f *cmdutil.Factory) func() (resilience.StateStore, error) {
	return func() (resilience.StateStore, error) {
		return f.BreakerStore(func(msg string) {
			fmt.Fprintf(f.IOStreams.ErrOut, "Warning: %s\n", msg)
		})
	}
}
