package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/resilience"
	"github.com/dbctl-io/dbctl/test/testdb"
)

// The breaker state in the cluster (--breaker-state cluster:NAMESPACE/NAME): the
// ClusterStore against a real API server, by itself, from 8 processes at once, and
// through reconcile, status and breaker list/reset, as an admin and as a user bound
// to config/rbac/breaker-state-role.yaml.

// stateConfigMap is the name breaker-state-role.yaml grants.
const stateConfigMap = "dbctl-breakers"

// readStateConfigMap returns the breaker state ConfigMap's state, failing the test
// when it is missing or not valid.
func readStateConfigMap(t *testing.T, ns string) resilience.StateFile {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: stateConfigMap}, cm); err != nil {
		t.Fatalf("reading the breaker state ConfigMap: %v", err)
	}
	var sf resilience.StateFile
	if err := json.Unmarshal([]byte(cm.Data[resilience.ClusterStateKey]), &sf); err != nil || sf.Version != resilience.StateFileVersion {
		t.Fatalf("the breaker state ConfigMap holds no valid state (%v):\n%v", err, cm.Data)
	}
	return sf
}

// writeStateConfigMap creates the breaker state ConfigMap with data as its data.
func writeStateConfigMap(t *testing.T, ns string, data map[string]string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: stateConfigMap}, Data: data}
	if err := env.Client.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
}

// failure records one failure of breaker name without ever opening it.
func failure(name, msg string) func(*resilience.StateFile) error {
	return func(sf *resilience.StateFile) error {
		r := sf.Breakers[name]
		if r == nil {
			r = &resilience.Record{}
			sf.Breakers[name] = r
		}
		resilience.Settings{Threshold: math.MaxInt}.Failure(r, time.Now(), msg)
		return nil
	}
}

type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) add(msg string) { w.mu.Lock(); w.msgs = append(w.msgs, msg); w.mu.Unlock() }
func (w *warnings) list() []string { w.mu.Lock(); defer w.mu.Unlock(); return slices.Clone(w.msgs) }

func TestClusterStoreMissingIsClosedAndCreatedOnFirstWrite(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	w := &warnings{}
	store := resilience.NewClusterStore(env.Client, ns, stateConfigMap, w.add)
	if store.Location() != "ConfigMap "+ns+"/"+stateConfigMap {
		t.Fatalf("location %q", store.Location())
	}
	sf, err := store.Load()
	if err != nil || len(sf.Breakers) != 0 {
		t.Fatalf("missing ConfigMap: %+v, %v", sf, err)
	}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: stateConfigMap}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Load created the ConfigMap: %v", err)
	}
	if err := store.Update(failure("db", "dial tcp 10.0.0.1:5432: refused")); err != nil {
		t.Fatal(err)
	}
	if r := readStateConfigMap(t, ns).Breakers["db"]; r == nil || r.Failures != 1 {
		t.Fatalf("record %+v", r)
	}
	// An update that changes nothing writes nothing.
	cm := &corev1.ConfigMap{}
	_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: stateConfigMap}, cm)
	if err := store.Update(func(*resilience.StateFile) error { return nil }); err != nil {
		t.Fatal(err)
	}
	after := &corev1.ConfigMap{}
	_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: stateConfigMap}, after)
	if after.ResourceVersion != cm.ResourceVersion {
		t.Errorf("a no-op update wrote the ConfigMap (%s → %s)", cm.ResourceVersion, after.ResourceVersion)
	}
	// A ConfigMap created empty by an admin (so that dbctl needs no create) is all
	// closed, without a warning, and kept: its other keys and labels stay.
	ns2 := env.Namespace(t)
	writeStateConfigMap(t, ns2, map[string]string{"owner": "platform"})
	store2 := resilience.NewClusterStore(env.Client, ns2, stateConfigMap, w.add)
	if sf, err := store2.Load(); err != nil || len(sf.Breakers) != 0 {
		t.Fatalf("empty ConfigMap: %+v, %v", sf, err)
	}
	if err := store2.Update(failure("db", "x")); err != nil {
		t.Fatal(err)
	}
	_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns2, Name: stateConfigMap}, cm)
	if cm.Data["owner"] != "platform" || readStateConfigMap(t, ns2).Breakers["db"] == nil {
		t.Fatalf("data %v", cm.Data)
	}
	if got := w.list(); len(got) != 0 {
		t.Fatalf("warnings %q", got)
	}
}

