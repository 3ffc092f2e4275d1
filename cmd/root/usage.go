package root

import (
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// isCobraUsageError recognises the errors cobra returns for bad arguments.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// commandPath is the path of the subcommand the arguments name ("dbctl plan").
func commandPath(root *cobra.Command, _ error) string {
	if c, _, err := root.Find(os.Args[1:]); err == nil && c != nil {
		return c.CommandPath()
	}
	return root.CommandPath()
}
