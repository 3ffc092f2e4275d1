package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/resilience"
	"github.com/dbctl-io/dbctl/test/testdb"
	"github.com/dbctl-io/dbctl/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	e, stop := testenv.Shared(m)
	env = e
	code := m.Run()
	stop()
	os.Exit(code)
}

type harness struct {
	t       *testing.T
	ns      string
	clients *cmdutil.Clients
	engine  *reconcile.Engine
	mu      sync.Mutex
	events  []reconcile.Event
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ns := env.Namespace(t)
	clients, err := cmdutil.NewClients(env.Config, ns, true, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ns: ns, clients: clients}
	h.engine = &reconcile.Engine{
		Client: clients.Client,
		Retry:  resilience.Policy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		Dependencies: &reconcile.DependencyChecker{Guard: &resilience.Guard{
			Limiters: resilience.NewLimiters(100, 1),
			Store:    resilience.NewStore(t.TempDir()+"/breakers.json", func(string) {}),
		}},
		Events: func(ev reconcile.Event) {
			h.mu.Lock()
			h.events = append(h.events, ev)
			h.mu.Unlock()
		},
	}
	return h
}

func (h *harness) target(yamlDoc string) reconcile.Target {
	h.t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(yamlDoc), &u.Object); err != nil {
		h.t.Fatal(err)
	}
	u.SetNamespace(h.ns)
	return reconcile.Target{Namespace: h.ns, Name: u.GetName(), Object: u, Source: "test.yaml: document 1"}
}

func (h *harness) reconcile(t reconcile.Target, timeout time.Duration) *reconcile.Result {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return h.engine.Reconcile(ctx, t)
}

func postgres(name string, replicas int, extra string) string {
	return testdb.Postgres("", name, replicas, extra)
}

// simulateRollouts marks the namespace's StatefulSets rolled out (envtest runs no
// controllers).
func (h *harness) simulateRollouts() (stop func()) { return env.SimulateRollouts(h.t, h.ns) }

// versions returns the resourceVersion of the Database and of every child.
func (h *harness) versions(name string) map[string]string {
	h.t.Helper()
	out := map[string]string{}
	objs := map[string]client.Object{
		"Database":            &v1alpha1.Database{},
		"Secret":              &corev1.Secret{},
		"Service/headless":    &corev1.Service{},
		"Service":             &corev1.Service{},
		"ConfigMap":           &corev1.ConfigMap{},
		"StatefulSet":         &appsv1.StatefulSet{},
		"PodDisruptionBudget": &policyv1.PodDisruptionBudget{},
		"Secret/replication":  &corev1.Secret{},
		"Service/ro":          &corev1.Service{},
		"StatefulSet/replica": &appsv1.StatefulSet{},
	}
	names := map[string]string{"Database": name, "Secret": name + "-credentials", "Service/headless": name + "-headless",
		"Service": name, "ConfigMap": name + "-config", "StatefulSet": name, "PodDisruptionBudget": name,
		"Secret/replication": name + "-replication", "Service/ro": name + "-ro", "StatefulSet/replica": name + "-replica"}
	for k, o := range objs {
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: names[k]}, o)
		switch {
		case apierrors.IsNotFound(err):
			out[k] = "absent"
		case err != nil:
			h.t.Fatal(err)
		default:
			out[k] = o.GetResourceVersion()
		}
	}
	return out
}

func (h *harness) password(name string) string {
	h.t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: name + "-credentials"}, s); err != nil {
		h.t.Fatal(err)
	}
	return string(s.Data["password"])
}

func requireOutcome(t *testing.T, r *reconcile.Result, want reconcile.Outcome) {
	t.Helper()
	if r.Outcome != want {
		t.Fatalf("outcome %s (phase %s): %s; want %s", r.Outcome, r.Phase, r.Message, want)
	}
}

