package realengine

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dbctl-io/dbctl/phases/engine"
)

const (
	namespace     = "shop"
	primaryAddr   = "192.0.2.10"
	clientAddr    = "192.0.2.100"
	relayBasePort = 20000
	cmdTimeout    = 30 * time.Second
	startTimeout  = 60 * time.Second
)

// credentials are one Secret's username and password.
type credentials struct{ user, password string }

// cluster is one Database: its rendered files, Secrets and pods.
type cluster struct {
	t       *testing.T
	drv     driver
	name    string
	paths   engine.Paths
	dir     string // everything of this cluster; removed at the end
	netDir  string // the relays' unix sockets
	confDir string // mounted on /etc/dbctl: exactly the ConfigMap dbctl renders
	// rendered are the children dbctl renders for this Database (phases.Desired).
	rendered     rendered
	replicaCount int
	replDir      string // mounted on /etc/dbctl-replication: the replication Secret, when written
	backupDir    string // the backups PVC: mounted in the client pod, where the backup Jobs run
	jobs         int    // backup Jobs started
	// backup and restore are rendered into the ConfigMap (spec.backup,
	// spec.bootstrap.fromBackup); nil for neither.
	backup    *engine.BackupInput
	restore   *engine.RestoreInput
	app       credentials
	repl      credentials
	pods      []*pod // the primary, the replicas, then the client
	mu        sync.Mutex
	outputs   []*syncBuffer // every output, checked for passwords at the end
	secrets   []string      // passwords the test made: in no output, no process's arguments
	stopWatch func()        // stops watchProcessArgs
}

// newCluster renders the files for params and prepares pods for a primary and
// replicas replicas (none started).
func newCluster(t *testing.T, drv driver, params map[string]string, replicas int) *cluster {
	t.Helper()
	return newClusterWith(t, drv, clusterOptions{params: params, replicas: replicas})
}

// clusterOptions are a test Database's spec, as far as the tests vary it.
type clusterOptions struct {
	user     string // spec.credentials.username, default app
	params   map[string]string
	replicas int
	// backup and restore are rendered into the ConfigMap with the rest (see render).
	backup  *engine.BackupInput
	restore *engine.RestoreInput
}

// newClusterWith renders the files of the Database opts describes and prepares
// its pods (none started).
func newClusterWith(t *testing.T, drv driver, opts clusterOptions) *cluster {
	t.Helper()
	// Not under /tmp: every container gets its own /tmp, as in a pod.
	dir, err := os.MkdirTemp("/var/tmp", "dbctl-re-")
	if err != nil {
		t.Fatal(err)
	}
	paths, err := engine.Layout(drv.engine())
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, drv: drv, name: "orders", paths: paths, dir: dir,
		netDir: filepath.Join(dir, "net"), confDir: filepath.Join(dir, "config"), replDir: filepath.Join(dir, "replication"),
		backupDir: filepath.Join(dir, "backups"),
		app:       credentials{user: cmp.Or(opts.user, "app"), password: randomPassword(t)},
		repl:      credentials{user: "replicator", password: randomPassword(t)},
		backup:    opts.backup, restore: opts.restore}
	c.secrets = []string{c.app.password, c.repl.password}
	t.Cleanup(c.close)
	c.stopWatch = c.watchProcessArgs()
	for _, d := range []string{c.netDir, c.confDir, c.replDir, c.backupDir} {
		must(t, os.MkdirAll(d, 0o755))
	}
	// The backups PVC: writable by the pods' fsGroup 999.
	must(t, os.Chown(c.backupDir, 999, 999))
	must(t, os.Chmod(c.backupDir, 0o770))
	c.replicaCount = opts.replicas
	c.render(opts.params)
	c.pods = append(c.pods, c.newPod(c.name+"-0", engine.RolePrimary, primaryAddr))
	for i := range opts.replicas {
		c.pods = append(c.pods, c.newPod(fmt.Sprintf("%s-replica-%d", c.name, i), engine.RoleReplica, fmt.Sprintf("192.0.2.%d", 11+i)))
	}
	client := c.newPod("client", "client", clientAddr)
	// The client pod also runs the backup Jobs: the backups PVC is mounted there.
	client.mounts = []mount{{src: c.backupDir, dst: engine.BackupDir}}
	c.pods = append(c.pods, client)
	c.writeEtc()
	return c
}

