// Package plan implements `dbctl plan`.
package plan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/cmd/version"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/reconcile/exitcode"
	"github.com/dbctl-io/dbctl/reconcile/planfile"
	"github.com/dbctl-io/dbctl/reconcile/redact"
	"github.com/dbctl-io/dbctl/reconcile/render"
)

// Options of `dbctl plan`.
type Options struct {
	IO      *cmdutil.IOStreams
	Clients func() (*cmdutil.Clients, error)
	Factory *cmdutil.Factory
	Input   cmdutil.InputOptions
	Names   []string

	Output           string
	DetailedExitCode bool
	Offline          bool
	ForceConflicts   bool
	Concurrency      int
	Timeout          time.Duration
	NoDiff           bool
	ShowObjects      bool
	Out              string
	BackupFirst      bool
}

// NewCmdPlan builds `dbctl plan`. runF replaces run in tests.
func NewCmdPlan(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Clients: f.Clients, Factory: f}
	cmd := &cobra.Command{
		Use:   "plan (-f FILE|DIR|- | NAME... | --all | -A)",
		Short: "Show what reconcile would change, changing nothing",
		Long: `Plan computes what reconcile would do to each Database without changing anything,
not even creating the Database or its namespace: the phases it would go through and
every child object it would create (+), update (~), delete (-) or leave as it is (=),
grouped by the phase that applies it. Each child is compared with the result of a
server-side dry-run apply of what dbctl would write, without noise (managedFields,
resourceVersion, generation, uid, timestamps, status); an update lists its changed
fields and a unified diff. Changes made by hand (someone scaled the StatefulSet) show
as updates. Secret values are never shown: a changed key reads (sensitive value
changed), a password not generated yet (generated at apply).

An object with fields that another applier (a GitOps tool, kubectl apply
--server-side) owns is marked "!": reconcile would stop there with exit 1 unless run
with --force-conflicts; the plan shows what forcing would change. With
--force-conflicts the plan lists the fields it would take.

--offline renders the plan from files only, against an empty cluster (every object a
create), with no cluster access and no kubeconfig at all: for pull requests from
forks without credentials. The namespace is the document's, else -n, else "default".

-o json writes the plan in the documented format of docs/plan-format.md.

--out FILE also saves the plan, with what it was computed from (each object's
generation or resourceVersion, or its absence; a digest of each spec; this dbctl's
version), for reconcile --plan FILE to apply exactly that, or refuse it when
anything changed since. The file holds no secret value; it is written 0600, and
not at all when a Database could not be planned or was refused.

Exit codes: 0 success; 1 error (bad input, a Database that cannot be planned). With
--detailed-exitcode: 0 no changes, 1 error, 2 changes (conflicts included: the plan
succeeded; the "!" lines say reconcile would stop).`,
		Example: `  dbctl plan -f examples/postgres.yaml
  dbctl plan -f deploy/databases/ --detailed-exitcode -o json > plan.json
  dbctl plan -f deploy/databases/ --out plan.json && dbctl reconcile --plan plan.json -f deploy/databases/
  dbctl plan --offline -f examples/ -n shop
  dbctl plan orders -n shop
  dbctl plan -A`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if err := opts.Input.Validate(args); err != nil {
				return err
			}
			if opts.Output != "text" && opts.Output != "json" {
				return cmdutil.FlagErrorf("--output must be text or json, not %q", opts.Output)
			}
			if opts.Offline && opts.Out != "" {
				return cmdutil.FlagErrorf("--out saves a plan computed from the cluster: it cannot be used with --offline")
			}
			if opts.Offline && !opts.Input.FromFiles() {
				return cmdutil.FlagErrorf("--offline plans Databases from files only: use -f FILE|DIR|-")
			}
			if opts.Concurrency < 1 {
				return cmdutil.FlagErrorf("--concurrency must be at least 1")
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
	opts.Input.AddFlags(cmd)
	addFlags(cmd, opts)
	return cmd
}

// addFlags adds the command's flags to cmd, bound to opts.
func addFlags(cmd *cobra.Command, opts *Options) {
	fl := cmd.Flags()
	fl.StringVarP(&opts.Output, "output", "o", "text", "plan format: text or json")
	fl.BoolVar(&opts.DetailedExitCode, "detailed-exitcode", false, "exit 0 when there are no changes, 2 when there are, 1 on error")
	fl.BoolVar(&opts.Offline, "offline", false, "render against an empty cluster with no cluster access (files only)")
	fl.BoolVar(&opts.ForceConflicts, "force-conflicts", false, "plan as reconcile --force-conflicts would apply: take fields another applier owns")
	fl.IntVar(&opts.Concurrency, "concurrency", 4, "how many Databases are planned at once")
	fl.DurationVar(&opts.Timeout, "timeout", 2*time.Minute, "how long the plan may take")
	fl.BoolVar(&opts.NoDiff, "no-diff", false, "leave out the unified diffs of updates (the changed fields stay)")
	fl.BoolVar(&opts.ShowObjects, "show-objects", false, "show the whole object of each create instead of its key fields")
	fl.BoolVar(&opts.BackupFirst, "backup-first", false, "plan as reconcile --backup-first: say which changes a backup is taken before")
	fl.StringVar(&opts.Out, "out", "", "also save the plan to FILE, for reconcile --plan FILE")
	_ = cmd.MarkFlagFilename("out", "json")
}

func run(ctx context.Context, opts *Options) error {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var (
		plans []*reconcile.Plan
		errs  []render.PlanError
		err   error
	)
	if opts.Offline {
		plans, errs, err = planOffline(opts)
	} else {
		plans, errs, err = planOnline(ctx, opts)
	}
	if err != nil {
		return err
	}

	ci, err := opts.ci()
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		if err := render.WriteJSON(opts.IO.Out, render.NewPlanDocument(plans, errs, opts.Offline)); err != nil {
			return err
		}
	} else if err := writeText(opts, ci, plans); err != nil {
		return err
	}
	annotate(ci, plans, errs)
	if err := ci.Summary(render.PlanMarkdown(plans, errs)); err != nil {
		fmt.Fprintln(opts.IO.ErrOut, "Warning:", err)
	}
	red := cmdutil.Colorizer(opts.IO.ColorErr(), 31)
	for _, e := range errs {
		fmt.Fprintf(opts.IO.ErrOut, "%s %s/%s: %s\n", red("Error:"), e.Namespace, e.Name, e.Message)
	}
	refused := false
	for _, p := range plans {
		if p.Refused != "" {
			// reconcile would take this Database to Failed without writing: an error
			// of the plan (exit 1), the plan above says what to do.
			fmt.Fprintf(opts.IO.ErrOut, "%s %s/%s: refused: %s\n", red("Error:"), p.Namespace, p.Name, p.Refused)
			refused = true
		}
	}
	if len(errs) > 0 || refused {
		if opts.Out != "" {
			fmt.Fprintf(opts.IO.ErrOut, "%s no plan written to %s: a plan with errors or refusals cannot be applied\n", red("Error:"), opts.Out)
		}
		return &cmdutil.SilentError{Code: exitcode.Error}
	}
	if opts.Out != "" {
		if err := save(opts, plans); err != nil {
			return err
		}
	}
	if opts.DetailedExitCode {
		for _, p := range plans {
			if p.HasChanges() {
				return &cmdutil.SilentError{Code: exitcode.Changes}
			}
		}
	}
	return nil
}

