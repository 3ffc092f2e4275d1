// Package reconcile implements `dbctl reconcile`.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/cmd/version"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/reconcile/exitcode"
	"github.com/dbctl-io/dbctl/reconcile/planfile"
	"github.com/dbctl-io/dbctl/reconcile/redact"
	"github.com/dbctl-io/dbctl/reconcile/render"
	"github.com/dbctl-io/dbctl/resilience"
)

// Options of `dbctl reconcile`.
type Options struct {
	IO      *cmdutil.IOStreams
	Clients func() (*cmdutil.Clients, error)
	Factory *cmdutil.Factory
	Clock   clock.WithTicker
	Input   cmdutil.InputOptions
	Names   []string

	Timeout          time.Duration
	Concurrency      int
	RetryInitial     time.Duration
	RetryMax         time.Duration
	ForceConflicts   bool
	CreateNamespace  bool
	Output           string
	Quiet            bool
	DependencyQPS    float64
	BreakerThreshold int
	BreakerCooldown  time.Duration
	PlanFile         string
	BackupFirst      bool
	// ShardFlag is --shard INDEX/COUNT; Shard is its parsed value (zero: no sharding).
	ShardFlag string
	Shard     cmdutil.Shard
}

// NewCmdReconcile builds `dbctl reconcile`. runF replaces run in tests.
func NewCmdReconcile(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Clients: f.Clients, Factory: f, Clock: clock.RealClock{}}
	cmd := &cobra.Command{
		Use:   "reconcile (-f FILE|DIR|- | NAME... | --all | -A)",
		Short: "Drive Databases to Ready, or to a retryable stop",
		Long: `Reconcile applies the Database spec (from a file, the Database object itself is
server-side applied first), then runs the phase state machine
(Pending → Provisioning → Configuring → Deploying → Verifying → Ready) until the
Database is Ready, Failed, or --timeout ends the run. Transient API errors and
unavailable dependencies are retried in-process with exponential backoff.

Progress goes to stderr, a summary of the result to stdout (-o json for machines).

--shard INDEX/COUNT reconciles a stable share of the selected Databases: those whose
FNV-1a hash of "namespace/name" modulo COUNT is INDEX (0-based). COUNT runs with
INDEX 0 … COUNT-1 (e.g. the pods of an Indexed Job, --shard
$(JOB_COMPLETION_INDEX)/3) reconcile every Database exactly once between them. A
shard that gets no Database exits 0.

Exit codes: 0 Ready; 1 error (bad input, forbidden, conflict, unexpected);
2 Failed (needs a person); 3 retryable stop (not ready yet, dependency
unavailable, circuit open, backoff window). With several Databases, the most
severe code wins (1 > 2 > 3 > 0).

--plan FILE applies a plan saved by plan --out FILE, for the same Databases
(-f, NAMEs or --all as when it was planned): before its first write it checks that
nothing the plan was computed from changed (objects edited, created or deleted, a
newer spec, another dbctl, another cluster) and otherwise exits 1 writing nothing,
naming each difference. Every write carries the resourceVersion it expects, so a
change between the check and the write is refused by the API server (exit 1,
never retried). It never writes what the plan does not contain: when the phases
need such a write it stops with exit 3 and says why. Status changes the cluster
makes on its own (pods becoming ready) are no difference.`,
		Example: `  dbctl reconcile -f examples/postgres.yaml
  dbctl reconcile -f deploy/databases/ --timeout 10m -o json
  dbctl reconcile orders -n shop
  dbctl reconcile --plan plan.json -f deploy/databases/
  dbctl reconcile -A --concurrency 16
  dbctl reconcile -A --shard 0/3 --breaker-state cluster:dbctl-system/dbctl-breakers`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if err := opts.Input.Validate(args); err != nil {
				return err
			}
			if opts.Output != "text" && opts.Output != "json" {
				return cmdutil.FlagErrorf("--output must be text or json, not %q", opts.Output)
			}
			if opts.Timeout <= 0 {
				return cmdutil.FlagErrorf("--timeout must be positive")
			}
			if opts.PlanFile != "" && opts.ForceConflicts {
				return cmdutil.FlagErrorf("--force-conflicts comes from the plan with --plan: plan again with --force-conflicts")
			}
			if opts.PlanFile != "" && cmd.Flags().Changed("shard") {
				return cmdutil.FlagErrorf("--plan applies the Databases of the plan: it cannot be used with --shard")
			}
			if _, err := f.BreakerState(); err != nil {
				return err
			}
			if cmd.Flags().Changed("shard") {
				shard, err := cmdutil.ParseShard(opts.ShardFlag)
				if err != nil {
					return cmdutil.FlagErrorf("--shard %w", err)
				}
				opts.Shard = shard
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.ValidArgsFunction = cmdutil.CompleteDatabaseNames(f)
	opts.Input.AddFlags(cmd)
	addFlags(cmd, opts)
	return cmd
}

// addFlags adds the command's flags to cmd, bound to opts.
func addFlags(cmd *cobra.Command, opts *Options) {
	fl := cmd.Flags()
	fl.DurationVar(&opts.Timeout, "timeout", 5*time.Minute, "how long the run may take before it stops with exit 3")
	fl.IntVar(&opts.Concurrency, "concurrency", 4, "how many Databases are reconciled at once")
	fl.DurationVar(&opts.RetryInitial, "retry-initial", 5*time.Second, "first backoff of an in-process retry (doubles each time)")
	fl.DurationVar(&opts.RetryMax, "retry-max", 5*time.Minute, "longest backoff of an in-process retry")
	fl.BoolVar(&opts.ForceConflicts, "force-conflicts", false, "take fields that another applier owns")
	fl.BoolVar(&opts.CreateNamespace, "create-namespace", false, "create the namespace of a Database when it does not exist")
	fl.StringVarP(&opts.Output, "output", "o", "text", "result format: text or json")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print only the result, no progress")
	fl.Float64Var(&opts.DependencyQPS, "dependency-qps", resilience.DefaultQPS, "checks per second allowed per dependency")
	fl.IntVar(&opts.BreakerThreshold, "breaker-threshold", 5, "consecutive failures that open a dependency's circuit breaker")
	fl.DurationVar(&opts.BreakerCooldown, "breaker-cooldown", time.Minute, "how long an open circuit breaker waits before one probe")
	fl.BoolVar(&opts.BackupFirst, "backup-first", false, "take a backup (spec.backup), and wait for it, before a change that restarts the primary, removes replicas or recreates the StatefulSets; a failed backup stops the run (exit 1) before that change")
	fl.StringVar(&opts.PlanFile, "plan", "", "apply exactly the plan saved by plan --out FILE, or refuse it when anything changed since")
	_ = cmd.MarkFlagFilename("plan", "json")
	fl.StringVar(&opts.ShardFlag, "shard", "", "INDEX/COUNT: reconcile only the Databases whose hash of namespace/name modulo COUNT is INDEX (0-based)")
}

func run(ctx context.Context, opts *Options) error {
	clients, err := opts.Clients()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	policy := resilience.Policy{Initial: opts.RetryInitial, Max: opts.RetryMax, Clock: opts.Clock}
	targets, err := resolveTargets(ctx, opts, clients, policy)
	if err != nil {
		return err
	}
	forceConflicts := opts.ForceConflicts
	if opts.PlanFile != "" {
		if forceConflicts, err = followPlan(opts.PlanFile, clients, targets); err != nil {
			return err
		}
	}
	if targets = selectShard(opts, targets); len(targets) == 0 {
		return report(opts, nil)
	}
	store, err := openBreakerStore(opts)
	if err != nil {
		return err
	}
	ci, err := opts.Factory.CI()
	if err != nil {
		return err
	}
	progress := newProgress(opts.IO.ErrOut, opts.Quiet, len(targets) > 1, render.NewStyle(opts.IO.ColorErr()))
	switch {
	case opts.IO.ErrTTY && !opts.Quiet && !ci.GitHub():
		progress.live = newLive(opts.IO.ErrOut, render.NewStyle(opts.IO.ColorErr()))
	case !opts.IO.ErrTTY && !ci.GitHub():
		progress.stamp = true
	}
	engine := &reconcile.Engine{
		Client: clients.Client,
		Clock:  opts.Clock,
		Retry:  policy,
		Dependencies: &reconcile.DependencyChecker{Guard: &resilience.Guard{
			Limiters: resilience.NewLimiters(opts.DependencyQPS, 1),
			Store:    store,
			Settings: resilience.Settings{Threshold: opts.BreakerThreshold, Cooldown: opts.BreakerCooldown},
			Clock:    opts.Clock,
		}},
		ForceConflicts:  forceConflicts,
		CreateNamespace: opts.CreateNamespace,
		BackupFirst:     opts.BackupFirst,
		Secrets:         opts.Factory.Secrets,
		Events:          progress.event,
	}
	endGroup := ci.Group(opts.IO.ErrOut, fmt.Sprintf("dbctl reconcile: %d Database(s)", len(targets)))
	results := engine.ReconcileAll(ctx, targets, opts.Concurrency)
	progress.close()
	endGroup()
	annotate(ci, results)
	if err := ci.Summary(render.ResultsMarkdown(results)); err != nil {
		fmt.Fprintln(opts.IO.ErrOut, "Warning:", err)
	}
	if *opts.Factory.Verbose {
		fmt.Fprintf(opts.IO.ErrOut, "API requests: %s\n", clients.Requests)
	}
	return report(opts, results)
}

// resolveTargets loads the files, or lists the Databases for --all/-A, retrying a
// transient API error like every other request of the run: the list is the first
// request, and an API server restarting then must not fail the run.
func resolveTargets(ctx context.Context, opts *Options, clients *cmdutil.Clients, policy resilience.Policy) ([]reconcile.Target, error) {
	var targets []reconcile.Target
	err := policy.Retry(ctx, func(ctx context.Context) error {
		var err error
		targets, err = opts.Input.Targets(ctx, opts.IO, clients, opts.Names)
		if err != nil && !reconcile.Transient(err) {
			return resilience.Permanent(err)
		}
		return err
	}, func(err error, next time.Duration) {
		if !opts.Quiet {
			fmt.Fprintf(opts.IO.ErrOut, "listing Databases: %v; retrying in %s\n", err, next.Round(time.Millisecond))
		}
	})
	var deadline *resilience.DeadlineError
	if errors.As(err, &deadline) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return nil, &cmdutil.RetryableError{Err: err} // exit 3: the API server was not there in time
	}
	return targets, err
}