func TestColdReconcileCreatesEachPhasesObjects(t *testing.T) {
	h := newHarness(t)
	h.simulateRollouts()
	r := h.reconcile(h.target(postgres("orders", 3, "  parameters: {max_connections: \"200\"}")), time.Minute)
	requireOutcome(t, r, reconcile.OutcomeReady)

	var transitions []string
	for _, e := range r.Transitions {
		transitions = append(transitions, e.String())
	}
	if got, want := strings.Join(transitions, ", "),
		"Pending → Provisioning, Provisioning → Configuring, Configuring → Deploying, Deploying → Verifying, Verifying → Ready"; got != want {
		t.Errorf("transitions:\n got %s\nwant %s", got, want)
	}
	var changes []string
	for _, c := range r.Changes {
		changes = append(changes, fmt.Sprintf("%s %s %s %s", c.Phase, c.Action.Symbol(), c.Kind, c.Name))
	}
	want := []string{
		"Provisioning + Secret orders-credentials",
		"Provisioning + Secret orders-replication",
		"Provisioning + Service orders-headless",
		"Provisioning + Service orders",
		"Provisioning + Service orders-ro",
		"Configuring + ConfigMap orders-config",
		"Deploying + StatefulSet orders",
		"Deploying + StatefulSet orders-replica",
		"Deploying + PodDisruptionBudget orders",
	}
	if got := strings.Join(changes, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}

	db := &v1alpha1.Database{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: "orders"}, db); err != nil {
		t.Fatal(err)
	}
	if db.Status.Phase != v1alpha1.PhaseReady || db.Status.ObservedGeneration != db.Generation ||
		db.Status.Endpoint != "orders."+h.ns+".svc:5432" || db.Status.VerifyStartTime != nil || db.Status.RetryCount != 0 {
		t.Errorf("status %+v", db.Status)
	}
	for _, ct := range []string{"Ready", "Provisioned", "Configured", "Deployed", "Verified", "DependenciesAvailable"} {
		if c := db.Condition(ct); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("condition %s = %+v", ct, c)
		}
	}
	// Owner references, field manager, labels.
	sts := &appsv1.StatefulSet{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: "orders"}, sts); err != nil {
		t.Fatal(err)
	}
	if !phases.IsOwnedBy(sts, db) || sts.Labels[phases.LabelManagedBy] != "dbctl" {
		t.Errorf("StatefulSet owner/labels: %v %v", sts.OwnerReferences, sts.Labels)
	}
	managers := map[string]bool{}
	for _, mf := range sts.ManagedFields {
		managers[mf.Manager+"/"+string(mf.Operation)] = true
	}
	if !managers["dbctl/Apply"] {
		t.Errorf("StatefulSet managers: %v", managers)
	}
	if pw := h.password("orders"); len(pw) != 43 {
		t.Errorf("password length %d", len(pw))
	}
}

func TestSecondRunChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.simulateRollouts()
	tgt := h.target(postgres("orders", 3, ""))
	requireOutcome(t, h.reconcile(tgt, time.Minute), reconcile.OutcomeReady)
	before := h.versions("orders")
	counts := h.clients.Requests.Counts()

	r := h.reconcile(tgt, time.Minute)
	requireOutcome(t, r, reconcile.OutcomeReady)
	if after := h.versions("orders"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("resourceVersions changed on a no-op run:\nbefore %v\nafter  %v", before, after)
	}
	if len(r.Changes) != 0 || len(r.Transitions) != 0 {
		t.Errorf("no-op run made changes %v transitions %v", r.Changes, r.Transitions)
	}
	// At most children + 2 requests, and no mutating request besides the apply of
	// the Database itself (a no-op patch persists nothing).
	after := h.clients.Requests.Counts()
	total, mutating := int64(0), int64(0)
	for verb, n := range after {
		d := n - counts[verb]
		total += d
		if verb != "GET" && verb != "LIST" && verb != "WATCH" {
			mutating += d
		}
	}
	if children := int64(len(phases.Children(&v1alpha1.Database{}))); total > children+2 {
		t.Errorf("no-op run made %d requests (%v → %v)", total, counts, after)
	}
	if mutating > 1 {
		t.Errorf("no-op run made %d mutating requests", mutating)
	}
	// From the cluster (no file): no write at all.
	counts = h.clients.Requests.Counts()
	requireOutcome(t, h.reconcile(reconcile.Target{Namespace: h.ns, Name: "orders"}, time.Minute), reconcile.OutcomeReady)
	for verb, n := range h.clients.Requests.Counts() {
		if verb != "GET" && n != counts[verb] {
			t.Errorf("a no-op run from the cluster made %d %s requests", n-counts[verb], verb)
		}
	}
}

