package realengine

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbctl-io/dbctl/phases/engine"
)

const (
	readyTimeout   = 90 * time.Second // a server's first start, clone included
	replicateLimit = 10 * time.Second // SPEC: a write is on every replica within 10s
)

// step logs the start of a scenario's step.
func step(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("step: "+format, args...)
}

// upCluster starts the primary and the given replicas and waits until all are ready.
func upCluster(t *testing.T, c *cluster, replicas ...*pod) {
	t.Helper()
	c.primary().startServer()
	c.primary().waitReady(readyTimeout)
	for _, r := range replicas {
		r.startServer()
	}
	for _, r := range replicas {
		r.waitReady(readyTimeout)
	}
}

// insert writes rows from..to into the items table on the primary.
func insert(t *testing.T, c *cluster, from, to int) {
	t.Helper()
	var values []string
	for i := from; i <= to; i++ {
		values = append(values, fmt.Sprintf("(%d, 'row %d')", i, i))
	}
	if _, err := c.drv.appQuery(c, c.primary(), c.app, "INSERT INTO items VALUES "+strings.Join(values, ", ")); err != nil {
		t.Fatalf("writing on the primary: %v", err)
	}
}

// waitRows waits until pod p has n rows in items, read with the application's
// credentials over TCP.
func waitRows(t *testing.T, c *cluster, p *pod, n int, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%d rows on %s", n, p.name), func() error {
		out, err := c.drv.appQuery(c, p, c.app, "SELECT count(*) FROM items")
		if err != nil {
			return err
		}
		if out != strconv.Itoa(n) {
			return fmt.Errorf("%s rows", out)
		}
		return nil
	})
}

// waitLog waits until pod p's log contains s.
func waitLog(t *testing.T, p *pod, s string, timeout time.Duration) {
	t.Helper()
	waitLogCount(t, p, s, 1, timeout)
}

// waitLogCount waits until pod p's log contains s at least n times.
func waitLogCount(t *testing.T, p *pod, s string, n int, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%q %d times in the log of %s", s, n, p.name), func() error {
		if got := strings.Count(p.log.String(), s); got < n {
			return fmt.Errorf("%d times", got)
		}
		return nil
	})
}

// restartAfterExit waits for the container to exit by itself and starts it again,
// as the kubelet does (restartPolicy Always).
func restartAfterExit(t *testing.T, p *pod, timeout time.Duration) {
	t.Helper()
	if err := p.waitExit(timeout); err != nil {
		t.Logf("pod %s: the container exited: %v", p.name, err)
	}
	p.startServer()
}

// stopGracefully stops a pod's server with SIGTERM (as the kubelet does), waits
// for a clean exit, and removes the pod.
func stopGracefully(t *testing.T, p *pod) {
	t.Helper()
	p.signalServer(syscall.SIGTERM)
	if err := p.waitExit(60 * time.Second); err != nil {
		t.Fatalf("pod %s: the server did not exit cleanly on SIGTERM: %v", p.name, err)
	}
	p.stop()
}

// testTopology: one primary and two streaming replicas, through authentication,
// replication, a killed replica, a restarted primary, scaling 3 -> 1 -> 3, and a
// replica with a wrong replication password.
func testTopology(t *testing.T, drv driver) {
	requireEngine(t, drv)
	c := newCluster(t, drv, nil, 3)
	c.writeReplicationSecret(c.replDir, c.repl)
	p, rs, bad := c.primary(), c.replicas()[:2], c.replicas()[2]

	step(t, "a primary and two replicas come up and are ready")
	upCluster(t, c, rs...)
	c.assertNoSecretsInProcessArgs()

	step(t, "the primary accepts the application password from a non-loopback address and refuses a wrong one")
	checkAuthentication(t, c)

	step(t, "a table written on the primary is on every replica within %s; replicas refuse writes", replicateLimit)
	if _, err := drv.appQuery(c, p, c.app, "CREATE TABLE items (id int PRIMARY KEY, note text)"); err != nil {
		t.Fatal(err)
	}
	insert(t, c, 1, 3)
	for _, r := range rs {
		waitRows(t, c, r, 3, replicateLimit)
		_, err := drv.appQuery(c, r, c.app, "INSERT INTO items VALUES (100, 'on a replica')")
		if err == nil || !strings.Contains(err.Error(), drv.readOnly()) {
			t.Fatalf("a write on replica %s: want an error with %q, got %v", r.name, drv.readOnly(), err)
		}
	}

	step(t, "a replica with a wrong replication password is refused and not ready")
	checkWrongReplicationPassword(t, c, bad)

	step(t, "a replica killed with SIGKILL restarts on its data, resumes streaming and catches up")
	rs[0].stop()
	insert(t, c, 4, 6)
	rs[0].startServer()
	rs[0].waitReady(readyTimeout)
	waitRows(t, c, rs[0], 6, replicateLimit)

	step(t, "the primary stopped with SIGTERM: not ready, nor are the replicas; started again: replicas reconnect")
	checkPrimaryRestart(t, c, rs)

	step(t, "scaling 3 -> 1 -> 3 keeps the replicas' data; they resume with the rows written meanwhile")
	for _, r := range rs {
		stopGracefully(t, r)
	}
	insert(t, c, 8, 10)
	for _, r := range rs {
		r.startServer()
	}
	for _, r := range rs {
		r.waitReady(readyTimeout)
		waitRows(t, c, r, 10, replicateLimit)
	}
	c.assertNoSecretsInProcessArgs()
}

