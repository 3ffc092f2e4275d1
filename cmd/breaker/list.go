package breaker

import (
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/resilience"
)

// ListOptions of `dbctl breaker list`.
type ListOptions struct {
	IO *cmdutil.IOStreams
	// Store opens the breaker state store (a file or a ConfigMap).
	Store func() (resilience.StateStore, error)

	Output   string
	Cooldown time.Duration
}

// NewCmdList builds `dbctl breaker list`. runF replaces listRun in tests.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams, Store: openStore(f)}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the circuit breakers and their state",
		Long: `Lists the circuit breakers of the breaker state (--breaker-state). A dependency that is not listed has
a closed breaker. NEXT-PROBE is when an open breaker allows its next probe; it depends on
the cooldown, which is not stored: pass the --breaker-cooldown that reconcile uses.`,
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Output != "text" && opts.Output != "json" {
				return cmdutil.FlagErrorf("--output must be text or json, not %q", opts.Output)
			}
			if opts.Cooldown <= 0 {
				return cmdutil.FlagErrorf("--breaker-cooldown must be positive, not %s", opts.Cooldown)
			}
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "output format: text or json")
	cmd.Flags().DurationVar(&opts.Cooldown, "breaker-cooldown", resilience.DefaultCooldown, "the cooldown reconcile uses, to compute NEXT-PROBE")
	return cmd
}

// listItem is one breaker of `list -o json`: its name, its record and the next probe.
type listItem struct {
	Name string `json:"name"`
	resilience.Record
	NextProbe *time.Time `json:"nextProbe,omitempty"`
}

// maxErrorWidth bounds the LAST-ERROR column of the table; -o json has it whole.
const maxErrorWidth = 60

func listRun(opts *ListOptions) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	sf, err := store.Load()
	if err != nil {
		return err
	}
	settings := resilience.Settings{Cooldown: opts.Cooldown}
	items := make([]listItem, 0, len(sf.Breakers))
	for _, name := range sf.Names() {
		item := listItem{Name: name, Record: *sf.Breakers[name]}
		item.State = item.CurrentState()
		if next := settings.NextProbe(item.Record); !next.IsZero() {
			item.NextProbe = &next
		}
		items = append(items, item)
	}

	if opts.Output == "json" {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(items)
	}
	if len(items) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "No circuit breakers recorded in %s: every dependency is closed.\n", store.Location())
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tFAILURES\tOPENED-AT\tNEXT-PROBE\tLAST-ERROR")
	for _, it := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.Name, it.State, strconv.Itoa(it.Failures),
			timeOrDash(it.OpenedAt), timeOrDash(it.NextProbe), orDash(truncate(it.LastError, maxErrorWidth)))
	}
	return tw.Flush()
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// truncate shortens s to n runes, on one line.
func truncate(s string, n int) string {
	r := []rune(s)
	for i, c := range r {
		if c == '\n' || c == '\t' {
			r[i] = ' '
		}
	}
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}
