package cmdutil

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Args wraps a cobra positional-arguments validator (cobra.NoArgs, cobra.ExactArgs
// …) so that its error is a usage error: a *FlagError, which the command's caller
// follows with a hint to --help.
func Args(validate cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := validate(cmd, args); err != nil {
			return &FlagError{Err: err}
		}
		return nil
	}
}

// GroupRunE is the RunE of a command that only groups subcommands (dbctl, dbctl
// breaker): without arguments it prints the help; with one, the argument is an
// unknown subcommand, a usage error with cobra's suggestions.
func GroupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return &FlagError{Err: fmt.Errorf("%s", msg)}
}