// save writes the saved plan of plans to --out.
func save(opts *Options, plans []*reconcile.Plan) error {
	clients, err := opts.Clients()
	if err != nil {
		return err
	}
	v := version.Get()
	f := &planfile.File{PlanDocument: render.NewPlanDocument(plans, nil, false), Saved: &planfile.Saved{
		DbctlVersion: v.Version, Commit: v.Commit, CreatedAt: opts.now().UTC().Truncate(time.Second),
		Server: redact.URL(clients.Config.Host), ForceConflicts: opts.ForceConflicts,
		Databases: []reconcile.SavedDatabase{},
	}}
	for _, p := range plans {
		f.Saved.Databases = append(f.Saved.Databases, *p.Saved)
	}
	if err := planfile.Write(opts.Out, f); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Saved the plan to %s: dbctl reconcile --plan %s applies exactly these changes, or refuses them if anything changed since.\n", opts.Out, opts.Out)
	return nil
}

func (o *Options) now() time.Time {
	if o.Factory == nil || o.Factory.Now == nil {
		return time.Now()
	}
	return o.Factory.Now()
}

func (o *Options) ci() (*cmdutil.CI, error) {
	if o.Factory == nil {
		return cmdutil.NewCI(cmdutil.CINone, func(string) string { return "" }, o.IO.ErrOut)
	}
	return o.Factory.CI()
}

