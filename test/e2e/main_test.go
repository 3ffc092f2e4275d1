//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
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

	// Before `dbctl install`: what reconcile says without the CRD (TestReconcileWithoutCRD).
	if err := checkWithoutCRD(tmp); err != nil {
		return fail("%v", err)
	}
	// Every test may assume the CRD; TestSmokeInstall checks install itself.
	if _, stderr, code, err := execute(context.Background(), "", nil, dbctlBin, "--kubeconfig", kubeconfig, "install"); err != nil || code != 0 {
		return fail("dbctl install: exit %d, %v\n%s", code, err, stderr)
	}

	code := m.Run()
	outputsMu.Lock()
	fmt.Fprintf(os.Stderr, "e2e: checked %d dbctl outputs for %d passwords\n", len(outputs), len(passwords))
	outputsMu.Unlock()
	if leaks := secretLeaks(); len(leaks) > 0 {
		for _, l := range leaks {
			fmt.Fprintf(os.Stderr, "FAIL: e2e: %s\n", l)
		}
		code = 1
	}
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
	state := stateDir(t)
	stdout, stderr, exitCode, err := execute(ctx, stdin, []string{"XDG_STATE_HOME=" + state,
		"DBCTL_BREAKER_STATE=" + filepath.Join(state, "dbctl", "breakers.json")}, bin, args...)
	if bin == dbctlBin {
		recordOutput(t.Name(), args, stdout, stderr)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: did not finish in %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), commandTimeout, stdout, stderr)
	}
	if err != nil {
		t.Fatalf("running %s: %v", bin, err)
	}
	return stdout, stderr, exitCode
}

// execute runs bin with KUBECONFIG of the test cluster, NO_COLOR and env, and
// returns its outputs and exit code; err is set only when it could not be run.
func execute(ctx context.Context, stdin string, env []string, bin string, args ...string) (stdout, stderr string, exitCode int, err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(append(withoutEnv(os.Environ(), "KUBECONFIG", "NO_COLOR", "XDG_STATE_HOME", "DBCTL_BREAKER_STATE"),
		"KUBECONFIG="+kubeconfig, "NO_COLOR=1"), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		exitCode, err = exitErr.ExitCode(), nil
	}
	return out.String(), errOut.String(), exitCode, err
}

// Every output of dbctl in this run, and every password the tests read from a
// credentials Secret: secretLeaks checks that none of the outputs contains one of the
// passwords, raw or encoded (SPEC §6). Tests check it at their end (noSecretLeaks),
// TestMain once more at the very end (passwords learned by a later test).
var (
	outputsMu sync.Mutex
	outputs   []dbctlOutput
	passwords = map[string]string{} // password -> "Secret namespace/name"
)

type dbctlOutput struct {
	test, args, stdout, stderr string
}

func recordOutput(test string, args []string, stdout, stderr string) {
	outputsMu.Lock()
	defer outputsMu.Unlock()
	outputs = append(outputs, dbctlOutput{test: test, args: strings.Join(args, " "), stdout: stdout, stderr: stderr})
}

// rememberPassword registers a password that no dbctl output may contain.
func rememberPassword(password, secret string) {
	if password == "" {
		return
	}
	outputsMu.Lock()
	defer outputsMu.Unlock()
	passwords[password] = secret
}

// secretLeaks lists every dbctl output that contains a known password in any form.
func secretLeaks() []string {
	outputsMu.Lock()
	defer outputsMu.Unlock()
	var leaks []string
	for pw, secret := range passwords {
		forms := map[string]string{
			"raw":             pw,
			"base64":          base64.StdEncoding.EncodeToString([]byte(pw)),
			"base64 (no pad)": base64.RawStdEncoding.EncodeToString([]byte(pw)),
			"base64url":       base64.URLEncoding.EncodeToString([]byte(pw)),
		}
		for _, o := range outputs {
			for form, v := range forms {
				for stream, text := range map[string]string{"stdout": o.stdout, "stderr": o.stderr} {
					if strings.Contains(text, v) {
						leaks = append(leaks, fmt.Sprintf("%s: the password of %s (%s) appears in the %s of `dbctl %s`", o.test, secret, form, stream, o.args))
					}
				}
			}
		}
	}
	return leaks
}

// noSecretLeaks fails t when a dbctl output so far contains a known password.
func noSecretLeaks(t *testing.T) {
	t.Helper()
	for _, l := range secretLeaks() {
		t.Error(l)
	}
}

// Recorded by TestMain before `dbctl install`, for TestReconcileWithoutCRD.
var withoutCRD struct {
	checked bool // false when the cluster already had the CRD (a reused cluster)
	runs    []crdlessRun
}

type crdlessRun struct {
	args           []string
	stdout, stderr string
	code           int
}

// checkWithoutCRD runs dbctl reconcile (from a file and by name) against the cluster
// before the CRD is installed, when it is not installed yet.
func checkWithoutCRD(tmp string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, code, err := execute(ctx, "", nil, filepath.Join(toolsBin, "kubectl"), "--kubeconfig", kubeconfig, "get", "crd", "databases.dbctl.io")
	if err != nil || code == 0 {
		return err // code 0: the CRD exists (a reused cluster): nothing to check
	}
	file := filepath.Join(tmp, "nocrd.yaml")
	spec := "apiVersion: dbctl.io/v1alpha1\nkind: Database\nmetadata: {name: nocrd, namespace: default}\n" +
		"spec: {engine: postgres, version: \"16\", storage: {size: 1Gi}}\n"
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		return err
	}
	withoutCRD.checked = true
	for _, args := range [][]string{
		{"reconcile", "-f", file, "--timeout", "30s"},
		{"reconcile", "-n", "default", "nocrd", "--timeout", "30s"},
	} {
		all := append([]string{"--kubeconfig", kubeconfig}, args...)
		state := filepath.Join(tmp, "state")
		stdout, stderr, code, err := execute(ctx, "", []string{"XDG_STATE_HOME=" + state,
			"DBCTL_BREAKER_STATE=" + filepath.Join(state, "breakers.json")}, dbctlBin, all...)
		if err != nil {
			return fmt.Errorf("dbctl %s: %w", strings.Join(args, " "), err)
		}
		recordOutput("TestMain (no CRD)", all, stdout, stderr)
		withoutCRD.runs = append(withoutCRD.runs, crdlessRun{args: args, stdout: stdout, stderr: stderr, code: code})
	}
	return nil
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
