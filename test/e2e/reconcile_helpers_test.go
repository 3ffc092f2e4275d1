//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/test/testdb"
)

// waitTimeout bounds every wait of a test on the cluster (watches).
const waitTimeout = 2 * time.Minute

// reconcileOutput is the stdout of `dbctl reconcile -o json` (formatVersion 1).
type reconcileOutput struct {
	FormatVersion int            `json:"formatVersion"`
	ExitCode      int            `json:"exitCode"`
	Results       []resultOutput `json:"results"`
}

type resultOutput struct {
	Namespace   string   `json:"namespace"`
	Name        string   `json:"name"`
	Outcome     string   `json:"outcome"`
	ExitCode    int      `json:"exitCode"`
	Phase       string   `json:"phase"`
	StartPhase  string   `json:"startPhase"`
	Message     string   `json:"message"`
	RetryAt     string   `json:"retryAt"`
	Transitions []string `json:"transitions"`
	Changes     []string `json:"changes"`
}

// reconcile is one run of `dbctl reconcile`.
type reconcile struct {
	args           []string
	stdout, stderr string
	code           int
	json           reconcileOutput // parsed for -o json
	start          time.Time       // when the run was started
}

func (r *reconcile) String() string {
	return fmt.Sprintf("dbctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// result returns the JSON result of the Database name; it fails t when there is none.
func (r *reconcile) result(t *testing.T, name string) resultOutput {
	t.Helper()
	for _, res := range r.json.Results {
		if res.Name == name {
			return res
		}
	}
	t.Fatalf("no result for Database %s in\n%s", name, r)
	return resultOutput{}
}

// runReconcile runs `dbctl reconcile args...`; with -o json it parses stdout and
// fails t when it is not the documented JSON.
func runReconcile(t *testing.T, args ...string) *reconcile {
	t.Helper()
	r := &reconcile{args: append([]string{"reconcile"}, args...), start: time.Now()}
	r.stdout, r.stderr, r.code = runDbctl(t, r.args...)
	if slices.Contains(args, "json") {
		if err := json.Unmarshal([]byte(r.stdout), &r.json); err != nil {
			t.Fatalf("-o json: %v\n%s", err, r)
		}
		if r.json.FormatVersion != 1 || r.json.ExitCode != r.code {
			t.Errorf("-o json: formatVersion %d, exitCode %d; want 1, the process's exit code %d", r.json.FormatVersion, r.json.ExitCode, r.code)
		}
	}
	return r
}

// wantExit fails t (fatally) unless the run exited with code.
func (r *reconcile) wantExit(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\n%s", r.code, code, r)
	}
}

// wantTransitions checks the phase transitions of the Database name, in order.
func (r *reconcile) wantTransitions(t *testing.T, name string, want ...string) {
	t.Helper()
	got := r.result(t, name).Transitions
	if !slices.Equal(got, want) {
		t.Errorf("%s: transitions %q, want %q\n%s", name, got, want, r)
	}
}

var coldPath = []string{
	"Pending → Provisioning", "Provisioning → Configuring", "Configuring → Deploying", "Deploying → Verifying",
}

func path(edges ...[]string) []string { return slices.Concat(edges...) }

// changeLine matches a child-write line of the progress on stderr ("  ~ StatefulSet ns/name").
var changeLine = regexp.MustCompile(`(?m)[+~=-] (Secret|Service|ConfigMap|StatefulSet|PodDisruptionBudget) \S+/\S+`)

// example returns examples/<file> with its namespace replaced by ns and the
// replacements (old, new pairs) made; it fails t when one does not apply.
func example(t *testing.T, file, ns string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples", file))
	if err != nil {
		t.Fatal(err)
	}
	replace = append([]string{"namespace: shop", "namespace: " + ns}, replace...)
	s := string(b)
	for i := 0; i < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("examples/%s has no %q", file, replace[i])
		}
		s = strings.ReplaceAll(s, replace[i], replace[i+1])
	}
	return s
}

