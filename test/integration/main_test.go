// Package integration tests dbctl's commands in-process against a real kube-apiserver
// and etcd (envtest, see test/testenv), with the Database CRD installed. No controllers
// run there; end-to-end tests with a full (kwok) cluster are in test/e2e.
package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/cmd/root"
	"github.com/dbctl-io/dbctl/test/testenv"
)

// env is the package's API server, with the Database CRD (installed by envtest from
// config/crd/bases).
var env *testenv.Env

func TestMain(m *testing.M) {
	if os.Getenv(clusterStoreHelperEnv) != "" {
		// A helper process of a cross-process test: it needs no API server of its own.
		os.Exit(clusterStoreHelper())
	}
	var stop func()
	env, stop = testenv.Shared(m)
	code := m.Run()
	stop()
	os.Exit(code)
}

// runDbctl runs `dbctl args...` in-process against e (the package's env when nil), as
// the binary would (root.Run), with a breaker state file of the test's own, and
// returns its outputs and exit code.
func runDbctl(t *testing.T, e *testenv.Env, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	return runDbctlEnv(t, e, nil, args...)
}

// runDbctlEnv is runDbctl with an environment (nothing else is read from the
// process's environment).
func runDbctlEnv(t *testing.T, e *testenv.Env, environ map[string]string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	if e == nil {
		e = env
	}
	var out, errOut bytes.Buffer
	f := cmdutil.New()
	f.IOStreams = cmdutil.Test(strings.NewReader(""), &out, &errOut)
	f.Getenv = func(k string) string { return environ[k] }
	var clients *cmdutil.Clients
	f.Clients = func() (*cmdutil.Clients, error) {
		if clients != nil {
			return clients, nil
		}
		ns, explicit := "default", false
		if f.ConfigFlags.Namespace != nil && *f.ConfigFlags.Namespace != "" {
			ns, explicit = *f.ConfigFlags.Namespace, true
		}
		c, err := cmdutil.NewClients(e.Config, ns, explicit, *f.QPS, *f.Burst)
		clients = c
		return c, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	exitCode = int(root.Run(ctx, f, append([]string{"--breaker-state", filepath.Join(t.TempDir(), "breakers.json")}, args...)))
	return out.String(), errOut.String(), exitCode
}
