//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/dbctl-io/dbctl/reconcile/kube"
	"github.com/dbctl-io/dbctl/test/testenv"
)

// Set by TestMain.
var (
	repoRoot    string
	toolsBin    string // hack/k8s-tools.sh's bin directory (kubectl, kwokctl, ...)
	dbctlBin    string // the dbctl binary under test
	clusterName string
	kubeconfig  string // the kwok cluster's admin kubeconfig
)

// commandTimeout bounds every dbctl and kubectl run.
const commandTimeout = 5 * time.Minute

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	// The clients of this binary log through controller-runtime's logger: to stderr, and
	// no "log.SetLogger(...) was never called" warning with a stack trace after 30 s.
	ctrllog.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, nil)))
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "FAIL: e2e: "+format+"\n", args...)
		return 1
	}
	var err error
	if repoRoot, err = testenv.RepoRoot(); err != nil {
		return fail("%v", err)
	}
	if toolsBin, err = testenv.BinDir(); err != nil {
		return fail("%v", err)
	}
	for _, name := range []string{"kubectl", "kwokctl", "kwok", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(toolsBin, name)); err != nil {
			return fail("%s not found in %s: run `make tools` (hack/k8s-tools.sh)", name, toolsBin)
		}
	}
	tmp, err := os.MkdirTemp("", "dbctl-e2e-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)

	start := time.Now()
	dbctlBin = filepath.Join(tmp, "dbctl")
	build := exec.Command("go", "build", "-o", dbctlBin, "./cmd/dbctl")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fail("go build ./cmd/dbctl: %v\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "e2e: built dbctl in %v\n", time.Since(start).Round(time.Millisecond))

	keep := os.Getenv("DBCTL_E2E_KEEP") != ""
	clusterName = os.Getenv("DBCTL_E2E_CLUSTER")
	if clusterName != "" {
		keep = true
	} else {
		suffix := make([]byte, 3)
		_, _ = rand.Read(suffix)
		clusterName = fmt.Sprintf("e2e-%d-%s", os.Getpid(), hex.EncodeToString(suffix))
	}
	clusterEnv := "DBCTL_CLUSTER=" + shellQuote(clusterName)
	down := clusterEnv + " bash " + shellQuote(filepath.Join(repoRoot, "hack", "cluster.sh")) + " down"
	if !keep {
		// Registered before `up`, so that a cluster half-created when we die goes too.
		cancel, err := testenv.OnExit("echo 'e2e: the test binary died: deleting cluster " + clusterName + "' >&2; " + down + "; rm -rf " + shellQuote(tmp))
		if err != nil {
			return fail("%v", err)
		}
		defer func() {
			cmd := exec.Command("bash", "-c", down)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: deleting cluster %s: %v\n", clusterName, err)
			}
			cancel()
		}()
	}

	start = time.Now()
	up := exec.Command("bash", filepath.Join(repoRoot, "hack", "cluster.sh"), "up")
	up.Env = append(os.Environ(), "DBCTL_CLUSTER="+clusterName)
	up.Stderr = os.Stderr
	out, err := up.Output()
	if err != nil {
		return fail("hack/cluster.sh up (DBCTL_CLUSTER=%s): %v", clusterName, err)
	}
	kubeconfig = strings.TrimPrefix(lastLine(string(out)), "export KUBECONFIG=")
	if _, err := os.Stat(kubeconfig); err != nil {
		return fail("hack/cluster.sh up printed %q, not export KUBECONFIG=<file>", out)
	}
	fmt.Fprintf(os.Stderr, "e2e: kwok cluster %s up in %v\n", clusterName, time.Since(start).Round(time.Millisecond))

	code := m.Run()
	if keep {
		fmt.Fprintf(os.Stderr, "e2e: kept cluster %s: export KUBECONFIG=%s; delete it with %s\n", clusterName, kubeconfig, down)
	}
	return code
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// stateDirs holds each test's XDG_STATE_HOME, so that the runs of one test share the
// breaker state file, and tests do not share it (nor touch the user's).
var stateDirs sync.Map // *testing.T -> string

func stateDir(t *testing.T) string {
	if d, ok := stateDirs.Load(t); ok {
		return d.(string)
	}
	d := t.TempDir()
	stateDirs.Store(t, d)
	t.Cleanup(func() { stateDirs.Delete(t) })
	return d
}

// runDbctl runs the dbctl binary with --kubeconfig of the test cluster (KUBECONFIG is
// set to it too), NO_COLOR, and a state directory of the test's own. It returns the
// outputs and the exit code; it fails the test only when dbctl cannot be run or
// exceeds commandTimeout.
func runDbctl(t *testing.T, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	return runIn(t, "", dbctlBin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

// runDbctlStdin is runDbctl with stdin (for -f -).
func runDbctlStdin(t *testing.T, stdin string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	return runIn(t, stdin, dbctlBin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

// kubectl runs kubectl against the test cluster and returns its stdout; it fails the
// test when kubectl fails.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := runIn(t, "", filepath.Join(toolsBin, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	if code != 0 {
		t.Fatalf("kubectl %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

func runIn(t *testing.T, stdin, bin string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 10 * time.Second
	state := stateDir(t)
	cmd.Env = append(withoutEnv(os.Environ(), "KUBECONFIG", "NO_COLOR", "XDG_STATE_HOME", "DBCTL_BREAKER_STATE"),
		"KUBECONFIG="+kubeconfig, "NO_COLOR=1", "XDG_STATE_HOME="+state,
		"DBCTL_BREAKER_STATE="+filepath.Join(state, "dbctl", "breakers.json"))
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: did not finish in %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), commandTimeout, out.String(), errOut.String())
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		exitCode = exitErr.ExitCode()
	default:
		t.Fatalf("running %s: %v", bin, err)
	}
	return out.String(), errOut.String(), exitCode
}

func withoutEnv(env []string, names ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || name == n
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

var (
	clientOnce sync.Once
	sharedC    client.WithWatch
	clientErr  error
)

// newClient returns an admin client of the test cluster with dbctl's scheme.
func newClient(t *testing.T) client.WithWatch {
	t.Helper()
	clientOnce.Do(func() {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			clientErr = err
			return
		}
		cfg.QPS, cfg.Burst = 100, 200
		sharedC, clientErr = client.NewWithWatch(cfg, client.Options{Scheme: kube.NewScheme()})
	})
	if clientErr != nil {
		t.Fatalf("client for %s: %v", kubeconfig, clientErr)
	}
	return sharedC
}

var nsUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// namespace creates a fresh namespace named after the test and deletes it after the
// test (unless DBCTL_E2E_KEEP is set).
func namespace(t *testing.T) string {
	t.Helper()
	prefix := strings.Trim(nsUnsafe.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(prefix) > 40 {
		prefix = strings.TrimRight(prefix[:40], "-")
	}
	c := newClient(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-" + prefix + "-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	if os.Getenv("DBCTL_E2E_KEEP") == "" {
		t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
	}
	return ns.Name
}