// databaseYAML is a postgres Database with 1Gi of storage.
func databaseYAML(ns, name string, replicas int, verifyTimeout string) string {
	extra := ""
	if verifyTimeout != "" {
		extra = "  verify:\n    timeout: " + verifyTimeout
	}
	return testdb.Postgres(ns, name, replicas, extra)
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// getDatabase reads a Database.
func getDatabase(t *testing.T, ns, name string) *v1alpha1.Database {
	t.Helper()
	db := &v1alpha1.Database{}
	if err := newClient(t).Get(ctxFor(t), client.ObjectKey{Namespace: ns, Name: name}, db); err != nil {
		t.Fatalf("reading Database %s/%s: %v", ns, name, err)
	}
	return db
}

// getSecret reads the credentials Secret of the Database name; nil when it does not
// exist. It remembers the password: no dbctl output may contain it.
func getSecret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	sec := &corev1.Secret{}
	err := newClient(t).Get(ctxFor(t), client.ObjectKey{Namespace: ns, Name: name + "-credentials"}, sec)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("reading Secret %s/%s-credentials: %v", ns, name, err)
	}
	rememberPassword(string(sec.Data["password"]), ns+"/"+sec.Name)
	return sec
}

// password returns the password of the Database's credentials Secret.
func password(t *testing.T, ns, name string) []byte {
	t.Helper()
	sec := getSecret(t, ns, name)
	if sec == nil {
		t.Fatalf("Secret %s/%s-credentials does not exist", ns, name)
	}
	pw := sec.Data["password"]
	if len(pw) < 32 {
		t.Fatalf("Secret %s/%s: password of %d bytes, want at least 32", ns, sec.Name, len(pw))
	}
	return pw
}

// exists reports whether obj (with namespace and name set) exists.
func exists(t *testing.T, obj client.Object) bool {
	t.Helper()
	err := newClient(t).Get(ctxFor(t), client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatalf("reading %T %s/%s: %v", obj, obj.GetNamespace(), obj.GetName(), err)
	}
	return true
}

func meta(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

// resourceVersions returns the resourceVersion of each Database and of each of its
// possible children ("absent" for a missing one), by "Kind name".
func resourceVersions(t *testing.T, ns string, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range names {
		objs := map[string]client.Object{"Database " + name: &v1alpha1.Database{ObjectMeta: meta(ns, name)}}
		for _, c := range phases.Children(databaseOf(ns, name, 1)) {
			objs[c.Kind+" "+c.Name] = childObject(ns, c.Ref)
		}
		for key, obj := range objs {
			rv := "absent"
			if exists(t, obj) {
				rv = obj.GetResourceVersion()
			}
			out[key] = rv
		}
	}
	return out
}

// waitRolledOut watches the StatefulSet until its rollout is complete.
func waitRolledOut(t *testing.T, ns, name string) *appsv1.StatefulSet {
	t.Helper()
	sts, err := waitStatefulSet(ctxFor(t), newClient(t), client.ObjectKey{Namespace: ns, Name: name}, rolledOut)
	if err != nil {
		t.Fatalf("waiting for the rollout of StatefulSet %s/%s: %v\n%s", ns, name, err, kubectl(t, "-n", ns, "get", "statefulset,pods,pvc", "-o", "wide"))
	}
	return sts
}

// waitDatabaseRolledOut waits for the rollouts of the Database's primary (one pod)
// and, with replicas, of its replicas (replicas-1 pods), and checks their sizes.
func waitDatabaseRolledOut(t *testing.T, ns, name string, replicas int) {
	t.Helper()
	sets := map[string]int32{name: 1}
	if replicas > 1 {
		sets[name+"-replica"] = int32(replicas - 1)
	}
	for sts, want := range sets {
		got := waitRolledOut(t, ns, sts)
		if *got.Spec.Replicas != want || got.Status.ReadyReplicas != want {
			t.Errorf("StatefulSet %s: %d/%d ready, want %d/%d", sts, got.Status.ReadyReplicas, *got.Spec.Replicas, want, want)
		}
	}
}

// podNames are the pods of a Database of replicas: <name>-0 and <name>-replica-<i>.
func podNames(name string, replicas int) []string {
	out := []string{name + "-0"}
	for i := range replicas - 1 {
		out = append(out, fmt.Sprintf("%s-replica-%d", name, i))
	}
	return out
}

// wantPVCsBound checks that the PVCs data-<pod> of pods exist and are Bound.
func wantPVCsBound(t *testing.T, ns string, pods ...string) {
	t.Helper()
	for _, p := range pods {
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: meta(ns, "data-"+p)}
		if !exists(t, pvc) {
			t.Errorf("PVC %s/%s does not exist", ns, pvc.Name)
			continue
		}
		if pvc.Status.Phase != corev1.ClaimBound {
			t.Errorf("PVC %s/%s is %s, want Bound", ns, pvc.Name, pvc.Status.Phase)
		}
	}
}

