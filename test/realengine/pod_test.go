package realengine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// pod is a network + mount + UTS + IPC + PID namespace holding at most one
// container; it has its own /run, /dev/shm and /etc (an overlay).
type pod struct {
	c        *cluster
	name     string
	role     string // primary, replica or client
	addr     string
	volume   string   // the data volume: kept across pod restarts
	replDir  string   // mounted on /etc/dbctl-replication
	extraEnv []string // added to podEnv, for a test that needs it
	mounts   []mount  // volumes besides the data volume, the config and the replication Secret
	log      *syncBuffer
	holder   *exec.Cmd
	pid1     int // the holder namespace's init, host pid
	box      *container
	starts   int
	hookMu   sync.Mutex
	hook     func(line string) // see killAt
}

// mount is a host directory mounted into a pod, like a PVC.
type mount struct {
	src, dst string
	readOnly bool
}

// container is the server process tree: a nested PID namespace whose init is
// bootstrap.sh, then the server it execs.
type container struct {
	cmd  *exec.Cmd
	pid1 int // host pid of the container's init
	done chan struct{}
	err  error
}

func (c *cluster) newPod(name, role, addr string) *pod {
	p := &pod{c: c, name: name, role: role, addr: addr, replDir: c.replDir, log: &syncBuffer{},
		volume: filepath.Join(c.dir, "volumes", name)}
	c.record(p.log)
	must(c.t, os.MkdirAll(p.volume, 0o770))
	must(c.t, os.Chown(p.volume, 999, 999))
	return p
}

// servers are the pods a client can reach: every database pod.
func (c *cluster) servers() []*pod { return c.pods[:len(c.pods)-1] }

// setupScript prepares a pod's namespaces, then becomes the namespace's init.
const setupScript = `set -euo pipefail
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$ROOT/upper,workdir=$ROOT/work" /etc
cp "$ETC/hosts" /etc/hosts; cp "$ETC/passwd" /etc/passwd; cp "$ETC/group" /etc/group
mkdir -p /etc/dbctl /etc/dbctl-replication
mount --bind "$CONF_DIR" /etc/dbctl; mount -o remount,bind,ro /etc/dbctl
mount --bind "$REPL_DIR" /etc/dbctl-replication; mount -o remount,bind,ro /etc/dbctl-replication
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
install -d -m 2775 -o 999 -g 999 /run/postgresql /run/mysqld
if [[ ! -d $DATA_MOUNT ]]; then mount -t tmpfs -o mode=0755 tmpfs "$(dirname "$DATA_MOUNT")"; mkdir "$DATA_MOUNT"; fi
mount --bind "$VOLUME" "$DATA_MOUNT"
declare -A covered=()
while read -r src dst mode; do
  [[ -n $src ]] || continue
  # A missing mount point is made on a tmpfs over its parent, in this pod only.
  parent=$(dirname "$dst")
  if [[ ! -d $dst && -z ${covered[$parent]:-} ]]; then mount -t tmpfs -o mode=0755 tmpfs "$parent"; covered[$parent]=1; fi
  mkdir -p "$dst"
  mount --bind "$src" "$dst"
  if [[ $mode == ro ]]; then mount -o remount,bind,ro "$dst"; fi
done <<<"$MOUNTS"
hostname "$POD"
ip link set lo up
for a in $ADDRS; do ip addr add "$a/32" dev lo; done
while read -r addr port sock; do
  [[ -n $addr ]] || continue
  iptables -w -t nat -A OUTPUT -d "$addr" -p tcp --dport "$DB_PORT" -j REDIRECT --to-ports "$port"
  socat TCP-LISTEN:"$port",bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:"$sock" 2>/dev/null &
  until [[ -n $(ss -Hltn "sport = :$port") ]]; do sleep 0.02; done
done <<<"$CLIENT_RELAYS"
while read -r sock src; do
  [[ -n $sock ]] || continue
  socat UNIX-LISTEN:"$sock",fork,unlink-early,mode=0600 TCP:"$SELF":"$DB_PORT",bind="$src" 2>/dev/null &
  until [[ -S $sock ]]; do sleep 0.02; done
done <<<"$SERVER_RELAYS"
echo READY
exec sleep infinity
`

// relays returns the pod's client relays (address, local port, socket) to every
// other database pod, and the sockets it serves for every other pod.
func (p *pod) relays() (client, server string) {
	var cl, sv strings.Builder
	for i, s := range p.c.servers() {
		if s != p {
			fmt.Fprintf(&cl, "%s %d %s\n", s.addr, relayBasePort+i, p.c.socket(s, p))
		}
	}
	if p.role != "client" {
		for _, from := range p.c.pods {
			if from != p {
				fmt.Fprintf(&sv, "%s %s\n", p.c.socket(p, from), from.addr)
			}
		}
	}
	return cl.String(), sv.String()
}

// socket is the unix socket that carries from's connections to to.
func (c *cluster) socket(to, from *pod) string {
	return filepath.Join(c.netDir, to.name+"."+from.name)
}

