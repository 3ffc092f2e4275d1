// Package controller implements `dbctl controller`: the engine of `dbctl
// reconcile` driven by controller-runtime's manager (watches, a work queue, leader
// election, metrics, probes), one engine step per reconcile call.
package controller

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/reconcile/kube"
	"github.com/dbctl-io/dbctl/resilience"
)

// DefaultBreakerState is where the controller keeps the circuit breakers unless
// --breaker-state or $DBCTL_BREAKER_STATE says otherwise: shared by its replicas
// and by the CLI runs that name it.
const DefaultBreakerState = "cluster:dbctl-system/dbctl-breakers"

// Options of `dbctl controller`.
type Options struct {
	IO      *cmdutil.IOStreams
	Clients func() (*cmdutil.Clients, error)
	Factory *cmdutil.Factory

	LeaderElect             bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	LeaseDuration           time.Duration
	RenewDeadline           time.Duration
	RetryPeriod             time.Duration
	MetricsAddr             string
	ProbeAddr               string
	Selector                string
	Concurrency             int
	RetryInitial            time.Duration
	RetryMax                time.Duration
	ForceConflicts          bool
	DependencyQPS           float64
	BreakerThreshold        int
	BreakerCooldown         time.Duration
	ShutdownTimeout         time.Duration
}

// NewCmdController builds `dbctl controller`. runF replaces run in tests.
func NewCmdController(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Clients: f.Clients, Factory: f}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Keep Databases reconciled from inside the cluster (a leader-elected controller)",
		Long: `Controller runs the engine of dbctl reconcile continuously: it watches Databases
(every namespace, or the one -n names; -l selects them by label) and the children they
own, and steps each Database's state machine once per event, as reconcile would, with
the same field manager, so the two never fight. What reconcile waits for becomes a
requeue: a rollout comes back through the StatefulSet's watch (or at its verify
deadline), a dependency down or a failed step after the SPEC §5 backoff, a Failed
Database at its retry time, an open circuit at its next probe. A child edited by hand
is taken back at once.

Only one replica works at a time (leader election with a Lease, on by default); the
others wait to take over. Circuit breakers are kept in the ConfigMap
dbctl-system/dbctl-breakers by default, shared with the other replicas and with
dbctl reconcile --breaker-state cluster:dbctl-system/dbctl-breakers.

Metrics (controller-runtime's and dbctl_database_phase, dbctl_database_ready,
dbctl_breaker_state, dbctl_breaker_failures) on --metrics-bind-address; /healthz and
/readyz on --health-probe-bind-address. SIGTERM or SIGINT stops it gracefully (the
lease is released). It runs in the cluster (config/controller) or outside with a
kubeconfig.`,
		Example: `  kubectl apply -k config/controller
  dbctl controller --leader-elect=false -n shop
  dbctl controller -l team=payments --metrics-bind-address :9090`,
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Concurrency < 1 {
				return cmdutil.FlagErrorf("--concurrency must be at least 1")
			}
			if _, err := labels.Parse(opts.Selector); err != nil {
				return cmdutil.FlagErrorf("--selector %q: %v", opts.Selector, err)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.LeaderElect, "leader-elect", true, "elect one active replica with a Lease")
	fl.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "dbctl-system", "namespace of the leader election Lease")
	fl.StringVar(&opts.LeaderElectionID, "leader-election-id", "dbctl-controller", "name of the leader election Lease")
	fl.DurationVar(&opts.LeaseDuration, "leader-election-lease-duration", 15*time.Second, "how long a leader's lease lasts without renewal (a standby takes over after it)")
	fl.DurationVar(&opts.RenewDeadline, "leader-election-renew-deadline", 10*time.Second, "how long the leader tries to renew before it gives up leading")
	fl.DurationVar(&opts.RetryPeriod, "leader-election-retry-period", 2*time.Second, "how often candidates try to acquire or renew the lease")
	fl.StringVar(&opts.MetricsAddr, "metrics-bind-address", ":8080", `address of the metrics endpoint ("0" disables it)`)
	fl.StringVar(&opts.ProbeAddr, "health-probe-bind-address", ":8081", `address of /healthz and /readyz ("0" disables them)`)
	fl.StringVarP(&opts.Selector, "selector", "l", "", "reconcile only the Databases with these labels (e.g. team=payments)")
	fl.IntVar(&opts.Concurrency, "concurrency", 4, "how many Databases are stepped at once")
	fl.DurationVar(&opts.RetryInitial, "retry-initial", 5*time.Second, "first backoff after a failed step or a dependency down (doubles each time)")
	fl.DurationVar(&opts.RetryMax, "retry-max", 5*time.Minute, "longest backoff")
	fl.BoolVar(&opts.ForceConflicts, "force-conflicts", false, "take fields that another applier owns")
	fl.Float64Var(&opts.DependencyQPS, "dependency-qps", resilience.DefaultQPS, "checks per second allowed per dependency")
	fl.IntVar(&opts.BreakerThreshold, "breaker-threshold", 5, "consecutive failures that open a dependency's circuit breaker")
	fl.DurationVar(&opts.BreakerCooldown, "breaker-cooldown", time.Minute, "how long an open circuit breaker waits before one probe")
	fl.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long the steps in flight may take to finish on SIGTERM")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	clients, err := opts.Clients()
	if err != nil {
		return err
	}
	log := logr.FromSlogHandler(slog.NewJSONHandler(opts.IO.ErrOut, nil))
	ctrl.SetLogger(log)
	mgr, err := newManager(opts, clients, log)
	if err != nil {
		return err
	}
	r, err := newReconciler(opts, clients, mgr, log)
	if err != nil {
		return err
	}
	if err := register(mgr, r, opts); err != nil {
		return err
	}
	log.Info("starting", "namespace", watched(clients), "selector", opts.Selector, "leaderElect", opts.LeaderElect)
	go func() {
		select {
		case <-mgr.Elected():
			log.Info("leading: reconciling Databases")
		case <-ctx.Done():
		}
	}()
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the controller: %w", err)
	}
	log.Info("stopped")
	return nil
}