func TestUpdatesKeepThePasswordAndPruneThePDB(t *testing.T) {
	h := newHarness(t)
	h.simulateRollouts()
	requireOutcome(t, h.reconcile(h.target(postgres("orders", 3, "")), time.Minute), reconcile.OutcomeReady)
	pw := h.password("orders")
	cm := &corev1.ConfigMap{}
	_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: "orders-config"}, cm)

	r := h.reconcile(h.target(postgres("orders", 1, "  parameters: {max_connections: \"300\"}\n  credentials: {username: shop}")), time.Minute)
	requireOutcome(t, r, reconcile.OutcomeReady)
	var transitions []string
	for _, e := range r.Transitions {
		transitions = append(transitions, e.String())
	}
	if got := strings.Join(transitions, ", "); got != "Ready → Updating, Updating → Verifying, Verifying → Ready" {
		t.Errorf("transitions %s", got)
	}
	if got := h.password("orders"); got != pw {
		t.Error("the password changed on an update")
	}
	if v := h.versions("orders"); v["PodDisruptionBudget"] != "absent" {
		t.Errorf("PodDisruptionBudget not pruned: %v", v)
	}
	sts := &appsv1.StatefulSet{}
	_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: "orders"}, sts)
	if *sts.Spec.Replicas != 1 {
		t.Errorf("replicas %d", *sts.Spec.Replicas)
	}
	newCM := &corev1.ConfigMap{}
	_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: "orders-config"}, newCM)
	if !strings.Contains(newCM.Data["postgresql.conf"], "max_connections = '300'") {
		t.Errorf("config not updated: %s", newCM.Data["postgresql.conf"])
	}
	hash, _ := phases.ConfigHash(&v1alpha1.Database{Spec: v1alpha1.DatabaseSpec{Engine: "postgres", Storage: v1alpha1.StorageSpec{Size: resource.MustParse("1Gi")},
		Parameters: map[string]v1alpha1.ParameterValue{"max_connections": "300"}}})
	if sts.Spec.Template.Annotations[phases.AnnotationConfigHash] != hash {
		t.Errorf("config hash annotation %q, want %q", sts.Spec.Template.Annotations[phases.AnnotationConfigHash], hash)
	}
}

func TestHandEditIsRepairedButAnotherApplierConflicts(t *testing.T) {
	h := newHarness(t)
	h.simulateRollouts()
	tgt := h.target(postgres("orders", 3, ""))
	requireOutcome(t, h.reconcile(tgt, time.Minute), reconcile.OutcomeReady)

	// kubectl scale: an Update through the scale subresource.
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "orders-replica"}}
	if err := env.Client.SubResource("scale").Patch(context.Background(), sts.DeepCopy(),
		client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":1}}`)), client.FieldOwner("kubectl-scale")); err != nil {
		t.Fatal(err)
	}
	r := h.reconcile(tgt, time.Minute)
	requireOutcome(t, r, reconcile.OutcomeReady)
	_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(sts), sts)
	if *sts.Spec.Replicas != 2 {
		t.Errorf("drift not repaired: replicas %d", *sts.Spec.Replicas)
	}
	if len(r.Transitions) == 0 || r.Transitions[0].String() != "Ready → Updating" {
		t.Errorf("transitions %v", r.Transitions)
	}

	// Another tool server-side applies spec.replicas: a conflict, reported.
	other := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "StatefulSet",
		"metadata": map[string]any{"name": "orders-replica", "namespace": h.ns},
		"spec":     map[string]any{"replicas": int64(4)},
	}}
	if err := env.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(other),
		client.FieldOwner("argocd-controller"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	r = h.reconcile(tgt, 30*time.Second)
	requireOutcome(t, r, reconcile.OutcomeError)
	if !strings.Contains(r.Message, `argocd-controller: .spec.replicas`) || !strings.Contains(r.Message, "--force-conflicts") {
		t.Errorf("conflict message: %s", r.Message)
	}
	_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(sts), sts)
	if *sts.Spec.Replicas != 4 {
		t.Errorf("the conflict was forced: replicas %d", *sts.Spec.Replicas)
	}
	h.engine.ForceConflicts = true
	requireOutcome(t, h.reconcile(tgt, time.Minute), reconcile.OutcomeReady)
	_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(sts), sts)
	if *sts.Spec.Replicas != 2 {
		t.Errorf("--force-conflicts did not take the field: replicas %d", *sts.Spec.Replicas)
	}
}

func TestMissingSecretOverDataFails(t *testing.T) {
	h := newHarness(t)
	h.simulateRollouts()
	tgt := h.target(postgres("orders", 1, ""))
	requireOutcome(t, h.reconcile(tgt, time.Minute), reconcile.OutcomeReady)
	if err := env.Client.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "orders-credentials"}}); err != nil {
		t.Fatal(err)
	}
	r := h.reconcile(tgt, time.Minute)
	requireOutcome(t, r, reconcile.OutcomeFailed)
	if !strings.Contains(r.Message, "restore the Secret") {
		t.Errorf("message: %s", r.Message)
	}
	if v := h.versions("orders"); v["Secret"] != "absent" {
		t.Error("a new Secret was generated over existing data")
	}
	// The next run waits for the backoff window and would fail the same way; with a
	// short timeout it is a retryable stop naming the retry time.
	r = h.reconcile(tgt, time.Second)
	requireOutcome(t, r, reconcile.OutcomeNotReady)
	if r.RetryAt.IsZero() || !strings.Contains(r.Message, "retry allowed at") {
		t.Errorf("retry: %v %s", r.RetryAt, r.Message)
	}
}