func checkAuthentication(t *testing.T, c *cluster) {
	t.Helper()
	out, err := c.drv.appQuery(c, c.primary(), c.app, c.drv.clientAddressSQL())
	if err != nil {
		t.Fatalf("the application password: %v", err)
	}
	if out != clientAddr {
		t.Fatalf("the server saw the client at %q, want %s (non-loopback)", out, clientAddr)
	}
	wrong := credentials{user: c.app.user, password: randomPassword(t)}
	c.addSecret(wrong.password)
	_, err = c.drv.appQuery(c, c.primary(), wrong, "SELECT 1")
	if err == nil || !strings.Contains(err.Error(), c.drv.wrongPassword(c)) {
		t.Fatalf("a wrong password: want an error with %q, got %v", c.drv.wrongPassword(c), err)
	}
}

// checkWrongReplicationPassword starts a replica whose replication Secret holds a
// wrong password: the primary refuses it (its log says so), the replica is not
// ready, and its bootstrap gives up after DBCTL_WAIT_TIMEOUT with exit 1.
func checkWrongReplicationPassword(t *testing.T, c *cluster, bad *pod) {
	t.Helper()
	wrong := credentials{user: c.repl.user, password: randomPassword(t)}
	c.addSecret(wrong.password)
	bad.replDir = filepath.Join(c.dir, "wrong-replication")
	c.writeReplicationSecret(bad.replDir, wrong)
	bad.extraEnv = []string{engine.EnvWaitTimeout + "=6"}
	bad.startServer()
	waitLog(t, c.primary(), c.drv.replicationRefused(c), 20*time.Second)
	if ok, out := bad.ready(); ok {
		t.Fatalf("the replica with a wrong replication password is ready: %s", out)
	}
	if err := bad.waitExit(40 * time.Second); err == nil {
		t.Fatal("the bootstrap with a wrong replication password exited 0")
	}
	if !strings.Contains(bad.log.String(), "did not accept the replication user") {
		t.Fatalf("the bootstrap did not say why it gave up:\n%s", bad.log.String())
	}
	bad.stop()
}

func checkPrimaryRestart(t *testing.T, c *cluster, rs []*pod) {
	t.Helper()
	p := c.primary()
	p.signalServer(syscall.SIGTERM)
	if err := p.waitExit(60 * time.Second); err != nil {
		t.Fatalf("the primary did not exit cleanly on SIGTERM: %v", err)
	}
	t.Logf("primary down: %s", p.waitNotReady(5*time.Second))
	for _, r := range rs {
		t.Logf("replica %s with its primary down: %s", r.name, r.waitNotReady(30*time.Second))
	}
	p.startServer()
	p.waitReady(readyTimeout)
	for _, r := range rs {
		r.waitReady(readyTimeout)
	}
	insert(t, c, 7, 7)
	for _, r := range rs {
		waitRows(t, c, r, 7, replicateLimit)
	}
}

// testParameters: a parameter the server accepts is in effect; one it rejects
// fails the bootstrap with the server's own message (and the failed
// initialisation is redone once the configuration is fixed).
func testParameters(t *testing.T, drv driver, bad map[string]string, serverSays string, good map[string]string, show string, want string) {
	requireEngine(t, drv)
	c := newCluster(t, drv, bad, 0)
	p := c.primary()

	step(t, "a setting the server rejects: the bootstrap fails with the server's message")
	p.startServer()
	if err := p.waitExit(readyTimeout); err == nil {
		t.Fatal("the bootstrap exited 0 with a setting the server rejects")
	}
	line := findLine(p.log.String(), serverSays)
	if line == "" {
		t.Fatalf("the server's message %q is not in the log:\n%s", serverSays, p.log.String())
	}
	t.Logf("the server rejected %v: %s", bad, line)

	step(t, "a setting the server accepts: %s is %s", show, want)
	c.render(good)
	p.startServer()
	p.waitReady(readyTimeout)
	out, err := drv.appQuery(c, p, c.app, show)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, want) {
		t.Fatalf("%s: got %q, want %q", show, out, want)
	}
}

func findLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// testLateReplicationSecret: a primary started with replicas 1 (no replication
// Secret) creates the replication user when the Secret's files appear, without a
// restart; a replica waiting for them then clones and streams.
func testLateReplicationSecret(t *testing.T, drv driver) {
	requireEngine(t, drv)
	c := newCluster(t, drv, nil, 1)
	p, r := c.primary(), c.replicas()[0]

	step(t, "the primary starts without a replication Secret")
	upCluster(t, c)
	if _, err := drv.appQuery(c, p, c.app, "CREATE TABLE items (id int PRIMARY KEY, note text)"); err != nil {
		t.Fatal(err)
	}
	insert(t, c, 1, 2)
	pid := p.box.pid1

	step(t, "a replica waits for the replication Secret")
	r.startServer()
	waitLog(t, r, "waiting for the replication Secret", 20*time.Second)
	if ok, out := r.ready(); ok {
		t.Fatalf("a replica without replication credentials is ready: %s", out)
	}

	step(t, "the Secret appears: the running primary creates the user, the replica clones")
	c.writeReplicationSecret(c.replDir, c.repl)
	waitLog(t, p, "replication user ready (replication Secret found)", 20*time.Second)
	r.waitReady(readyTimeout)
	waitRows(t, c, r, 2, replicateLimit)
	insert(t, c, 3, 3)
	waitRows(t, c, r, 3, replicateLimit)
	if !p.running() || p.box.pid1 != pid {
		t.Fatal("the primary was restarted")
	}
	c.assertNoSecretsInProcessArgs()
}

// testInterruptedBootstrap: a bootstrap killed half-way (the primary's after the
// data directory was initialised, while the users are being created; a replica's
// while it clones) leaves no data directory that could be taken for a complete
// one, and is redone on the next start.
func testInterruptedBootstrap(t *testing.T, drv driver, initMarker, cloneMarker string) {
	requireEngine(t, drv)
	c := newCluster(t, drv, nil, 1)
	c.writeReplicationSecret(c.replDir, c.repl)
	p, r := c.primary(), c.replicas()[0]

	step(t, "the primary's bootstrap is killed with SIGKILL half-way")
	killHalfWay(t, c, p, initMarker, ".init")

	step(t, "the next start redoes it")
	p.startServer()
	p.waitReady(readyTimeout)
	if !strings.Contains(p.log.String(), "left by an interrupted bootstrap") {
		t.Fatal("the bootstrap did not say it redid the initialisation")
	}
	checkAuthentication(t, c)
	if _, err := drv.appQuery(c, p, c.app, "CREATE TABLE items (id int PRIMARY KEY, note text)"); err != nil {
		t.Fatal(err)
	}
	insert(t, c, 1, 2)

	step(t, "a replica's clone is killed with SIGKILL half-way; the next start clones again")
	killHalfWay(t, c, r, cloneMarker, ".clone")
	r.startServer()
	r.waitReady(readyTimeout)
	waitRows(t, c, r, 2, replicateLimit)
}

// killHalfWay starts p's container and kills the pod when it logs marker; the
// data directory must then exist only under its temporary name (suffix).
func killHalfWay(t *testing.T, c *cluster, p *pod, marker, suffix string) {
	t.Helper()
	p.start()
	killed := p.killAt(marker)
	p.startServer()
	select {
	case <-killed:
	case <-time.After(readyTimeout):
		t.Fatalf("pod %s never logged %q", p.name, marker)
	}
	p.stop()
	final := filepath.Join(p.volume, filepath.Base(c.paths.DataDir))
	if _, err := os.Stat(final); !os.IsNotExist(err) {
		t.Fatalf("the interrupted bootstrap left %s (err %v): it could be taken for a complete one", final, err)
	}
	if _, err := os.Stat(final + suffix); err != nil {
		t.Fatalf("the interrupted bootstrap left no %s%s: was it killed half-way? %v", final, suffix, err)
	}
}
