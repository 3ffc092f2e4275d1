package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/dbctl-io/dbctl/reconcile/kube"
)

// Module is the module path of the repository, used to find its root.
const Module = "github.com/dbctl-io/dbctl"

// Env is a running kube-apiserver + etcd.
type Env struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Client is an admin client with dbctl's scheme (kube.NewScheme) and a discovery
	// based REST mapper, so it also knows kinds created during the test.
	Client client.WithWatch
	// Kubeconfig is the path of an admin kubeconfig file, for running the dbctl binary
	// or a command with --kubeconfig.
	Kubeconfig string
	// Stop stops the API server and etcd and removes their files. It is safe to call
	// more than once; Start calls it from t.Cleanup.
	Stop func()

	te  *envtest.Environment
	dir string
}

type options struct {
	crd          bool
	noStreamList bool
}

// Option configures Start and Shared.
type Option func(*options)

// WithoutCRD starts the API server without the Database CRD (to test what commands
// do when `dbctl install` has not been run).
func WithoutCRD() Option { return func(o *options) { o.crd = false } }

// WithoutStreamingLists starts the API server with the WatchList feature off, as
// Kubernetes 1.33 and releases before 1.32 run by default: a watch cannot stream the
// initial state, so an informer lists first (and needs the list verb).
func WithoutStreamingLists() Option { return func(o *options) { o.noStreamList = true } }

// Start starts an environment for one test (or benchmark) and stops it in tb.Cleanup.
// It fails tb when it cannot start, e.g. when the binaries are missing.
func Start(tb testing.TB, opts ...Option) *Env {
	tb.Helper()
	env, err := start(opts...)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(env.Stop)
	return env
}

// Shared starts the environment of a test package, for TestMain (see the package
// documentation); the returned function stops it. When the environment cannot start,
// Shared prints why and exits with status 1: every test of the package fails.
func Shared(m *testing.M, opts ...Option) (*Env, func()) {
	_ = m // only a TestMain has an *testing.M: Shared is for TestMain
	env, err := start(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: testenv: %v\n", err)
		os.Exit(1)
	}
	return env, env.Stop
}

func start(opts ...Option) (_ *Env, err error) {
	o := options{crd: true}
	for _, opt := range opts {
		opt(&o)
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dbctl-testenv-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()

	te := &envtest.Environment{
		// Never USE_EXISTING_CLUSTER from the environment: tests must not touch a real cluster.
		UseExistingCluster:   new(false),
		DownloadBinaryAssets: false,
		Scheme:               kube.NewScheme(),
	}
	if o.crd {
		te.CRDDirectoryPaths = []string{filepath.Join(root, "config", "crd", "bases")}
		te.ErrorIfCRDPathMissing = true
	}
	// Explicit paths: no lookup through TEST_ASSET_* or /usr/local/kubebuilder. The data
	// and certificate directories are ours, so that OnExit can remove them.
	te.ControlPlane.GetAPIServer().Path = filepath.Join(bin, "kube-apiserver")
	if o.noStreamList {
		te.ControlPlane.GetAPIServer().Configure().Append("feature-gates", "WatchList=false")
	}
	te.ControlPlane.GetAPIServer().CertDir = filepath.Join(dir, "apiserver")
	te.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(bin, "etcd"), DataDir: filepath.Join(dir, "etcd")}
	te.ControlPlane.KubectlPath = filepath.Join(bin, "kubectl")
	for _, d := range []string{te.ControlPlane.GetAPIServer().CertDir, te.ControlPlane.Etcd.DataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}

	// If this process dies without stopping them (a panic, -timeout, Ctrl-C, SIGKILL,
	// even during te.Start), a watchdog stops them: the processes whose arguments name
	// our directories (the script itself names them only through $d).
	cancelReaper, err := OnExit(`d=` + shellQuote(dir) + `
pids=
for f in /proc/[0-9]*/cmdline; do
  c=$(tr '\0' ' ' <"$f" 2>/dev/null) || continue
  case "$c" in *"--data-dir=$d/etcd "*|*"--cert-dir=$d/apiserver "*) p=${f#/proc/}; pids="$pids ${p%/cmdline}" ;; esac
done
if [ -n "$pids" ]; then kill -TERM $pids 2>/dev/null; sleep 2; kill -KILL $pids 2>/dev/null; fi
rm -rf "$d"`)
	if err != nil {
		return nil, err
	}
	cfg, err := te.Start()
	if err != nil {
		_ = te.Stop()
		cancelReaper()
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", bin, err)
	}

	env := &Env{Config: cfg, te: te, dir: dir}
	var once sync.Once
	env.Stop = func() {
		once.Do(func() {
			if err := te.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "testenv: stopping the control plane: %v\n", err)
			}
			cancelReaper()
			_ = os.RemoveAll(dir)
		})
	}
	defer func() {
		if err != nil {
			env.Stop()
		}
	}()

	env.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(env.Kubeconfig, te.KubeConfig, 0o600); err != nil {
		return nil, err
	}
	env.Client, err = client.NewWithWatch(cfg, client.Options{Scheme: te.Scheme})
	if err != nil {
		return nil, fmt.Errorf("creating the client: %w", err)
	}
	return env, nil
}

var nsUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace with a fresh name derived from the test's name, and
// returns its name. It is not deleted afterwards: without a namespace controller
// envtest would only mark it Terminating; everything goes when the Env stops.
func (e *Env) Namespace(tb testing.TB) string {
	tb.Helper()
	prefix := strings.Trim(nsUnsafe.ReplaceAllString(strings.ToLower(tb.Name()), "-"), "-")
	if len(prefix) > 40 {
		prefix = strings.TrimRight(prefix[:40], "-")
	}
	if prefix == "" || prefix[0] < 'a' || prefix[0] > 'z' {
		prefix = "t" + prefix
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		tb.Fatalf("testenv: creating a namespace: %v", err)
	}
	return ns.Name
}

// KubeconfigFor writes a kubeconfig for another identity (a client certificate for
// user in groups; it has no permissions until RBAC grants them) and returns its path,
// which is removed when the test ends.
func (e *Env) KubeconfigFor(tb testing.TB, user string, groups ...string) string {
	tb.Helper()
	u, err := e.te.AddUser(envtest.User{Name: user, Groups: groups}, nil)
	if err != nil {
		tb.Fatalf("testenv: adding user %s: %v", user, err)
	}
	data, err := u.KubeConfig()
	if err != nil {
		tb.Fatalf("testenv: kubeconfig of user %s: %v", user, err)
	}
	path := filepath.Join(tb.TempDir(), "kubeconfig-"+nsUnsafe.ReplaceAllString(strings.ToLower(user), "-"))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return path
}

// RepoRoot returns the root of the dbctl repository, found from the working directory
// (a test runs in its package's directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if line, _, _ := bytes.Cut(data, []byte("\n")); strings.TrimSpace(string(line)) == "module "+Module {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory", Module)
		}
		dir = parent
	}
}

// BinDir returns the directory of the Kubernetes binaries: $KUBEBUILDER_ASSETS when
// set, else the one hack/k8s-tools.sh builds into. It fails, saying to run `make tools`,
// when kube-apiserver or etcd is not there.
func BinDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	from := "KUBEBUILDER_ASSETS"
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		out, err := exec.Command("bash", filepath.Join(root, "hack", "k8s-tools.sh"), "--print-dir").Output()
		if err != nil {
			return "", fmt.Errorf("hack/k8s-tools.sh --print-dir: %w", err)
		}
		dir = lastLine(string(out))
		from = "hack/k8s-tools.sh"
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s not found in %s (from %s): run `make tools` (hack/k8s-tools.sh builds the Kubernetes binaries from the Go module proxy)", name, dir, from)
		}
	}
	return dir, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// OnExit starts a watchdog that runs script (bash) if this process ends before the
// returned cancel is called: after a panic, a `go test -timeout`, Ctrl-C or SIGKILL,
// when no deferred function or t.Cleanup runs. It watches a pipe that only this process
// holds, so it needs no polling. The watchdog ignores SIGINT/SIGTERM/SIGHUP (so that
// Ctrl-C on `go test` does not kill it with the test), and so does the script, and it
// writes to this process's stderr, so `go test` waits for the script to finish.
func OnExit(script string) (cancel func(), err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("bash", "-c", `trap '' INT TERM HUP
read -r line
[ "$line" = cancel ] && exit 0
`+script)
	cmd.Stdin = r
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("starting the exit watchdog: %w", err)
	}
	_ = r.Close()
	var once sync.Once
	return func() {
		once.Do(func() {
			_, _ = w.Write([]byte("cancel\n"))
			_ = w.Close()
			_ = cmd.Wait()
		})
	}, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
