package cmdutil

import (
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/dbctl-io/dbctl/resilience"
)

// ClusterStatePrefix starts a --breaker-state that names a ConfigMap:
// cluster:NAMESPACE/NAME.
const ClusterStatePrefix = "cluster:"

// BreakerState is where --breaker-state keeps the circuit breakers: a file (Path),
// or ConfigMap Name in Namespace (Cluster).
type BreakerState struct {
	Path            string
	Cluster         bool
	Namespace, Name string
}

// String is the value that names the state: the path, or cluster:NAMESPACE/NAME.
func (b BreakerState) String() string {
	if b.Cluster {
		return ClusterStatePrefix + b.Namespace + "/" + b.Name
	}
	return b.Path
}

// ParseBreakerState parses a --breaker-state value: "cluster:NAMESPACE/NAME" names a
// ConfigMap (NAMESPACE a DNS label, NAME a DNS subdomain), anything else a file.
// The error says what is wrong, without naming the flag.
func ParseBreakerState(value string) (BreakerState, error) {
	ref, ok := strings.CutPrefix(value, ClusterStatePrefix)
	if !ok {
		if value == "" {
			return BreakerState{}, fmt.Errorf(`"": want a file path or cluster:NAMESPACE/NAME`)
		}
		return BreakerState{Path: value}, nil
	}
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return BreakerState{}, fmt.Errorf("%q: want cluster:NAMESPACE/NAME (a ConfigMap)", value)
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return BreakerState{}, fmt.Errorf("%q: namespace %q: %s", value, ns, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return BreakerState{}, fmt.Errorf("%q: ConfigMap name %q: %s", value, name, strings.Join(errs, "; "))
	}
	return BreakerState{Cluster: true, Namespace: ns, Name: name}, nil
}

// BreakerState resolves where the circuit breakers are kept: --breaker-state, else
// $DBCTL_BREAKER_STATE, else the default state file
// ($XDG_STATE_HOME/dbctl/breakers.json). A bad --breaker-state is a usage error.
func (f *Factory) BreakerState() (BreakerState, error) {
	if f.BreakerStatePath != nil && *f.BreakerStatePath != "" {
		b, err := ParseBreakerState(*f.BreakerStatePath)
		if err != nil {
			return BreakerState{}, FlagErrorf("--breaker-state %w", err)
		}
		return b, nil
	}
	getenv := f.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := getenv(resilience.EnvStatePath); v != "" {
		b, err := ParseBreakerState(v)
		if err != nil {
			return BreakerState{}, fmt.Errorf("$%s %w", resilience.EnvStatePath, err)
		}
		return b, nil
	}
	path, err := resilience.DefaultStatePath()
	if err != nil {
		return BreakerState{}, err
	}
	return BreakerState{Path: path}, nil
}

// BreakerStore returns the store of the circuit breakers that BreakerState names: a
// state file, or a ConfigMap read and written with the cluster client of Clients
// (only then are the clients built). warn receives the warnings about a corrupt
// state.
func (f *Factory) BreakerStore(warn func(msg string)) (resilience.StateStore, error) {
	b, err := f.BreakerState()
	if err != nil {
		return nil, err
	}
	if !b.Cluster {
		return resilience.NewStore(b.Path, warn), nil
	}
	if f.Clients == nil {
		return nil, fmt.Errorf("--breaker-state %s needs a cluster, and none is configured", b)
	}
	clients, err := f.Clients()
	if err != nil {
		return nil, err
	}
	return resilience.NewClusterStore(clients.Client, b.Namespace, b.Name, warn), nil
}