func TestStatusWrittenOncePerTransition(t *testing.T) {
	h := newHarness(t)
	h.simulateRollouts()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := env.Client.Watch(ctx, &v1alpha1.DatabaseList{}, client.InNamespace(h.ns))
	if err != nil {
		t.Fatal(err)
	}
	r := h.reconcile(h.target(postgres("orders", 2, "")), time.Minute)
	requireOutcome(t, r, reconcile.OutcomeReady)
	final := &v1alpha1.Database{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: h.ns, Name: "orders"}, final); err != nil {
		t.Fatal(err)
	}
	// Every write up to the last one, as the watch delivers them.
	var writes []string
	timeout := time.After(30 * time.Second)
	for last := ""; last != final.ResourceVersion; {
		select {
		case ev := <-w.ResultChan():
			if db, ok := ev.Object.(*v1alpha1.Database); ok {
				writes = append(writes, string(ev.Type)+":"+string(db.Status.Phase))
				last = db.ResourceVersion
			}
		case <-timeout:
			t.Fatalf("the watch did not deliver resourceVersion %s; writes so far: %v", final.ResourceVersion, writes)
		}
	}
	w.Stop()
	want := "ADDED:, MODIFIED:Provisioning, MODIFIED:Configuring, MODIFIED:Deploying, MODIFIED:Verifying, MODIFIED:Ready"
	if got := strings.Join(writes, ", "); got != want {
		t.Errorf("Database writes:\n got %s\nwant %s", got, want)
	}
}

func TestMissingNamespace(t *testing.T) {
	h := newHarness(t)
	h.simulateRollouts()
	tgt := h.target(postgres("orders", 1, ""))
	tgt.Object.SetNamespace("does-not-exist-" + h.ns[len(h.ns)-5:])
	tgt.Namespace = tgt.Object.GetNamespace()
	r := h.reconcile(tgt, 10*time.Second)
	requireOutcome(t, r, reconcile.OutcomeError)
	if !strings.Contains(r.Message, "--create-namespace") {
		t.Errorf("message: %s", r.Message)
	}
}

func TestNotOwnedChildIsNotAdopted(t *testing.T) {
	h := newHarness(t)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "orders"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	if err := env.Client.Create(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	r := h.reconcile(h.target(postgres("orders", 1, "")), 10*time.Second)
	requireOutcome(t, r, reconcile.OutcomeError)
	if !strings.Contains(r.Message, "is not owned by Database orders") {
		t.Errorf("message: %s", r.Message)
	}
}

func TestConcurrentRunsConverge(t *testing.T) {
	h := newHarness(t)
	h.simulateRollouts()
	tgt := h.target(postgres("orders", 3, ""))
	var wg sync.WaitGroup
	results := make([]*reconcile.Result, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.reconcile(tgt, time.Minute)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.Outcome != reconcile.OutcomeReady && r.Outcome != reconcile.OutcomeNotReady {
			t.Errorf("run %d: %s: %s", i, r.Outcome, r.Message)
		}
	}
	var secrets corev1.SecretList
	if err := env.Client.List(context.Background(), &secrets, client.InNamespace(h.ns)); err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 2 {
		t.Fatalf("%d Secrets, want the credentials and the replication Secrets", len(secrets.Items))
	}
	pw := h.password("orders")
	requireOutcome(t, h.reconcile(tgt, time.Minute), reconcile.OutcomeReady)
	if h.password("orders") != pw {
		t.Error("the password changed")
	}
}

// Databases waiting for their rollouts in one namespace share one watch, and the
// next one waiting soon after finds it still open.
func TestWaitersShareOneWatchPerNamespace(t *testing.T) {
	h := newHarness(t)
	watches := func() int64 { return h.clients.Requests.Counts()["WATCH"] }
	reconcileAll := func(names ...string) {
		t.Helper()
		results := make([]*reconcile.Result, len(names))
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = h.reconcile(h.target(postgres(name, 1, "")), time.Minute)
			}()
		}
		// Complete no rollout before every Database waits for its own.
		h.awaitWaiting(names...)
		if got := watches(); got != 1 {
			t.Errorf("%d watches while %v wait; want 1", got, names)
		}
		stop := h.simulateRollouts()
		wg.Wait()
		stop()
		for i, r := range results {
			if r.Outcome != reconcile.OutcomeReady {
				t.Errorf("%s: %s: %s", names[i], r.Outcome, r.Message)
			}
		}
	}
	reconcileAll("alpha", "beta", "gamma", "delta")
	reconcileAll("epsilon")
	if got := watches(); got != 1 {
		t.Errorf("%d watches in all; want 1", got)
	}
}

