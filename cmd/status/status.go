// Package status implements `dbctl status`.
package status

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/reconcile/exitcode"
	"github.com/dbctl-io/dbctl/reconcile/kube"
	"github.com/dbctl-io/dbctl/reconcile/render"
	"github.com/dbctl-io/dbctl/resilience"
)

// Options of `dbctl status`.
type Options struct {
	IO      *cmdutil.IOStreams
	Clients func() (*cmdutil.Clients, error)
	// BreakerStore opens the breaker state store that --breaker-state names (a file
	// or a ConfigMap; default $DBCTL_BREAKER_STATE, else the default file).
	BreakerStore func(warn func(string)) (resilience.StateStore, error)
	Now          func() time.Time
	Input        cmdutil.InputOptions
	Names        []string

	Output          string
	Watch           bool
	Timeout         time.Duration
	BreakerCooldown time.Duration
}

// NewCmdStatus builds `dbctl status`. runF replaces run in tests.
func NewCmdStatus(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Clients: f.Clients, BreakerStore: f.BreakerStore, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "status (NAME... | -f FILE|DIR|- | --all | -A)",
		Short: "Show the phase, conditions, children and dependencies of Databases",
		Long: `Status shows, for each Database: its phase, endpoint and generation, each condition
(type, status, reason, message, age), each child object and its readiness (e.g.
"StatefulSet orders 2/3 ready"; a Secret is only present or missing, its values are
never read into the output), and each dependency with the state of its circuit breaker
from the breaker state (--breaker-state, a file or a ConfigMap; closed when the state
does not know it).

With -f the Database names are taken from the files: nothing is applied.
--watch follows the Database (a watch, not polling) until it is Ready or Failed, or
--timeout ends, printing each change of phase or Ready condition to stderr, then the
status.

Exit codes: 0 Ready; 1 error or not found; 2 Failed (needs a person); 3 not Ready yet.
With several Databases, the most severe code wins (1 > 2 > 3 > 0).`,
		Example: `  dbctl status orders -n shop
  dbctl status -f examples/postgres.yaml --watch --timeout 10m
  dbctl status -A -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if err := opts.Input.Validate(args); err != nil {
				return err
			}
			switch opts.Output {
			case "text", "json", "yaml":
			default:
				return cmdutil.FlagErrorf("--output must be text, json or yaml, not %q", opts.Output)
			}
			if opts.Timeout <= 0 {
				return cmdutil.FlagErrorf("--timeout must be positive")
			}
			if opts.BreakerCooldown <= 0 {
				return cmdutil.FlagErrorf("--breaker-cooldown must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.ValidArgsFunction = cmdutil.CompleteDatabaseNames(f)
	opts.Input.AddFlags(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&opts.Output, "output", "o", "text", "format: text, json or yaml")
	fl.BoolVarP(&opts.Watch, "watch", "w", false, "follow until every Database is Ready or Failed (or --timeout)")
	fl.DurationVar(&opts.Timeout, "timeout", 5*time.Minute, "how long status may take (with --watch: how long to follow)")
	fl.DurationVar(&opts.BreakerCooldown, "breaker-cooldown", resilience.DefaultCooldown, "the cooldown reconcile uses, to compute an open breaker's next probe")
	return cmd
}

// finalRead is how long the read after a --watch that ran out of time may take.
const finalRead = 30 * time.Second

// outcome is the status of one Database, or why it could not be read.
type outcome struct {
	target reconcile.Target
	status *render.Status
	err    error
}

func run(ctx context.Context, opts *Options) error {
	clients, err := opts.Clients()
	if err != nil {
		return err
	}
	// --timeout bounds the reads and the --watch; after a --watch that ran out of
	// time, the final read gets a moment of its own.
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	targets, err := opts.Input.Targets(ctx, opts.IO, clients, opts.Names)
	if err != nil {
		return err
	}
	breakers, err := loadBreakers(opts)
	if err != nil {
		return err
	}
	settings := resilience.Settings{Cooldown: opts.BreakerCooldown}

	outs := make([]outcome, len(targets))
	var wg sync.WaitGroup
	var mu sync.Mutex // serialises the --watch progress lines
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = outcome{target: t}
			db, err := reconcile.GetDatabase(ctx, clients.Client, t.Namespace, t.Name)
			if err == nil && opts.Watch {
				db, err = follow(ctx, clients.Client, db, func(line string) {
					mu.Lock()
					defer mu.Unlock()
					fmt.Fprintf(opts.IO.ErrOut, "%s/%s: %s\n", t.Namespace, t.Name, line)
				})
			}
			if err != nil {
				outs[i].err = err
				return
			}
			readCtx := ctx
			if ctx.Err() != nil {
				var cancel context.CancelFunc
				readCtx, cancel = context.WithTimeout(parent, finalRead)
				defer cancel()
			}
			objs, err := readChildren(readCtx, clients.Client, db)
			if err != nil {
				outs[i].err = err
				return
			}
			pods, err := readPods(readCtx, clients.Client, db)
			if err != nil {
				outs[i].err = err
				return
			}
			st := render.NewStatus(render.StatusInput{Database: db, Live: objs, Pods: pods, Breakers: breakers, Settings: settings, Now: opts.now()})
			outs[i].status = &st
		}()
	}
	wg.Wait()
	return report(opts, outs)
}

func (o *Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

func report(opts *Options, outs []outcome) error {
	doc := render.StatusDocument{FormatVersion: render.StatusFormatVersion, Databases: []render.Status{}, Errors: []render.StatusError{}}
	codes := make([]exitcode.Code, 0, len(outs))
	for _, o := range outs {
		if o.err != nil {
			doc.Errors = append(doc.Errors, render.StatusError{Namespace: o.target.Namespace, Name: o.target.Name, Message: o.err.Error()})
			codes = append(codes, exitcode.Error)
			continue
		}
		doc.Databases = append(doc.Databases, *o.status)
		codes = append(codes, o.status.ExitCode)
	}
	doc.ExitCode = exitcode.Worst(codes...)
	var err error
	switch opts.Output {
	case "json":
		err = render.WriteJSON(opts.IO.Out, doc)
	case "yaml":
		var b []byte
		if b, err = yaml.Marshal(doc); err == nil {
			_, err = opts.IO.Out.Write(b)
		}
	default:
		err = render.WriteStatuses(opts.IO.Out, doc.Databases, render.NewStyle(opts.IO.ColorOut()))
	}
	if err != nil {
		return err
	}
	red := cmdutil.Colorizer(opts.IO.ColorErr(), 31)
	for _, e := range doc.Errors {
		fmt.Fprintf(opts.IO.ErrOut, "%s %s/%s: %s\n", red("Error:"), e.Namespace, e.Name, e.Message)
	}
	if doc.ExitCode != exitcode.OK {
		return &cmdutil.SilentError{Code: doc.ExitCode}
	}
	return nil
}

// loadBreakers reads the breaker state (a file or a ConfigMap); a state that cannot
// be read is reported and taken as every breaker closed. The error is only for a
// bad --breaker-state.
func loadBreakers(opts *Options) (map[string]*resilience.Record, error) {
	warn := func(msg string) { fmt.Fprintln(opts.IO.ErrOut, "Warning: "+msg) }
	store, err := opts.BreakerStore(warn)
	var usage *cmdutil.FlagError
	if errors.As(err, &usage) {
		return nil, err
	}
	if err != nil {
		warn(err.Error() + "; breakers shown as closed")
		return nil, nil
	}
	sf, err := store.Load()
	if err != nil {
		warn(fmt.Sprintf("%v; breakers shown as closed", err))
		return nil, nil
	}
	return sf.Breakers, nil
}

// readPods lists the Database's pods (by its labels), for their roles and readiness.
func readPods(ctx context.Context, c client.Client, db *v1alpha1.Database) ([]corev1.Pod, error) {
	list := &corev1.PodList{}
	if err := c.List(ctx, list, client.InNamespace(db.Namespace), client.MatchingLabels{
		phases.LabelInstance: db.Name, phases.LabelManagedBy: phases.ManagedBy}); err != nil {
		return nil, fmt.Errorf("listing the pods of Database %s/%s: %w", db.Namespace, db.Name, kube.Explain(err))
	}
	return list.Items, nil
}

// readChildren reads the Database's children. Only the StatefulSet is read whole
// (for its rollout); the others are read as metadata only, so that no Secret value
// is ever fetched.
func readChildren(ctx context.Context, c client.Client, db *v1alpha1.Database) (phases.Live, error) {
	children := phases.Children(db)
	objs := make([]*unstructured.Unstructured, len(children))
	errs := make([]error, len(children))
	var wg sync.WaitGroup
	for i, ch := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			objs[i], errs[i] = readChild(ctx, c, ch.GroupVersionKind(), db.Namespace, ch.Name)
		}()
	}
	wg.Wait()
	live := phases.Live{}
	for i, ch := range children {
		if objs[i] != nil {
			live[ch.Ref] = objs[i]
		}
	}
	return live, errors.Join(errs...)
}

func readChild(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error) {
	key := client.ObjectKey{Namespace: namespace, Name: name}
	var err error
	u := &unstructured.Unstructured{}
	if gvk.Kind == phases.KindStatefulSet {
		u.SetGroupVersionKind(gvk)
		err = c.Get(ctx, key, u)
	} else {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(gvk)
		if err = c.Get(ctx, key, m); err == nil {
			var obj map[string]any
			obj, err = runtime.DefaultUnstructuredConverter.ToUnstructured(m)
			u.Object = obj
			u.SetGroupVersionKind(gvk)
		}
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s %s/%s: %w", gvk.Kind, namespace, name, kube.Explain(err))
	}
	return u, nil
}

// done reports whether --watch stops at db: Ready, or Failed.
func done(db *v1alpha1.Database) bool {
	return db.IsReady() || db.Phase() == v1alpha1.PhaseFailed
}

// line is the --watch progress line of db.
func line(db *v1alpha1.Database) string {
	l := string(db.Phase())
	if c := db.Condition(v1alpha1.ConditionReady); c != nil {
		l += fmt.Sprintf(" (Ready=%s %s: %s)", c.Status, c.Reason, c.Message)
	}
	return l
}

// follow watches db (kube.WaitFor) until it is Ready or Failed, or ctx ends (then
// the last Database seen is returned, without error: the status says it is not
// Ready). It reports each change of phase or Ready condition. A deleted Database is
// an error.
func follow(ctx context.Context, c client.WithWatch, db *v1alpha1.Database, report func(string)) (*v1alpha1.Database, error) {
	last := line(db)
	report(last)
	if done(db) {
		return db, nil
	}
	lw := kube.ListWatch(c, &v1alpha1.DatabaseList{}, client.InNamespace(db.Namespace), client.MatchingFields{"metadata.name": db.Name})
	var deleted error
	err := kube.WaitFor(ctx, lw, db, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			deleted = fmt.Errorf("Database %s/%s was deleted", db.Namespace, db.Name)
			return false, deleted
		}
		next, ok := ev.Object.(*v1alpha1.Database)
		if !ok {
			return false, nil
		}
		db = next
		if l := line(db); l != last {
			last = l
			report(l)
		}
		return done(db), nil
	})
	switch {
	case err == nil:
		return db, nil
	case err == deleted:
		return nil, err
	case ctx.Err() != nil:
		report("not Ready or Failed when --timeout ended")
		return db, nil
	default:
		return nil, fmt.Errorf("watching Database %s/%s: %w", db.Namespace, db.Name, kube.Explain(err))
	}
}
