//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// leaseDuration of the controllers under test: a standby takes over at most this
// long (plus a retry period) after the leader's last renewal.
const leaseDuration = 6 * time.Second

var leading = regexp.MustCompile(`"msg":"leading: reconciling Databases"`)

// freePort is a TCP port nobody listens on (for a controller's probes).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startController starts `dbctl controller` for namespace ns with leader election
// in ns and its probes on the returned port.
func startController(t *testing.T, ns string) (*bgDbctl, int) {
	t.Helper()
	port := freePort(t)
	p := startDbctl(t, "controller", "-n", ns, "--leader-election-namespace", ns,
		"--leader-election-lease-duration", leaseDuration.String(), "--leader-election-renew-deadline", "4s",
		"--leader-election-retry-period", "1s", "--metrics-bind-address", "0",
		"--health-probe-bind-address", "127.0.0.1:"+strconv.Itoa(port), "--retry-initial", "1s", "--retry-max", "10s")
	return p, port
}

func wantHealthy(t *testing.T, port int) {
	t.Helper()
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}
}

// waitUntil polls cond every 200ms until it holds, or fails after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Two controllers, one leads; the leader is killed mid-rollout: the other takes
// over within the lease and drives the Database to Ready with the same password;
// then a hand edit is taken back, and SIGTERM stops the controller cleanly.
func TestControllerLeaderFailover(t *testing.T) {
	ns := namespace(t)
	uncordon := cordonAll(t) // the pods stay Pending: the rollout cannot finish
	a, portA := startController(t, ns)
	b, portB := startController(t, ns)
	var leader, standby *bgDbctl
	waitUntil(t, 30*time.Second, "a leader", func() bool {
		for _, p := range []*bgDbctl{a, b} {
			if leading.MatchString(p.stderrText()) {
				leader = p
			}
		}
		return leader != nil
	})
	standby = a
	if leader == a {
		standby = b
	}
	wantHealthy(t, portA)
	wantHealthy(t, portB)

	file := writeFile(t, t.TempDir(), "orders.yaml", databaseYAML(ns, "orders", 3, "10m"))
	kubectl(t, "apply", "--server-side", "--field-manager", "gitops", "-f", file)
	waitUntil(t, 60*time.Second, "Verifying (the StatefulSets written, pods pending)", func() bool {
		return getDatabase(t, ns, "orders").Phase() == v1alpha1.PhaseVerifying
	})
	pw := password(t, ns, "orders")
	if leading.MatchString(standby.stderrText()) {
		t.Fatal("the standby leads too")
	}

	if !leader.kill() {
		t.Fatal("the leader was not killed by SIGKILL")
	}
	killed := time.Now()
	uncordon()
	standby.waitLine(leading, 0, leaseDuration+10*time.Second)
	took := time.Since(killed)
	t.Logf("the standby leads %s after the leader was killed (lease %s)", took.Round(time.Millisecond), leaseDuration)
	if took > leaseDuration+3*time.Second {
		t.Errorf("the standby took over %s after the leader died, lease %s", took.Round(time.Millisecond), leaseDuration)
	}
	waitUntil(t, 2*time.Minute, "Ready under the new leader", func() bool { return getDatabase(t, ns, "orders").IsReady() })
	if got := password(t, ns, "orders"); string(got) != string(pw) {
		t.Error("the password changed")
	}
	waitDatabaseRolledOut(t, ns, "orders", 3)

	// A hand edit is taken back within seconds.
	c := newClient(t)
	cm := &corev1.ConfigMap{}
	key := types.NamespacedName{Namespace: ns, Name: "orders-config"}
	if err := c.Get(ctxFor(t), key, cm); err != nil {
		t.Fatal(err)
	}
	want := cm.Data["postgresql.conf"]
	if err := c.Patch(ctxFor(t), cm, client.RawPatch(types.MergePatchType, []byte(`{"data":{"postgresql.conf":"edited by hand"}}`))); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "the ConfigMap taken back", func() bool {
		got := &corev1.ConfigMap{}
		return c.Get(ctxFor(t), key, got) == nil && got.Data["postgresql.conf"] == want
	})

	// SIGTERM: a graceful stop, exit 0, the lease released.
	if err := standby.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := standby.wait(); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, standby.stderrText())
	}
	noSecretLeaks(t)
}