// wantCondition checks a condition of db.
func wantCondition(t *testing.T, db *v1alpha1.Database, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	c := db.Condition(typ)
	switch {
	case c == nil:
		t.Errorf("Database %s: no %s condition", db.Name, typ)
	case c.Status != status || (reason != "" && c.Reason != reason):
		t.Errorf("Database %s: condition %s is %s/%s (%s), want %s/%s", db.Name, typ, c.Status, c.Reason, c.Message, status, reason)
	}
}

// watchDatabase records every status the Database goes through from now until the
// returned stop function is called; stop returns them in order.
func watchDatabase(t *testing.T, ns, name string) (stop func() []v1alpha1.DatabaseStatus) {
	t.Helper()
	c := newClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	db := getDatabase(t, ns, name)
	w, err := c.Watch(ctx, &v1alpha1.DatabaseList{}, &client.ListOptions{
		Namespace:     ns,
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name),
		Raw:           &metav1.ListOptions{ResourceVersion: db.ResourceVersion},
	})
	if err != nil {
		cancel()
		t.Fatalf("watching Database %s/%s: %v", ns, name, err)
	}
	var (
		mu      sync.Mutex
		seen    = []v1alpha1.DatabaseStatus{db.Status}
		updated = make(chan struct{}, 1)
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*v1alpha1.Database); ok && ev.Type == watch.Modified {
				mu.Lock()
				seen = append(seen, d.Status)
				mu.Unlock()
				select {
				case updated <- struct{}{}:
				default:
				}
			}
		}
	}()
	last := func() v1alpha1.DatabaseStatus {
		mu.Lock()
		defer mu.Unlock()
		return seen[len(seen)-1]
	}
	return func() []v1alpha1.DatabaseStatus {
		t.Helper()
		// The status dbctl wrote last may still be on its way: wait until the watch
		// has delivered it.
		final := getDatabase(t, ns, name)
	wait:
		for !equalStatus(last(), final.Status) {
			select {
			case <-updated:
			case <-done:
				break wait
			case <-ctx.Done():
				break wait
			}
		}
		w.Stop()
		cancel()
		<-done
		if !equalStatus(last(), final.Status) {
			t.Errorf("watching Database %s/%s: the watch ended before it delivered the last status", ns, name)
		}
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

func equalStatus(a, b v1alpha1.DatabaseStatus) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// cordonAll cordons every node and returns the function that uncordons them (also
// run at the end of the test).
func cordonAll(t *testing.T) (uncordon func()) {
	t.Helper()
	nodes := &corev1.NodeList{}
	if err := newClient(t).List(ctxFor(t), nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) == 0 {
		t.Fatal("the cluster has no nodes")
	}
	var names []string
	for _, n := range nodes.Items {
		names = append(names, n.Name)
		kubectl(t, "cordon", n.Name)
	}
	var once sync.Once
	uncordon = func() {
		once.Do(func() {
			// Not kubectl(t, ...): t.Context() is over when this runs as a cleanup.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for _, n := range names {
				_, stderr, code, err := execute(ctx, "", nil, filepath.Join(toolsBin, "kubectl"), "--kubeconfig", kubeconfig, "uncordon", n)
				if err != nil || code != 0 {
					t.Errorf("kubectl uncordon %s: exit %d, %v\n%s", n, code, err, stderr)
				}
			}
		})
	}
	t.Cleanup(uncordon)
	return uncordon
}