// followPlan reads the saved plan at path, checks that this dbctl and this cluster
// may apply it to exactly targets, and gives each target its preconditions. It
// returns whether the plan was made with --force-conflicts.
func followPlan(path string, clients *cmdutil.Clients, targets []reconcile.Target) (bool, error) {
	f, err := planfile.Read(path)
	if err != nil {
		return false, err
	}
	v := version.Get()
	if err := f.Check(path, planfile.Version{Version: v.Version, Commit: v.Commit}, redact.URL(clients.Config.Host)); err != nil {
		return false, err
	}
	selected := map[string]bool{}
	var missing []string
	for i := range targets {
		t := &targets[i]
		selected[t.Namespace+"/"+t.Name] = true
		if t.Planned = f.Find(t.Namespace, t.Name); t.Planned == nil {
			missing = append(missing, t.Namespace+"/"+t.Name)
		}
	}
	if len(missing) > 0 {
		return false, fmt.Errorf("%s does not contain Database %s: plan again with the same selection", path, strings.Join(missing, ", "))
	}
	var extra []string
	for _, d := range f.Saved.Databases {
		if !selected[d.Namespace+"/"+d.Name] {
			extra = append(extra, d.Namespace+"/"+d.Name)
		}
	}
	if len(extra) > 0 {
		return false, fmt.Errorf("%s also plans Database %s, which this run does not select: select the Databases it was planned for", path, strings.Join(extra, ", "))
	}
	return f.Saved.ForceConflicts, nil
}

