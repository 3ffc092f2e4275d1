package cmdutil

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbctl-io/dbctl/resilience"
)

func TestParseBreakerState(t *testing.T) {
	good := map[string]BreakerState{
		"/var/lib/dbctl/breakers.json":              {Path: "/var/lib/dbctl/breakers.json"},
		"breakers.json":                             {Path: "breakers.json"},
		"./cluster:x/y":                             {Path: "./cluster:x/y"},
		"cluster:dbctl-system/dbctl-breakers":       {Cluster: true, Namespace: "dbctl-system", Name: "dbctl-breakers"},
		"cluster:ci/breakers.v1":                    {Cluster: true, Namespace: "ci", Name: "breakers.v1"},
		"cluster:a/" + strings.Repeat("b", 253):     {Cluster: true, Namespace: "a", Name: strings.Repeat("b", 253)},
		"cluster:" + strings.Repeat("n", 63) + "/x": {Cluster: true, Namespace: strings.Repeat("n", 63), Name: "x"},
	}
	for in, want := range good {
		got, err := ParseBreakerState(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseBreakerState(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                                       "want a file path or cluster:NAMESPACE/NAME",
		"cluster:":                               "want cluster:NAMESPACE/NAME",
		"cluster:ns":                             "want cluster:NAMESPACE/NAME",
		"cluster:/name":                          "want cluster:NAMESPACE/NAME",
		"cluster:ns/":                            "want cluster:NAMESPACE/NAME",
		"cluster:ns/a/b":                         "want cluster:NAMESPACE/NAME",
		"cluster:Bad_NS/name":                    `namespace "Bad_NS"`,
		"cluster:a.b/name":                       `namespace "a.b"`,
		"cluster:ns/Bad_Name":                    `ConfigMap name "Bad_Name"`,
		"cluster:ns/" + strings.Repeat("b", 254): "ConfigMap name",
	}
	for in, want := range bad {
		if _, err := ParseBreakerState(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseBreakerState(%q): error %v, want one saying %q", in, err, want)
		}
	}
}

// TestFactoryBreakerState: the flag wins over $DBCTL_BREAKER_STATE, which wins over
// the default file; a bad flag is a usage error naming the flag, a bad variable an
// error naming the variable.
func TestFactoryBreakerState(t *testing.T) {
	env := map[string]string{}
	flag := ""
	f := &Factory{BreakerStatePath: &flag, Getenv: func(k string) string { return env[k] }}
	t.Setenv("XDG_STATE_HOME", "/state")
	if b, err := f.BreakerState(); err != nil || b != (BreakerState{Path: filepath.Join("/state", "dbctl", "breakers.json")}) {
		t.Fatalf("default: %+v, %v", b, err)
	}
	env[resilience.EnvStatePath] = "cluster:ci/breakers"
	if b, err := f.BreakerState(); err != nil || !b.Cluster || b.Namespace != "ci" || b.Name != "breakers" {
		t.Fatalf("from the environment: %+v, %v", b, err)
	}
	flag = "/tmp/b.json"
	if b, err := f.BreakerState(); err != nil || b != (BreakerState{Path: "/tmp/b.json"}) {
		t.Fatalf("from the flag: %+v, %v", b, err)
	}

	flag = "cluster:ns"
	_, err := f.BreakerState()
	var fe *FlagError
	if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), `--breaker-state "cluster:ns": `) {
		t.Fatalf("bad flag: %v", err)
	}
	flag = ""
	env[resilience.EnvStatePath] = "cluster:NS/x"
	_, err = f.BreakerState()
	if err == nil || errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "$DBCTL_BREAKER_STATE \"cluster:NS/x\": ") {
		t.Fatalf("bad variable: %v", err)
	}
}

// TestFactoryBreakerStore: a file store needs no cluster; a ConfigMap is read with
// the clients, and without a cluster the error says so.
func TestFactoryBreakerStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	f := &Factory{BreakerStatePath: &path}
	store, err := f.BreakerStore(nil)
	if err != nil || store.Location() != path {
		t.Fatalf("file store %v, %v", store, err)
	}
	if _, ok := store.(*resilience.Store); !ok {
		t.Fatalf("a path opens a %T", store)
	}

	cluster := "cluster:dbctl-system/dbctl-breakers"
	f = &Factory{BreakerStatePath: &cluster, Clients: func() (*Clients, error) { return nil, ErrNoCluster }}
	if _, err := f.BreakerStore(nil); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("without a cluster: %v", err)
	}
	f.Clients = func() (*Clients, error) { return &Clients{}, nil }
	store, err = f.BreakerStore(nil)
	if err != nil || store.Location() != "ConfigMap dbctl-system/dbctl-breakers" {
		t.Fatalf("cluster store %v, %v", store, err)
	}
	if _, ok := store.(*resilience.ClusterStore); !ok {
		t.Fatalf("cluster: opens a %T", store)
	}
}