// start creates the pod's namespaces (not its container).
func (p *pod) start() {
	t := p.c.t
	t.Helper()
	p.starts++
	root := filepath.Join(p.c.dir, "pods", fmt.Sprintf("%s.%d", p.name, p.starts))
	must(t, os.MkdirAll(filepath.Join(root, "upper"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "work"), 0o755))
	var addrs []string
	for _, o := range p.c.pods {
		addrs = append(addrs, o.addr)
	}
	cl, sv := p.relays()
	var mounts strings.Builder
	for _, m := range p.mounts {
		mode := "rw"
		if m.readOnly {
			mode = "ro"
		}
		fmt.Fprintf(&mounts, "%s %s %s\n", m.src, m.dst, mode)
	}
	cmd := exec.Command("unshare", "-m", "-n", "-u", "-i", "-p", "--fork", "--kill-child", "--mount-proc", "bash", "-c", setupScript)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "ROOT=" + root, "ETC=" + p.c.dir,
		"CONF_DIR=" + p.c.confDir, "REPL_DIR=" + p.replDir, "DATA_MOUNT=" + p.c.paths.DataMount,
		"VOLUME=" + p.volume, "POD=" + p.name, "ADDRS=" + strings.Join(addrs, " "), "SELF=" + p.addr,
		"DB_PORT=" + strconv.Itoa(int(p.c.paths.Port)), "CLIENT_RELAYS=" + cl, "SERVER_RELAYS=" + sv,
		"MOUNTS=" + mounts.String()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &lineWriter{prefix: "[pod] ", w: p.log}
	cmd.Stderr = out
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	p.holder = cmd
	ready := make(chan error, 1)
	go func() { ready <- waitLine(stdout, "READY", out) }()
	select {
	case err = <-ready:
	case <-time.After(startTimeout):
		err = fmt.Errorf("timed out")
	}
	if err != nil {
		t.Fatalf("pod %s: setting up its namespaces: %v\n%s", p.name, err, p.log.String())
	}
	if p.pid1, err = childPID(cmd.Process.Pid); err != nil {
		t.Fatalf("pod %s: %v", p.name, err)
	}
}

// stop kills the pod (its namespaces' init, so every process in them) and waits.
func (p *pod) stop() {
	if p.holder == nil {
		return
	}
	_ = syscall.Kill(p.holder.Process.Pid, syscall.SIGKILL)
	_ = p.holder.Wait()
	p.holder = nil
	if p.box != nil {
		select {
		case <-p.box.done:
		case <-time.After(10 * time.Second):
			p.c.t.Errorf("pod %s: the container outlived its pod", p.name)
		}
		p.box = nil
	}
}

// nsenter is the command prefix that enters the pod's namespaces.
func (p *pod) nsenter() []string {
	return []string{"nsenter", "-t", strconv.Itoa(p.pid1), "-m", "-n", "-u", "-p", "--"}
}

// asServer is the prefix that runs a command as the server's uid and gid.
func asServer() []string {
	return []string{"setpriv", "--reuid=999", "--regid=999", "--clear-groups", "--"}
}