// wantTopology checks a Ready Database of replicas on the cluster: Service <name>
// sends connections to the primary pod only and <name>-ro (only with replicas) to
// the replica pods only, as their EndpointSlices show; the credentials Secret has
// ro-host and ro-uri only with replicas; the replication Secret exists with
// replicas; `dbctl status` names each pod's role and readiness.
func wantTopology(t *testing.T, ns, name string, replicas int) {
	t.Helper()
	pods := podNames(name, replicas)
	wantEndpoints(t, ns, name, pods[:1])
	ro := &corev1.Service{ObjectMeta: meta(ns, name+"-ro")}
	if replicas > 1 {
		wantEndpoints(t, ns, name+"-ro", pods[1:])
	} else if exists(t, ro) {
		t.Errorf("Service %s exists with one replica", ro.Name)
	}
	sec := getSecret(t, ns, name)
	if sec == nil {
		t.Fatalf("Secret %s-credentials does not exist", name)
	}
	for _, key := range []string{"ro-host", "ro-uri"} {
		if _, ok := sec.Data[key]; ok != (replicas > 1) {
			t.Errorf("Secret %s: key %s present = %v with %d replicas", sec.Name, key, ok, replicas)
		}
	}
	if got := string(sec.Data["ro-host"]); replicas > 1 && got != name+"-ro."+ns+".svc" {
		t.Errorf("Secret %s: ro-host %q", sec.Name, got)
	}
	if repl := (&corev1.Secret{ObjectMeta: meta(ns, name+"-replication")}); replicas > 1 && !exists(t, repl) {
		t.Errorf("Secret %s does not exist with %d replicas", repl.Name, replicas)
	} else if replicas > 1 {
		if string(repl.Data["username"]) != v1alpha1.ReplicationUsername || len(repl.Data["password"]) < 32 {
			t.Errorf("Secret %s: username %q, a password of %d bytes", repl.Name, repl.Data["username"], len(repl.Data["password"]))
		}
		rememberPassword(string(repl.Data["password"]), repl.Name)
	}
	out, _, code := runDbctl(t, "status", name, "-n", ns)
	if code != 0 {
		t.Errorf("dbctl status %s: exit %d\n%s", name, code, out)
	}
	want := []string{pods[0] + ` +primary +ready`}
	for _, p := range pods[1:] {
		want = append(want, p+` +replica +streaming`)
	}
	for _, w := range want {
		if !regexp.MustCompile(`(?m)^\s+` + w + `$`).MatchString(out) {
			t.Errorf("dbctl status does not show %q:\n%s", w, out)
		}
	}
}

// wantEndpoints waits (a minute at most) until Service svc's EndpointSlices list
// exactly pods, ready.
func wantEndpoints(t *testing.T, ns, svc string, pods []string) {
	t.Helper()
	want := strings.Join(slices.Sorted(slices.Values(pods)), " ")
	var got string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		out := kubectl(t, "-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name="+svc,
			"-o", `jsonpath={range .items[*].endpoints[?(@.conditions.ready==true)]}{.targetRef.name}{" "}{end}`)
		got = strings.Join(slices.Sorted(slices.Values(strings.Fields(out))), " ")
		if got == want {
			return
		}
	}
	t.Errorf("Service %s/%s sends connections to %q, want %q", ns, svc, got, want)
}