// TestClusterStoreCorruptIsReportedTreatedClosedAndRewritten: every kind of corrupt
// state is a warning naming the ConfigMap, read as every breaker closed, given once,
// and replaced by a valid state on the next update.
func TestClusterStoreCorruptIsReportedTreatedClosedAndRewritten(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cm   corev1.ConfigMap
		want string
	}{
		{"invalid JSON", corev1.ConfigMap{Data: map[string]string{"breakers.json": "{"}}, "invalid JSON"},
		{"empty key", corev1.ConfigMap{Data: map[string]string{"breakers.json": " \n"}}, "key breakers.json is empty"},
		{"no version", corev1.ConfigMap{Data: map[string]string{"breakers.json": `{"breakers":{}}`}}, "no version field"},
		{"future version", corev1.ConfigMap{Data: map[string]string{"breakers.json": `{"version":2,"breakers":{}}`}}, "unsupported version 2"},
		{"bad state", corev1.ConfigMap{Data: map[string]string{"breakers.json": `{"version":1,"breakers":{"db":{"state":"ajar"}}}`}}, `unknown state "ajar"`},
		{"binary", corev1.ConfigMap{BinaryData: map[string][]byte{"breakers.json": []byte(`{"version":1}`)}}, "in binaryData"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := env.Namespace(t)
			cm := tc.cm.DeepCopy()
			cm.Namespace, cm.Name = ns, stateConfigMap
			if err := env.Client.Create(context.Background(), cm); err != nil {
				t.Fatal(err)
			}
			w := &warnings{}
			store := resilience.NewClusterStore(env.Client, ns, stateConfigMap, w.add)
			for range 2 {
				sf, err := store.Load()
				if err != nil || len(sf.Breakers) != 0 {
					t.Fatalf("Load: %+v, %v", sf, err)
				}
			}
			got := w.list()
			want := "breaker state ConfigMap " + ns + "/" + stateConfigMap + " is corrupt ("
			if len(got) != 1 || !strings.HasPrefix(got[0], want) || !strings.Contains(got[0], tc.want) ||
				!strings.HasSuffix(got[0], "; treating every breaker as closed; it will be rewritten") {
				t.Fatalf("warnings %q, want one starting %q saying %q", got, want, tc.want)
			}
			if err := store.Update(failure("db", "x")); err != nil {
				t.Fatal(err)
			}
			if r := readStateConfigMap(t, ns).Breakers["db"]; r == nil || r.Failures != 1 {
				t.Fatalf("after the update: %+v", r)
			}
			if len(w.list()) != 1 {
				t.Fatalf("warnings after the rewrite: %q", w.list())
			}
		})
	}
}

// The cross-process test: the test binary re-executes itself (TestMain runs the
// helper instead of starting an API server).
const (
	clusterStoreHelperEnv = "DBCTL_CLUSTERSTORE_HELPER_KUBECONFIG"
	clusterStoreHelperNS  = "DBCTL_CLUSTERSTORE_HELPER_NAMESPACE"
	clusterStoreHelperN   = "DBCTL_CLUSTERSTORE_HELPER_UPDATES"
)