// startServer starts the container: bootstrap.sh as uid 999 with exactly podEnv
// as its environment, as its own PID namespace's init, like a container's command.
func (p *pod) startServer() {
	t := p.c.t
	t.Helper()
	if p.holder == nil {
		p.start()
	}
	// The container's own PID namespace and /tmp (fresh at each start, as a
	// container's writable layer).
	args := append(p.nsenter(), "unshare", "-p", "--fork", "--kill-child", "--mount-proc", "--",
		"sh", "-c", `mount -t tmpfs -o mode=1777 tmpfs /tmp && exec "$@"`, "sh")
	args = append(args, asServer()...)
	args = append(args, p.c.paths.Command...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = podEnv(p.c, p) // nsenter, unshare and setpriv pass it on unchanged
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	w := &lineWriter{prefix: "", w: p.log, onLine: p.runHook}
	cmd.Stdout, cmd.Stderr = w, w
	fmt.Fprintf(p.log, "[test] starting the container (%s)\n", p.role)
	must(t, cmd.Start())
	box := &container{cmd: cmd, done: make(chan struct{})}
	p.box = box
	go func() {
		box.err = cmd.Wait()
		fmt.Fprintf(p.log, "[test] the container exited: %v\n", box.err)
		close(box.done)
	}()
	unsharePID, err := childPID(cmd.Process.Pid)
	if err == nil {
		box.pid1, err = childPID(unsharePID)
	}
	if err != nil && !exitedSoon(box.done) {
		t.Fatalf("pod %s: finding the container's init: %v", p.name, err)
	}
}

// exitedSoon reports whether a container that has no init any more exits within
// seconds: it ended before its init could be found (a bootstrap that refuses at
// once), and waiting for its exit tells how.
func exitedSoon(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

// killAt arms a SIGKILL of the whole pod (its namespaces' init, so every process
// in them) for the moment its container prints a line containing marker: the
// kill lands within a few milliseconds, before the step that follows the line.
func (p *pod) killAt(marker string) <-chan struct{} {
	killed := make(chan struct{})
	p.hookMu.Lock()
	defer p.hookMu.Unlock()
	p.hook = func(line string) {
		if strings.Contains(line, marker) {
			_ = syscall.Kill(p.pid1, syscall.SIGKILL)
			p.hook = nil
			close(killed)
		}
	}
	return killed
}

func (p *pod) runHook(line string) {
	p.hookMu.Lock()
	defer p.hookMu.Unlock()
	if p.hook != nil {
		p.hook(line)
	}
}

// signalServer sends sig to the container's init (the server, once it execs).
func (p *pod) signalServer(sig syscall.Signal) {
	p.c.t.Helper()
	if p.box == nil {
		p.c.t.Fatalf("pod %s has no container", p.name)
	}
	must(p.c.t, syscall.Kill(p.box.pid1, sig))
}

// waitExit waits for the container to exit and returns its error (nil: exit 0).
func (p *pod) waitExit(timeout time.Duration) error {
	p.c.t.Helper()
	select {
	case <-p.box.done:
		err := p.box.err
		p.box = nil
		return err
	case <-time.After(timeout):
		p.c.t.Fatalf("pod %s: the container did not exit within %s", p.name, timeout)
		return nil
	}
}

// running reports whether the container still runs.
func (p *pod) running() bool {
	if p.box == nil {
		return false
	}
	select {
	case <-p.box.done:
		return false
	default:
		return true
	}
}

// exec runs a command in the pod's namespaces with exactly env as its
// environment (never in its arguments); asServerUser runs it as uid 999.
func (p *pod) exec(asServerUser bool, env []string, args ...string) (string, error) {
	if p.holder == nil {
		if p.role != "client" {
			return "", fmt.Errorf("pod %s is not running", p.name)
		}
		p.start()
	}
	full := p.nsenter()
	if asServerUser {
		full = append(full, asServer()...)
	}
	full = append(full, args...)
	out, err := run(context.Background(), env, full[0], full[1:]...)
	b := &syncBuffer{}
	_, _ = b.Write([]byte(out))
	p.c.record(b)
	return out, err
}

// ready runs the readiness probe as the kubelet would: in the container's
// namespaces, as its user, with its environment.
// It must answer within 4 seconds (see phases/engine's doc).
func (p *pod) ready() (bool, string) {
	start := time.Now()
	out, err := p.exec(true, podEnv(p.c, p), p.c.paths.Readiness...)
	if d := time.Since(start); d > 4*time.Second {
		p.c.t.Errorf("pod %s: ready.sh took %s (more than 4s): %s", p.name, d, out)
	}
	return err == nil, strings.TrimSpace(out)
}

func (p *pod) waitReady(timeout time.Duration) {
	p.c.t.Helper()
	eventually(p.c.t, timeout, "pod "+p.name+" ready", func() error {
		if p.box != nil && !p.running() {
			p.c.t.Fatalf("pod %s: the container exited: %v", p.name, p.box.err)
		}
		if ok, out := p.ready(); !ok {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
}

func (p *pod) waitNotReady(timeout time.Duration) string {
	p.c.t.Helper()
	var msg string
	eventually(p.c.t, timeout, "pod "+p.name+" not ready", func() error {
		ok, out := p.ready()
		if ok {
			return fmt.Errorf("ready: %s", out)
		}
		msg = out
		return nil
	})
	return msg
}

// partition cuts pod p off from the primary: its relay to the primary is killed
// with every connection through it, and new connections are refused.
func (c *cluster) partition(p *pod) {
	c.t.Helper()
	needle := []byte("UNIX-CONNECT:" + c.socket(c.primary(), p) + "\x00")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	killed := 0
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, needle) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil && syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	if killed == 0 {
		c.t.Fatalf("pod %s: no relay to the primary to cut", p.name)
	}
	fmt.Fprintf(p.log, "[test] cut off from the primary\n")
}

// heal restores pod p's relay to the primary.
func (c *cluster) heal(p *pod) {
	c.t.Helper()
	port := strconv.Itoa(relayBasePort) // the primary is the first server
	args := append(p.nsenter(), "socat", "TCP-LISTEN:"+port+",bind=127.0.0.1,fork,reuseaddr",
		"UNIX-CONNECT:"+c.socket(c.primary(), p))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	must(c.t, cmd.Start())
	go func() { _ = cmd.Wait() }() // ends with the pod
	eventually(c.t, 10*time.Second, "the relay listening again", func() error {
		out, err := p.exec(false, cmd.Env, "ss", "-Hltn", "sport = :"+port)
		if err == nil && strings.TrimSpace(out) == "" {
			err = fmt.Errorf("not listening")
		}
		return err
	})
	fmt.Fprintf(p.log, "[test] reconnected to the primary\n")
}