// selectShard returns the targets of --shard (all of them without it), saying on
// stderr how many of them the shard got.
func selectShard(opts *Options, targets []reconcile.Target) []reconcile.Target {
	if !opts.Shard.Enabled() {
		return targets
	}
	mine := opts.Shard.Select(targets)
	switch {
	case len(mine) == 0:
		fmt.Fprintf(opts.IO.ErrOut, "shard %s: none of the %d Database(s) selected falls in this shard: nothing to do\n",
			opts.Shard, len(targets))
	case !opts.Quiet:
		fmt.Fprintf(opts.IO.ErrOut, "shard %s: %d of %d Database(s)\n", opts.Shard, len(mine), len(targets))
	}
	return mine
}

// openBreakerStore opens the breaker state that --breaker-state names. A ConfigMap
// is read once before anything else: a missing permission or a bad namespace is an
// error at once, not a dependency check retried until --timeout.
func openBreakerStore(opts *Options) (resilience.StateStore, error) {
	store, err := opts.Factory.BreakerStore(func(msg string) { fmt.Fprintln(opts.IO.ErrOut, "Warning: "+msg) })
	if err != nil {
		return nil, err
	}
	if _, cluster := store.(*resilience.ClusterStore); cluster {
		if _, err := store.Load(); err != nil {
			return nil, err
		}
	}
	return store, nil
}

// progress prints events to stderr, one line each (a change: its block of lines,
// rendered as plan renders it), prefixed with the Database. On a terminal the lines
// scroll above a live area with one updating line per Database (live).
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	quiet  bool
	prefix bool
	style  render.Style
	live   *live
	// stamp prefixes every line with the time (plain logs: not a terminal, not
	// GitHub Actions, whose log has its own timestamps).
	stamp bool
}

func newProgress(w io.Writer, quiet, prefix bool, style render.Style) *progress {
	return &progress{w: w, quiet: quiet, prefix: prefix, style: style}
}