// clusterStoreHelper records $DBCTL_CLUSTERSTORE_HELPER_UPDATES failures of
// breaker "db" in the breaker state ConfigMap of $DBCTL_CLUSTERSTORE_HELPER_NAMESPACE,
// one update each, and returns the exit code of the process.
func clusterStoreHelper() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv(clusterStoreHelperEnv))
	if err != nil {
		return fail(err)
	}
	clients, err := cmdutil.NewClients(cfg, "default", false, 500, 1000) // dbctl's defaults
	if err != nil {
		return fail(err)
	}
	n, err := strconv.Atoi(os.Getenv(clusterStoreHelperN))
	if err != nil {
		return fail(err)
	}
	store := resilience.NewClusterStore(clients.Client, os.Getenv(clusterStoreHelperNS), stateConfigMap,
		func(msg string) { fmt.Fprintln(os.Stderr, msg) })
	for i := range n {
		if err := store.Update(failure("db", fmt.Sprintf("failure %d of process %d", i, os.Getpid()))); err != nil {
			return fail(err)
		}
	}
	return 0
}

// TestClusterStoreConcurrentProcessesNeverLoseAnUpdate: 8 processes × 100 failures
// recorded at once in one ConfigMap (created by whichever comes first) = exactly 800.
func TestClusterStoreConcurrentProcessesNeverLoseAnUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 8 processes")
	}
	t.Parallel()
	ns := env.Namespace(t)
	const procs, updates = 8, 100
	cmds := make([]*exec.Cmd, procs)
	outs := make([]strings.Builder, procs)
	start := time.Now()
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), clusterStoreHelperEnv+"="+env.Kubeconfig, clusterStoreHelperNS+"="+ns,
			clusterStoreHelperN+"="+strconv.Itoa(updates))
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper %d: %v\n%s", i, err, outs[i].String())
		}
	}
	r := readStateConfigMap(t, ns).Breakers["db"]
	if r == nil || r.Failures != procs*updates || r.CurrentState() != resilience.StateClosed {
		t.Fatalf("record %+v, want %d failures, closed", r, procs*updates)
	}
	t.Logf("%d processes × %d updates of one ConfigMap: %d failures recorded in %s", procs, updates, r.Failures,
		time.Since(start).Round(time.Millisecond))
}