// awaitWaiting returns when every named Database has reported waiting for its rollout.
func (h *harness) awaitWaiting(names ...string) {
	h.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		waiting := map[string]bool{}
		h.mu.Lock()
		for _, ev := range h.events {
			if ev.Type == reconcile.EventWaiting && strings.HasPrefix(ev.Message, "waiting for") {
				waiting[ev.Name] = true
			}
		}
		h.mu.Unlock()
		n := 0
		for _, name := range names {
			if waiting[name] {
				n++
			}
		}
		if n == len(names) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("only %v of %v waiting", waiting, names)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A rollout wait whose watch expires (410 Gone) just before the event it waits for
// gets the current state again and finishes: no error, no retry.
func TestRolloutWaitSurvivesAnExpiredWatch(t *testing.T) {
	h := newHarness(t)
	fault := &testenv.WatchFault{
		Path:       "/apis/apps/v1/namespaces/" + h.ns + "/statefulsets",
		ErrorEvent: true,
		Expire: func(_ string, u *unstructured.Unstructured) bool {
			ready, _, _ := unstructured.NestedInt64(u.Object, "status", "readyReplicas")
			return u.GetName() == "orders-replica" && ready == 2
		},
	}
	clients, err := cmdutil.NewClients(fault.Start(t, env.Config), h.ns, true, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.engine.Client = clients.Client
	done := make(chan *reconcile.Result, 1)
	go func() { done <- h.reconcile(h.target(postgres("orders", 3, "")), time.Minute) }()
	h.awaitWaiting("orders")
	fault.AwaitWatching(t, 30*time.Second)
	h.simulateRollouts()
	var r *reconcile.Result
	select {
	case r = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("the reconcile did not return")
	}
	requireOutcome(t, r, reconcile.OutcomeReady)
	if !fault.Expired() {
		t.Fatal("the watch did not expire: the test tested nothing")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.events {
		if ev.Type == reconcile.EventRetry {
			t.Errorf("the wait ended and was retried: %s", ev.Message)
		}
	}
}

// A Database made by an earlier dbctl ran every replica in StatefulSet <name>, each
// pod with a database of its own. dbctl does not turn them into replicas: plan says
// so (an error), reconcile goes Failed before any write, the Services included,
// and names the pods and PVCs.
func TestEarlierTopologyIsNotConverted(t *testing.T) {
	h := newHarness(t)
	h.simulateRollouts()
	requireOutcome(t, h.reconcile(h.target(postgres("orders", 1, "")), time.Minute), reconcile.OutcomeReady)
	// What an earlier dbctl left: three pods in StatefulSet orders.
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "orders"}}
	if err := env.Client.SubResource("scale").Patch(context.Background(), sts,
		client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":3}}`)), client.FieldOwner("dbctl-0.1")); err != nil {
		t.Fatal(err)
	}
	// The rollout simulator answers the scale with a status update; wait for it,
	// so that only a write of reconcile can change a resourceVersion below.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: "orders"}, sts); err != nil {
			t.Fatal(err)
		}
		if sts.Status.ObservedGeneration == sts.Generation && sts.Status.ReadyReplicas == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulated rollout of 3 pods did not complete: %+v", sts.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := h.versions("orders")
	tgt := h.target(postgres("orders", 3, ""))
	if p, err := h.engine.Plan(context.Background(), tgt); err != nil || !strings.Contains(p.Refused, "pods orders-1, orders-2 hold databases of their own") {
		t.Errorf("plan: %v, refused %q", err, p.Refused)
	}
	r := h.reconcile(tgt, time.Minute)
	requireOutcome(t, r, reconcile.OutcomeFailed)
	for _, want := range []string{"StatefulSet " + h.ns + "/orders runs 3 pods", "PVCs data-orders-1, data-orders-2",
		"kubectl scale statefulset orders -n " + h.ns + " --replicas=1"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("message lacks %q: %s", want, r.Message)
		}
	}
	after := h.versions("orders")
	delete(before, "Database")
	delete(after, "Database")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("a child was written:\nbefore %v\nafter  %v", before, after)
	}
	if len(r.Changes) != 0 {
		t.Errorf("changes %v", r.Changes)
	}
}