func (p *progress) event(ev reconcile.Event) {
	if p.quiet {
		return
	}
	head := ev.Namespace + "/" + ev.Name + ": "
	if p.stamp {
		head = ev.Time.UTC().Format("15:04:05Z ") + head
	}
	var lines []string
	switch ev.Type {
	case reconcile.EventPhase:
		lines = []string{head + fmt.Sprintf("%s → %s: %s", ev.From, ev.To, ev.Message)}
	case reconcile.EventChange:
		for _, l := range render.ChangeLines(*ev.Change, render.ChangeOptions{Style: p.style}) {
			lines = append(lines, head+"  "+l)
		}
	case reconcile.EventWaiting:
		lines = []string{head + fmt.Sprintf("%s (%s)", ev.Message, ev.Elapsed.Round(time.Second))}
	default:
		lines = []string{head + ev.Message}
	}
	if p.live != nil {
		p.live.print(ev, lines)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range lines {
		fmt.Fprintln(p.w, l)
	}
}

// close ends the live area, if any.
func (p *progress) close() {
	if p.live != nil {
		p.live.close()
	}
}

// annotate turns every result that is not Ready into a CI annotation on its spec
// file: an error for exit 1 and 2, a warning for a retryable stop.
func annotate(ci *cmdutil.CI, results []*reconcile.Result) {
	for _, r := range results {
		if r.Outcome == reconcile.OutcomeReady {
			continue
		}
		level := "error"
		if r.Outcome == reconcile.OutcomeNotReady {
			level = "warning"
		}
		ci.Annotate(cmdutil.Annotation{Level: level, File: r.File, Line: r.Line,
			Title:   fmt.Sprintf("dbctl reconcile: Database %s/%s %s", r.Namespace, r.Name, r.Outcome),
			Message: r.Message})
	}
}

// jsonResult is one Database in `-o json`.
type jsonResult struct {
	Namespace   string        `json:"namespace"`
	Name        string        `json:"name"`
	Outcome     string        `json:"outcome"`
	ExitCode    exitcode.Code `json:"exitCode"`
	Phase       string        `json:"phase"`
	StartPhase  string        `json:"startPhase,omitempty"`
	Message     string        `json:"message"`
	RetryAt     string        `json:"retryAt,omitempty"`
	Transitions []string      `json:"transitions"`
	Changes     []string      `json:"changes"`
	Seconds     float64       `json:"durationSeconds"`
	// PlanChanged is true when reconcile --plan refused the plan because the
	// cluster or the spec changed since (exit 1): plan again.
	PlanChanged bool `json:"planChanged,omitempty"`
}

func report(opts *Options, results []*reconcile.Result) error {
	codes := make([]exitcode.Code, 0, len(results))
	for _, r := range results {
		codes = append(codes, r.Outcome.ExitCode())
	}
	worst := exitcode.Worst(codes...)
	if opts.Output == "json" {
		out := struct {
			FormatVersion int           `json:"formatVersion"`
			ExitCode      exitcode.Code `json:"exitCode"`
			Results       []jsonResult  `json:"results"`
		}{FormatVersion: 1, ExitCode: worst, Results: make([]jsonResult, 0, len(results))}
		for _, r := range results {
			jr := jsonResult{Namespace: r.Namespace, Name: r.Name, Outcome: string(r.Outcome), ExitCode: r.Outcome.ExitCode(),
				Phase: string(r.Phase), StartPhase: string(r.StartPhase), Message: r.Message,
				Transitions: []string{}, Changes: []string{}, Seconds: r.Duration.Seconds()}
			var changed *reconcile.PlanChangedError
			jr.PlanChanged = errors.As(r.Err, &changed)
			if !r.RetryAt.IsZero() {
				jr.RetryAt = r.RetryAt.UTC().Format(time.RFC3339)
			}
			for _, t := range r.Transitions {
				jr.Transitions = append(jr.Transitions, t.String())
			}
			for _, c := range r.Changes {
				jr.Changes = append(jr.Changes, fmt.Sprintf("%s %s", c.Action.Symbol(), c.ID()))
			}
			out.Results = append(out.Results, jr)
		}
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			outcome := string(r.Outcome)
			if r.Phase != "" && string(r.Phase) != outcome {
				outcome += " (phase " + string(r.Phase) + ")"
			}
			fmt.Fprintf(opts.IO.Out, "%s/%s: %s in %s: %s\n", r.Namespace, r.Name, outcome,
				r.Duration.Round(10*time.Millisecond), r.Message)
		}
	}
	if worst == exitcode.OK {
		return nil
	}
	for _, r := range results {
		if r.Outcome == reconcile.OutcomeError {
			fmt.Fprintf(opts.IO.ErrOut, "Error: %s/%s: %s\n", r.Namespace, r.Name, r.Message)
		}
	}
	return &cmdutil.SilentError{Code: worst}
}