// render renders the Database's children with params (phases.Desired) and writes
// exactly its ConfigMap's files into the directory mounted on /etc/dbctl, with
// the cluster's backup and restore rendered in (checkExtras).
func (c *cluster) render(params map[string]string) {
	c.t.Helper()
	c.rendered = renderChildren(c.t, c, params)
	files := c.checkExtras(params, c.rendered.files)
	entries, _ := os.ReadDir(c.confDir)
	for _, e := range entries {
		must(c.t, os.Remove(filepath.Join(c.confDir, e.Name())))
	}
	for name, content := range files {
		must(c.t, os.WriteFile(filepath.Join(c.confDir, name), []byte(content), 0o644))
	}
}

// checkExtras renders the ConfigMap's files with the cluster's backup and
// restore (engine.Files: phases does not render them yet) and checks that they
// change nothing else: backup.sh is added, bootstrap.sh differs only with a
// restore, every other file is the one phases rendered.
func (c *cluster) checkExtras(params map[string]string, desired map[string]string) map[string]string {
	c.t.Helper()
	if c.backup == nil && c.restore == nil {
		return desired
	}
	files, err := engine.Files(engine.Input{Engine: c.drv.engine(), Parameters: params, StorageSize: storageSize(),
		Backup: c.backup, Restore: c.restore})
	if err != nil {
		c.t.Fatalf("rendering the backup and restore scripts: %v", err)
	}
	for name, content := range files {
		want, ok := desired[name]
		switch {
		case name == engine.FileBackup && c.backup != nil:
		case !ok:
			c.t.Fatalf("engine.Files renders %s, which phases does not", name)
		case name == engine.FileBootstrap && c.restore != nil:
			if content == want {
				c.t.Fatal("a bootstrap.sh with a restore is the one without")
			}
		case content != want:
			c.t.Fatalf("%s differs from the one phases rendered", name)
		}
	}
	for name := range desired {
		if _, ok := files[name]; !ok {
			c.t.Fatalf("engine.Files does not render %s", name)
		}
	}
	return files
}

// writeReplicationSecret makes the replication Secret's files appear in dir (the
// cluster's, or a pod's own), as the kubelet does for an optional Secret volume.
func (c *cluster) writeReplicationSecret(dir string, cred credentials) {
	c.t.Helper()
	must(c.t, os.MkdirAll(dir, 0o755))
	// The kubelet swaps a new directory in atomically; so do we, file by file.
	for name, value := range map[string]string{"username": cred.user, "password": cred.password} {
		tmp := filepath.Join(dir, "."+name)
		must(c.t, os.WriteFile(tmp, []byte(value), 0o644))
		must(c.t, os.Rename(tmp, filepath.Join(dir, name)))
	}
}

func (c *cluster) primary() *pod { return c.pods[0] }

// replicas are the replica pods.
func (c *cluster) replicas() []*pod { return c.pods[1 : len(c.pods)-1] }

func (c *cluster) client() *pod { return c.pods[len(c.pods)-1] }

// fqdn is a pod's DNS name through the headless Service.
func (c *cluster) fqdn(p *pod) string {
	return fmt.Sprintf("%s.%s-headless.%s.svc", p.name, c.name, namespace)
}

// podEnv is the container's environment: the image's, then exactly the
// environment contract of phases/engine (the StatefulSet's env). The one place
// the tests build it.
func podEnv(c *cluster, p *pod) []string {
	env := append(c.drv.imageEnv(), c.rendered.containerEnv(c.t, p.role, p.name)...)
	return append(env, p.extraEnv...)
}

// writeEtc writes the pods' /etc/hosts and the passwd and group files in which
// the engine's user is uid/gid 999, as in the official images.
func (c *cluster) writeEtc() {
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1 localhost\n")
	// The read-write Service (the credentials Secret's host) selects the primary.
	fmt.Fprintf(&hosts, "%s %s.%s.svc %s\n", primaryAddr, c.name, namespace, c.name)
	for _, p := range c.pods {
		fmt.Fprintf(&hosts, "%s %s %s.%s-headless %s\n", p.addr, c.fqdn(p), p.name, c.name, p.name)
	}
	must(c.t, os.WriteFile(filepath.Join(c.dir, "hosts"), []byte(hosts.String()), 0o644))
	user := c.drv.osUser()
	for _, f := range []struct{ name, line string }{
		{"passwd", fmt.Sprintf("%s:x:999:999::/nonexistent:/bin/bash\n", user)},
		{"group", fmt.Sprintf("%s:x:999:\n", user)},
	} {
		host, err := os.ReadFile("/etc/" + f.name)
		must(c.t, err)
		var out strings.Builder
		for _, line := range strings.Split(strings.TrimSpace(string(host)), "\n") {
			fields := strings.Split(line, ":")
			if len(fields) > 2 && (fields[0] == user || fields[2] == "999") {
				continue
			}
			out.WriteString(line + "\n")
		}
		out.WriteString(f.line)
		must(c.t, os.WriteFile(filepath.Join(c.dir, f.name), []byte(out.String()), 0o644))
	}
}