// watched is the namespace -n names ("" for every namespace): the controller
// does not take the kubeconfig's namespace.
func watched(clients *cmdutil.Clients) string {
	if clients.NamespaceExplicit {
		return clients.Namespace
	}
	return ""
}

// newManager builds the manager: its caches hold Databases (those -l selects) and
// only the children dbctl labels; the engine reads through a direct client, so a
// credentials Secret restored without dbctl's labels is still found, and no other
// Secret of the cluster is ever loaded.
func newManager(opts *Options, clients *cmdutil.Clients, log logr.Logger) (manager.Manager, error) {
	scheme := kube.NewScheme()
	selector, _ := labels.Parse(opts.Selector)
	managed := labels.SelectorFromSet(labels.Set{phases.LabelManagedBy: phases.ManagedBy})
	cacheOpts := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&v1alpha1.Database{}:            {Label: selector},
		&corev1.Secret{}:                {Label: managed},
		&corev1.ConfigMap{}:             {Label: managed},
		&corev1.Service{}:               {Label: managed},
		&appsv1.StatefulSet{}:           {Label: managed},
		&policyv1.PodDisruptionBudget{}: {Label: managed},
		&batchv1.CronJob{}:              {Label: managed},
	}}
	if ns := watched(clients); ns != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{ns: {}}
	}
	shutdown := opts.ShutdownTimeout
	mgr, err := ctrl.NewManager(clients.Config, ctrl.Options{
		Scheme:                        scheme,
		Logger:                        log,
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:        opts.ProbeAddr,
		LeaderElection:                opts.LeaderElect,
		LeaderElectionID:              opts.LeaderElectionID,
		LeaderElectionNamespace:       opts.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &opts.LeaseDuration,
		RenewDeadline:                 &opts.RenewDeadline,
		RetryPeriod:                   &opts.RetryPeriod,
		GracefulShutdownTimeout:       &shutdown,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the controller manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// newReconciler builds the engine the CLI uses, on the direct client, with the
// breaker state of --breaker-state (by default the cluster's).
func newReconciler(opts *Options, clients *cmdutil.Clients, mgr manager.Manager, log logr.Logger) (*Reconciler, error) {
	if *opts.Factory.BreakerStatePath == "" && opts.Factory.Getenv(resilience.EnvStatePath) == "" {
		*opts.Factory.BreakerStatePath = DefaultBreakerState
	}
	store, err := opts.Factory.BreakerStore(func(msg string) { log.Info("warning: " + msg) })
	if err != nil {
		return nil, err
	}
	m, err := NewMetrics(metrics.Registry)
	if err != nil {
		return nil, err
	}
	if sf, err := store.Load(); err == nil {
		m.breakers(sf)
	} else {
		log.Info("warning: reading the circuit breakers", "store", store.Location(), "error", err.Error())
	}
	policy := resilience.Policy{Initial: opts.RetryInitial, Max: opts.RetryMax}
	engine := &reconcile.Engine{
		Client: clients.Client,
		Retry:  policy,
		Dependencies: &reconcile.DependencyChecker{Guard: &resilience.Guard{
			Limiters: resilience.NewLimiters(opts.DependencyQPS, 1),
			Store:    ObservedStore{StateStore: store, Metrics: m},
			Settings: resilience.Settings{Threshold: opts.BreakerThreshold, Cooldown: opts.BreakerCooldown},
		}},
		ForceConflicts: opts.ForceConflicts,
		Secrets:        opts.Factory.Secrets,
	}
	return &Reconciler{Engine: engine, Policy: policy, Recorder: mgr.GetEventRecorder("dbctl"), Metrics: m,
		Log: log.WithName("database"), Secrets: opts.Factory.Secrets}, nil
}

// register watches Databases (a change of spec: status writes, the controller's
// own included, do not step them again) and the children they own (any change:
// a hand edit, a rollout's progress).
func register(mgr manager.Manager, r *Reconciler, opts *Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("database").
		For(&v1alpha1.Database{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.Secret{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Service{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&batchv1.CronJob{}).
		// Unique names are checked per process: tests run several managers in one.
		WithOptions(ctrlcontroller.Options{MaxConcurrentReconciles: opts.Concurrency, SkipNameValidation: ptr.To(true)}).
		Complete(r)
}