// writeText writes the text plans; in GitHub Actions each Database's plan is a
// collapsible group of the log.
func writeText(opts *Options, ci *cmdutil.CI, plans []*reconcile.Plan) error {
	po := render.PlanOptions{Style: render.NewStyle(opts.IO.ColorOut()), NoDiff: opts.NoDiff, Objects: opts.ShowObjects}
	if !ci.GitHub() {
		return render.WritePlans(opts.IO.Out, plans, po)
	}
	for _, p := range plans {
		add, change, destroy, _ := p.Counts()
		end := ci.Group(opts.IO.Out, fmt.Sprintf("dbctl plan %s/%s: %d to add, %d to change, %d to delete", p.Namespace, p.Name, add, change, destroy))
		if err := render.WritePlans(opts.IO.Out, []*reconcile.Plan{p}, po); err != nil {
			return err
		}
		end()
	}
	if len(plans) > 1 {
		var total render.Counts
		for _, p := range plans {
			total = total.Plus(render.CountsOf(p))
		}
		fmt.Fprintln(opts.IO.Out, total.Summary("Total"))
	}
	return nil
}

// annotate turns plan errors and conflicts into CI annotations on the spec files.
func annotate(ci *cmdutil.CI, plans []*reconcile.Plan, errs []render.PlanError) {
	for _, e := range errs {
		ci.Annotate(cmdutil.Annotation{Level: "error", File: e.File, Line: e.Line,
			Title: fmt.Sprintf("dbctl plan: Database %s/%s", e.Namespace, e.Name), Message: e.Message})
	}
	for _, p := range plans {
		if p.Refused != "" {
			ci.Annotate(cmdutil.Annotation{Level: "error", File: p.File, Line: p.Line,
				Title: fmt.Sprintf("dbctl plan: Database %s/%s: refused", p.Namespace, p.Name), Message: p.Refused})
		}
		for _, c := range p.Changes {
			if c.Conflict != "" {
				ci.Annotate(cmdutil.Annotation{Level: "warning", File: p.File, Line: p.Line,
					Title: fmt.Sprintf("dbctl plan: Database %s/%s: conflict", p.Namespace, p.Name), Message: c.Conflict})
			}
		}
	}
}

// offlineNamespace is -n when given, else "default": offline never reads a
// kubeconfig, so there is no context namespace.
func offlineNamespace(f *cmdutil.Factory) (string, bool) {
	if f != nil && f.ConfigFlags != nil && f.ConfigFlags.Namespace != nil && *f.ConfigFlags.Namespace != "" {
		return *f.ConfigFlags.Namespace, true
	}
	return "default", false
}

func planOffline(opts *Options) ([]*reconcile.Plan, []render.PlanError, error) {
	ns, explicit := offlineNamespace(opts.Factory)
	items, err := opts.Input.Load(opts.IO, ns, explicit)
	if err != nil {
		return nil, nil, err
	}
	var (
		plans []*reconcile.Plan
		errs  []render.PlanError
	)
	for _, it := range items {
		src := fmt.Sprintf("%s: document %d", it.Source.File, it.Source.Document)
		p, err := reconcile.PlanOffline(it.Database, src)
		if err != nil {
			errs = append(errs, render.PlanError{Namespace: it.Database.Namespace, Name: it.Database.Name, Source: src,
				Message: err.Error(), File: it.Source.File, Line: it.Source.Line})
			continue
		}
		p.File, p.Line = it.Source.File, it.Source.Line
		plans = append(plans, p)
	}
	return plans, errs, nil
}

func planOnline(ctx context.Context, opts *Options) ([]*reconcile.Plan, []render.PlanError, error) {
	clients, err := opts.Clients()
	if err != nil {
		return nil, nil, err
	}
	targets, err := opts.Input.Targets(ctx, opts.IO, clients, opts.Names)
	if err != nil {
		return nil, nil, err
	}
	engine := &reconcile.Engine{Client: clients.Client, ForceConflicts: opts.ForceConflicts, BackupFirst: opts.BackupFirst}
	if opts.Factory != nil {
		engine.Secrets = opts.Factory.Secrets
	}
	var (
		out     []*reconcile.Plan
		failing []render.PlanError
	)
	for i, r := range engine.PlanAll(ctx, targets, opts.Concurrency) {
		if r.Err != nil {
			msg := r.Err.Error()
			if errors.Is(r.Err, context.DeadlineExceeded) {
				msg += " (--timeout)"
			}
			t := targets[i]
			failing = append(failing, render.PlanError{Namespace: t.Namespace, Name: t.Name, Source: t.Source, Message: msg,
				File: t.File, Line: t.Line})
			continue
		}
		out = append(out, r.Plan)
	}
	if opts.Factory != nil && opts.Factory.Verbose != nil && *opts.Factory.Verbose && clients.Requests != nil {
		fmt.Fprintf(opts.IO.ErrOut, "API requests: %s\n", clients.Requests)
	}
	return out, failing, nil
}