// close stops every pod, prints the logs of a failed test (of every test with
// DBCTL_REAL_ENGINES_LOGS=1), checks that no output
// holds a password, and removes the cluster's files.
func (c *cluster) close() {
	c.stopWatch()
	for _, p := range c.pods {
		p.stop()
	}
	if c.t.Failed() || os.Getenv("DBCTL_REAL_ENGINES_LOGS") == "1" {
		for _, p := range c.pods {
			if s := p.log.String(); s != "" {
				c.t.Logf("--- log of pod %s ---\n%s", p.name, tail(s, 12000))
			}
		}
	}
	if leak := c.secretInOutputs(); leak != "" {
		c.t.Error(leak)
	}
	if err := os.RemoveAll(c.dir); err != nil {
		c.t.Errorf("removing %s: %v", c.dir, err)
	}
}

// record keeps an output for the password check.
func (c *cluster) record(b *syncBuffer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outputs = append(c.outputs, b)
}

// secretInOutputs describes the first output that holds a password, or returns "".
func (c *cluster) secretInOutputs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.outputs {
		s := b.String()
		for _, secret := range c.secrets {
			if strings.Contains(s, secret) {
				return "a password appears in an output:\n" + tail(s, 2000)
			}
		}
	}
	return ""
}

// assertNoSecretsInProcessArgs: no running process has a password in its arguments.
func (c *cluster) assertNoSecretsInProcessArgs() {
	c.t.Helper()
	if leak := c.secretInProcessArgs(); leak != "" {
		c.t.Error(leak)
	}
}

// secretInProcessArgs describes the first process with a password in its
// arguments, or returns "".
func (c *cluster) secretInProcessArgs() string {
	c.mu.Lock()
	secrets := slices.Clone(c.secrets)
	c.mu.Unlock()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, secret := range secrets {
			if bytes.Contains(b, []byte(secret)) {
				return fmt.Sprintf("a password appears in the arguments of %s: %q", f, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
			}
		}
	}
	return ""
}

// watchProcessArgs samples every process's arguments while the cluster runs, so
// that a short-lived command with a password in its arguments is caught too.
func (c *cluster) watchProcessArgs() (stop func()) {
	done, finished := make(chan struct{}), make(chan string, 1)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				finished <- ""
				return
			case <-tick.C:
				if leak := c.secretInProcessArgs(); leak != "" {
					finished <- leak
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		if leak := <-finished; leak != "" {
			c.t.Error(leak)
		}
	}
}

// addSecret registers a password that must appear in no output and no arguments.
func (c *cluster) addSecret(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets = append(c.secrets, s)
}

func randomPassword(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually polls f until it succeeds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// run runs a command with a timeout and returns its combined output.
func run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// childPID waits for the first child of pid to appear and returns it.
func childPID(pid int) (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			return 0, fmt.Errorf("reading the children of %d: %w", pid, err)
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			return strconv.Atoi(f[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, errors.New("no child process")
}

// lineWriter prefixes each line written to it and passes it to w, then to
// onLine when set (called synchronously, as soon as the line is complete).
type lineWriter struct {
	prefix string
	w      io.Writer
	onLine func(line string)
	mu     sync.Mutex
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.buf[:i])
		fmt.Fprintf(l.w, "%s%s\n", l.prefix, line)
		if l.onLine != nil {
			l.onLine(line)
		}
		l.buf = l.buf[i+1:]
	}
}

// waitLine reads r until a line equal to want, then copies the rest to w.
func waitLine(r io.Reader, want string, w io.Writer) error {
	sc := bufio.NewReader(r)
	for {
		line, err := sc.ReadString('\n')
		if strings.TrimSpace(line) == want {
			go func() { _, _ = io.Copy(w, sc) }()
			return nil
		}
		if line != "" {
			fmt.Fprint(w, line)
		}
		if err != nil {
			return fmt.Errorf("before %q: %w", want, err)
		}
	}
}
