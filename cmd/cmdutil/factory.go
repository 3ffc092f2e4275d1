package cmdutil

import (
	"fmt"
	"os"
	"sync"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/reconcile/kube"
	"github.com/dbctl-io/dbctl/reconcile/redact"
)

// Factory hands commands their dependencies. Commands copy what they need into their
// Options in NewCmdX, and call the functions only in run, so that tests can replace
// any of them.
type Factory struct {
	IOStreams   *IOStreams
	ConfigFlags *genericclioptions.ConfigFlags
	// Verbose is set by -v: debug output on stderr (never secret values).
	Verbose *bool
	// QPS and Burst bound client-side throttling.
	QPS   *float32
	Burst *int
	// BreakerStatePath is --breaker-state (default from DBCTL_BREAKER_STATE, else
	// $XDG_STATE_HOME/dbctl/breakers.json); empty means the default.
	BreakerStatePath *string
	// CIFlag is --ci: auto (GitHub Actions when GITHUB_ACTIONS=true), github or none.
	CIFlag *string
	// Getenv reads the environment.
	Getenv func(string) string
	// Secrets holds every secret value the run has seen; IOStreams redact them.
	Secrets *redact.Set
	// Now is the clock.
	Now func() time.Time

	// Clients returns the cluster clients, built once on first use.
	Clients func() (*Clients, error)
}

// Clients are the cluster clients of one run.
type Clients struct {
	Config *rest.Config
	Client client.WithWatch
	// Namespace is -n, else the kubeconfig context's namespace, else "default".
	Namespace string
	// NamespaceExplicit is true when -n was given.
	NamespaceExplicit bool
	// Requests counts API requests by verb.
	Requests *kube.RequestCounter
}

// New returns a Factory for the real process: system streams, kubectl-style config flags.
func New() *Factory {
	secrets := &redact.Set{}
	f := &Factory{
		IOStreams:        System().Redacted(secrets),
		Secrets:          secrets,
		ConfigFlags:      genericclioptions.NewConfigFlags(true).WithDiscoveryBurst(300).WithDiscoveryQPS(50),
		Verbose:          new(bool),
		QPS:              new(float32),
		Burst:            new(int),
		BreakerStatePath: new(string),
		CIFlag:           new(string),
		Getenv:           os.Getenv,
		Now:              time.Now,
	}
	// One limiter for the whole run (NewClients). 500/1000 never binds a no-op run of
	// 200 Databases (1400 requests) or a cold one (~190 requests/s): the API server's
	// priority and fairness, not the client, paces dbctl (BENCHMARKS.md).
	*f.QPS, *f.Burst = 500, 1000
	f.Clients = sync.OnceValues(f.buildClients)
	return f
}

// CI returns the CI integration selected by --ci and the environment; it writes
// workflow commands to stderr.
func (f *Factory) CI() (*CI, error) {
	flag, getenv := "", os.Getenv
	if f.CIFlag != nil {
		flag = *f.CIFlag
	}
	if f.Getenv != nil {
		getenv = f.Getenv
	}
	return NewCI(flag, getenv, f.IOStreams.ErrOut)
}

func (f *Factory) buildClients() (*Clients, error) {
	loader := f.ConfigFlags.ToRawKubeConfigLoader()
	cfg, err := loader.ClientConfig()
	if err != nil {
		if isEmptyConfig(err) {
			return nil, ErrNoCluster
		}
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	getenv := f.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	flag := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	flags := f.ConfigFlags
	if err := checkConfigured(cfg, raw, flag(flags.APIServer), flag(flags.Context), flag(flags.ClusterName), getenv); err != nil {
		return nil, err
	}
	ns, explicit, err := loader.Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the namespace from kubeconfig: %w", err)
	}
	if f.ConfigFlags.Namespace != nil && *f.ConfigFlags.Namespace != "" {
		ns, explicit = *f.ConfigFlags.Namespace, true
	}
	return NewClients(cfg, ns, explicit, *f.QPS, *f.Burst)
}

// NewClients builds Clients from a rest.Config (tests use it with envtest's config).
func NewClients(cfg *rest.Config, namespace string, explicit bool, qps float32, burst int) (*Clients, error) {
	cfg = rest.CopyConfig(cfg)
	if qps > 0 {
		cfg.QPS = qps
	}
	if burst > 0 {
		cfg.Burst = burst
	}
	if cfg.QPS > 0 && cfg.RateLimiter == nil {
		// controller-runtime builds a REST client per kind, each with its own token
		// bucket from QPS/Burst: 7 kinds made --qps 50 a limit of 50 per kind (the
		// Services, read twice per Database, paced a cold run of 200). One bucket
		// shared by every client makes --qps the limit of the whole run.
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, max(cfg.Burst, 1))
	}
	cfg.UserAgent = "dbctl"
	counter := &kube.RequestCounter{}
	cfg.Wrap(counter.Wrap)
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: kube.NewScheme(), Mapper: kube.NewRESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	if namespace == "" {
		namespace = "default"
	}
	return &Clients{Config: cfg, Client: c, Namespace: namespace, NamespaceExplicit: explicit, Requests: counter}, nil
}