// seedClusterBreakers writes an open and a closed breaker into the ConfigMap.
func seedClusterBreakers(t *testing.T, ns string) {
	t.Helper()
	opened := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	err := resilience.NewClusterStore(env.Client, ns, stateConfigMap, nil).Update(func(sf *resilience.StateFile) error {
		sf.Breakers["postgres"] = &resilience.Record{State: resilience.StateOpen, Failures: 5, OpenedAt: &opened,
			LastError: "dial tcp 10.0.0.7:5432: connect: connection refused", LastFailure: &opened}
		sf.Breakers["minio"] = &resilience.Record{State: resilience.StateClosed}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBreakerCommandsOnClusterState runs breaker list and reset with
// --breaker-state cluster:NAMESPACE/NAME.
func TestBreakerCommandsOnClusterState(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	state := "cluster:" + ns + "/" + stateConfigMap
	where := "ConfigMap " + ns + "/" + stateConfigMap
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		out, errOut, code := runDbctl(t, nil, append([]string{"--breaker-state", state}, args...)...)
		if code != wantCode {
			t.Fatalf("dbctl %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, out, errOut)
		}
		return out, errOut
	}
	if out, errOut := run(0, "breaker", "list"); out != "" || errOut != "No circuit breakers recorded in "+where+": every dependency is closed.\n" {
		t.Fatalf("list of a missing ConfigMap: %q %q", out, errOut)
	}
	seedClusterBreakers(t, ns)
	out, _ := run(0, "breaker", "list")
	if !strings.Contains(out, "postgres   open     5          2026-03-04T05:06:07Z   2026-03-04T05:07:07Z   dial tcp 10.0.0.7:5432") ||
		!strings.Contains(out, "minio      closed") {
		t.Fatalf("list:\n%s", out)
	}
	out, _ = run(0, "breaker", "list", "-o", "json")
	if !strings.Contains(out, `"name": "postgres"`) {
		t.Fatalf("list -o json:\n%s", out)
	}
	_, errOut := run(1, "breaker", "reset", "postgres", "redis")
	if !strings.Contains(errOut, `unknown circuit breaker "redis" in `+where+` (known: minio, postgres)`) {
		t.Fatalf("reset of an unknown breaker: %s", errOut)
	}
	if out, _ := run(0, "breaker", "reset", "postgres"); out != "circuit breaker \"postgres\" reset\n" {
		t.Fatalf("reset: %q", out)
	}
	if got := readStateConfigMap(t, ns).Names(); !slices.Equal(got, []string{"minio"}) {
		t.Fatalf("left %v", got)
	}
	run(0, "breaker", "reset", "--all")
	if got := readStateConfigMap(t, ns).Names(); len(got) != 0 {
		t.Fatalf("left %v", got)
	}
	if _, errOut := run(0, "breaker", "reset", "--all"); errOut != "No circuit breakers to reset in "+where+".\n" {
		t.Fatalf("reset --all of nothing: %q", errOut)
	}
	// A bad value is a usage error naming the flag.
	_, errOut, code := runDbctl(t, nil, "--breaker-state", "cluster:"+ns, "breaker", "list")
	if code != 1 || !strings.Contains(errOut, `--breaker-state "cluster:`+ns+`": want cluster:NAMESPACE/NAME`) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// TestReconcileAndStatusOnClusterState: reconcile records a dependency's failures in
// the ConfigMap until its breaker opens (exit 3); status shows that breaker open;
// the state holds no credential of the dependency's URL.
func TestReconcileAndStatusOnClusterState(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	state := "cluster:" + ns + "/" + stateConfigMap
	url, secret, _ := rbacDependency(t)
	file := writeTemp(t, testdb.Postgres(ns, "orders", 1, "  dependencies: [{name: backup, url: '"+url+"'}]"))
	out, errOut, code := runDbctl(t, nil, "--breaker-state", state, "reconcile", "-f", file, "--timeout", "30s",
		"--retry-initial", "10ms", "--breaker-threshold", "2", "--dependency-qps", "1000")
	if code != 3 || !strings.Contains(out+errOut, `circuit breaker`) {
		t.Fatalf("reconcile: exit %d, want 3 with the breaker open\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	sf := readStateConfigMap(t, ns)
	r := sf.Breakers["backup"]
	if r == nil || r.CurrentState() != resilience.StateOpen || r.Failures != 2 {
		t.Fatalf("breaker %+v, want open after 2 failures", r)
	}
	cm := &corev1.ConfigMap{}
	_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: stateConfigMap}, cm)
	assertNoSecret(t, fmt.Sprint(cm.Data)+out+errOut, secret)

	out, errOut, code = runDbctl(t, nil, "--breaker-state", state, "status", "orders", "-n", ns, "-o", "json")
	if code != 3 || !strings.Contains(out, `"breaker": "open"`) {
		t.Fatalf("status: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// With the file store (runDbctl's own file), the same Database's breaker is closed.
	out, _, _ = runDbctl(t, nil, "status", "orders", "-n", ns, "-o", "json")
	if !strings.Contains(out, `"breaker": "closed"`) {
		t.Fatalf("status with the file store:\n%s", out)
	}
}

// writeTemp writes content to a file of the test's own and returns its path.
func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := t.TempDir() + "/db.yaml"
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRBACBreakerStateRole runs dbctl as a user bound to role.yaml in the Database's
// namespace and to breaker-state-role.yaml in the state's: reconcile, status and
// breaker list/reset work; without each verb of breaker-state-role.yaml, the command
// that needs it fails naming it.
func TestRBACBreakerStateRole(t *testing.T) {
	t.Parallel()
	role := rbacRole(t, "role.yaml")
	stateRole := rbacRole(t, "breaker-state-role.yaml")
	perms := rbacPermissions(t, stateRole)
	if want := []rbacPermission{{"get", "configmaps"}, {"update", "configmaps"}, {"create", "configmaps"}}; !slices.Equal(perms, want) {
		t.Fatalf("breaker-state-role.yaml grants %v; this test proves %v", perms, want)
	}
	for _, rule := range stateRole.Rules {
		if slices.Contains(rule.Verbs, "get") && !slices.Equal(rule.ResourceNames, []string{stateConfigMap}) {
			t.Fatalf("get and update must be restricted to %s: %+v", stateConfigMap, rule)
		}
	}
	tr := newRBACTranscript(t)
	// A user bound to role.yaml in the Database's namespace and to stateRole (or
	// stateRole without one verb) in the state's; the state ConfigMap exists when
	// seeded.
	setup := func(t *testing.T, name string, state *rbacv1.ClusterRole, seeded bool) (dbNS, stateNS, kc string) {
		dbNS, stateNS = env.Namespace(t), env.Namespace(t)
		if seeded {
			seedClusterBreakers(t, stateNS)
		}
		user := name + "-" + stateNS
		rbacUser(t, env, user, dbNS, role)
		kc = rbacUser(t, env, user, stateNS, state)
		return dbNS, stateNS, kc
	}
	stateFlag := func(ns string) []string { return []string{"--breaker-state", "cluster:" + ns + "/" + stateConfigMap} }

	t.Run("enough", func(t *testing.T) {
		dbNS, stateNS, kc := setup(t, "rbac-state", stateRole, false)
		url, _, healthy := rbacDependency(t)
		file := rbacDatabase(t, tr.dir, "orders", 1, "  dependencies: [{name: backup, url: '"+url+"'}]")
		tr.run(3, kc, append(stateFlag(stateNS), "reconcile", "-n", dbNS, "-f", file, "--timeout", "3s")...) // creates it
		if r := readStateConfigMap(t, stateNS).Breakers["backup"]; r == nil || r.Failures == 0 {
			t.Fatalf("breaker %+v", r)
		}
		healthy.Store(true)
		env.SimulateRollouts(t, dbNS)
		tr.run(0, kc, append(stateFlag(stateNS), "reconcile", "-n", dbNS, "-f", file, "--timeout", "1m")...) // updates it
		if r := readStateConfigMap(t, stateNS).Breakers["backup"]; r == nil || r.Failures != 0 || r.LastSuccess == nil {
			t.Fatalf("breaker %+v", r)
		}
		tr.run(0, kc, append(stateFlag(stateNS), "status", "orders", "-n", dbNS)...)
		tr.run(0, kc, append(stateFlag(stateNS), "breaker", "list")...)
		tr.run(0, kc, append(stateFlag(stateNS), "breaker", "reset", "backup")...)
	})
	// Each verb, and a command that needs it.
	proofs := map[rbacPermission]struct {
		seeded bool
		args   []string
	}{
		{"get", "configmaps"}:    {true, []string{"breaker", "list"}},
		{"update", "configmaps"}: {true, []string{"breaker", "reset", "postgres"}},
		{"create", "configmaps"}: {false, []string{"breaker", "reset", "--all"}},
	}
	for _, p := range perms {
		t.Run("without "+p.String(), func(t *testing.T) {
			_, stateNS, kc := setup(t, "rbac-state-without-"+p.verb, rbacWithout(stateRole, p), proofs[p].seeded)
			r := tr.run(1, kc, append(stateFlag(stateNS), proofs[p].args...)...)
			rbacWantForbidden(t, r, p)
		})
	}
	// reconcile reads the state before anything else: without get it stops at once.
	t.Run("reconcile without get", func(t *testing.T) {
		p := rbacPermission{"get", "configmaps"}
		dbNS, stateNS, kc := setup(t, "rbac-state-reconcile", rbacWithout(stateRole, p), false)
		r := tr.run(1, kc, append(stateFlag(stateNS), "reconcile", "-n", dbNS, "-f", rbacDatabase(t, tr.dir, "orders", 1, ""))...)
		rbacWantForbidden(t, r, p)
		if inv := rbacInventory(t, dbNS); len(inv) != 0 {
			t.Fatalf("reconcile wrote %v", inv)
		}
	})
	tr.scan()
}
