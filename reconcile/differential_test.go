package reconcile_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/resilience"
)

// TestPlanPredictsReconcile is the differential test of SPEC §9: over generated
// scenarios (random spec changes × random live states, see
// differential_scenario_test.go), what Engine.Plan says reconcile will do is what
// Engine.Reconcile then does, on the real API server, with virtual time
// (differential_clock_test.go). The comparison and the differences expected by
// design are in differential_compare_test.go.
//
//	DBCTL_DIFF_SCENARIOS=2000  how many scenarios (default 200)
//	DBCTL_DIFF_BASE_SEED=7     the seed of the first scenario (default 1); scenario i has seed base+i
//	DBCTL_DIFF_SEED=1234       replay one scenario, with its plan, result and events
//	DBCTL_DIFF_PARALLEL=4      scenarios at once (default 4)
func TestPlanPredictsReconcile(t *testing.T) {
	cfg := diffConfigFromEnv(t)
	clients, err := cmdutil.NewClients(env.Config, "default", true, 1000, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if err := createStorageClasses(context.Background(), env.Client); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sem := make(chan struct{}, cfg.parallel)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		rules    = map[string]int{}
		features = map[string]int{}
	)
	for _, seed := range cfg.seeds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				rule, seen := runScenario(t, clients.Client, genScenario(seed), cfg.verbose)
				mu.Lock()
				rules[rule]++
				for _, f := range seen {
					features[f]++
				}
				mu.Unlock()
			})
		}()
	}
	wg.Wait()
	t.Logf("%d scenarios in %s (%d at once); by outcome: %s; exercised: %s", len(cfg.seeds), time.Since(start).Round(time.Millisecond),
		cfg.parallel, countsText(rules), countsText(features))
}

// countsText is "a 3, b 1", the most frequent first.
func countsText(counts map[string]int) string {
	keys := slices.Collect(maps.Keys(counts))
	sort.Slice(keys, func(i, j int) bool {
		return counts[keys[i]] > counts[keys[j]] || counts[keys[i]] == counts[keys[j]] && keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

type diffConfig struct {
	seeds    []uint64
	parallel int
	verbose  bool
}

func diffConfigFromEnv(t *testing.T) diffConfig {
	num := func(name string, def uint64) uint64 {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, v, err)
		}
		return n
	}
	cfg := diffConfig{parallel: int(max(num("DBCTL_DIFF_PARALLEL", 4), 1))}
	if os.Getenv("DBCTL_DIFF_SEED") != "" {
		cfg.seeds, cfg.verbose = []uint64{num("DBCTL_DIFF_SEED", 0)}, true
		return cfg
	}
	base, n := num("DBCTL_DIFF_BASE_SEED", 1), num("DBCTL_DIFF_SCENARIOS", 200)
	for i := range n {
		cfg.seeds = append(cfg.seeds, base+i)
	}
	return cfg
}

func runtimeFrom(u *unstructured.Unstructured, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)
}

func objectMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name}
}

// scenarioRun is one scenario in its namespace.
type scenarioRun struct {
	t     *testing.T
	s     *scenario
	c     client.WithWatch
	ns    string
	deps  *depFixture
	ctl   *controller
	notes []string
}

// runScenario sets the scenario up, plans, reconciles and compares. It returns the
// rule of the comparison and the exit code, and what the scenario exercised, for
// the statistics.
func runScenario(t *testing.T, c client.WithWatch, s *scenario, verbose bool) (string, []string) {
	sr := &scenarioRun{t: t, s: s, c: c, ns: env.Namespace(t), deps: newDepFixture(t)}
	sr.ctl = startController(t, c, sr.ns)
	t.Cleanup(sr.releaseServiceIPs)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: %s\n  scenario: %s\n  %s\n  replay: DBCTL_DIFF_SEED=%d go test -count=1 -run TestPlanPredictsReconcile ./reconcile/",
			s.seed, fmt.Sprintf(format, args...), s.Description(), strings.Join(sr.notes, "; "), s.seed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sr.setup(ctx); err != nil {
		fail("setup: %v", err)
	}
	vstart, tgt, err := sr.perturb(ctx)
	if err != nil {
		fail("perturbing: %v", err)
	}
	o, err := sr.planAndReconcile(ctx, vstart, tgt)
	if err != nil {
		fail("%v", err)
	}
	w := predict(o.plan, o.planErr, runFacts{s: s, db: o.db, before: o.before, start: vstart, events: o.events})
	diffs := compare(o.plan, w, o)
	if verbose || len(diffs) > 0 {
		t.Log(o.report(w))
	}
	if len(diffs) > 0 {
		fail("plan and reconcile disagree (rule %q):\n    %s", w.rule, strings.Join(diffs, "\n    "))
	}
	return fmt.Sprintf("%s (exit %d)", w.rule, w.exit), o.exercised(s)
}

// exercised names what the scenario's plan and reconcile went through.
func (o *outcome) exercised(s *scenario) []string {
	seen := map[string]bool{}
	for _, t := range s.tags {
		seen[t] = true
	}
	for _, c := range o.plan.Changes {
		switch {
		case c.Action == reconcile.ActionUnchanged:
		case c.Kind == reconcile.KindPersistentVolumeClaim && strings.HasSuffix(c.Name, "-backups"):
			seen["backups PVC "+string(c.Action)] = true
		case c.Kind == phases.KindCronJob:
			seen["backup CronJob "+string(c.Action)] = true
		case c.Kind == reconcile.KindPersistentVolumeClaim:
			seen["volume growth"] = true
		case c.Action == reconcile.ActionUpdate:
			seen["update"] = true
		case c.Action == reconcile.ActionCreate:
			seen["create"] = true
		case c.Action == reconcile.ActionDelete:
			seen["delete"] = true
		}
	}
	for _, n := range o.plan.Notes {
		switch {
		case strings.Contains(n, ": takes back "):
			seen["hand edit taken back"] = true
		case strings.Contains(n, ": --force-conflicts takes "):
			seen["forced conflict"] = true
		case strings.HasPrefix(n, "status says "):
			seen["phase re-derived"] = true
		}
	}
	for _, ev := range o.events {
		switch {
		case ev.Type == reconcile.EventWaiting && ev.Rollout == nil:
			seen["backoff window waited"] = true
		case ev.Type == reconcile.EventWaiting:
			seen["rollout waited"] = true
		case ev.Type == reconcile.EventRetry:
			seen["retried"] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// releaseServiceIPs deletes the scenario's Services: envtest's Service IP range
// (a /24) holds the ClusterIPs of about a hundred scenarios, and its namespaces
// are never deleted (no namespace controller).
func (sr *scenarioRun) releaseServiceIPs() {
	var list corev1.ServiceList
	if err := sr.c.List(context.Background(), &list, client.InNamespace(sr.ns)); err != nil {
		sr.t.Logf("listing the Services of %s: %v", sr.ns, err)
		return
	}
	for i := range list.Items {
		if err := sr.c.Delete(context.Background(), &list.Items[i]); client.IgnoreNotFound(err) != nil {
			sr.t.Logf("deleting Service %s/%s: %v", sr.ns, list.Items[i].Name, err)
		}
	}
}

// engine is an engine on clk with a tiny retry policy and the scenario's own
// breaker state; events receives its progress.
func (sr *scenarioRun) engine(clk clock.WithTicker, events func(reconcile.Event)) *reconcile.Engine {
	policy := resilience.Policy{Initial: 20 * time.Millisecond, Max: retryMax}
	guard := &resilience.Guard{Limiters: resilience.NewLimiters(1000, 10),
		Store: resilience.NewStore(filepath.Join(sr.t.TempDir(), "breakers.json"), func(string) {})}
	if _, real := clk.(clock.RealClock); !real {
		policy.Clock, guard.Clock = clk, clk
	}
	return &reconcile.Engine{Client: sr.c, Clock: clk, Retry: policy, ForceConflicts: sr.s.force,
		Dependencies: &reconcile.DependencyChecker{Guard: guard}, Events: events}
}

// retryMax is the longest wait between retries: virtual, it costs nothing, and it
// bounds the retries of a volume that never grows to a few hundred per run.
const retryMax = 10 * time.Second

// setup reconciles the base Database to the scenario's start state, on the real
// clock, its rollouts completing when it waits for them.
func (sr *scenarioRun) setup(ctx context.Context) error {
	s := sr.s
	if s.start == startAbsent {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var last []string
	eng := sr.engine(clock.RealClock{}, func(ev reconcile.Event) {
		last = append(last[max(len(last)-4, 0):], fmt.Sprintf("%s %s→%s %s", ev.Type, ev.From, ev.To, ev.Message))
		switch {
		case ev.Type == reconcile.EventWaiting && ev.Rollout != nil:
			sr.ctl.enable(ctx)
		case s.start == startStopped && ev.Type == reconcile.EventPhase && ev.To == s.stopAfter:
			cancel() // killed: the next request fails
		}
	})
	res := eng.Reconcile(ctx, reconcile.Target{Namespace: sr.ns, Name: s.name, Object: s.base.object(sr.ns, s.name, sr.deps)})
	sr.ctl.disable()
	if err := sr.volumes(); err != nil {
		return err
	}
	switch {
	case s.start == startReady && res.Outcome != reconcile.OutcomeReady:
		return fmt.Errorf("the base did not reach Ready: %s: %s (last events: %q)", res.Outcome, res.Message, last)
	case s.start == startStopped && res.Phase != s.stopAfter:
		return fmt.Errorf("the base run stopped in %s, not %s: %s (last events: %q)", res.Phase, s.stopAfter, res.Message, last)
	}
	return nil
}

// volumes creates the PVCs of the pods of the base when it has a storage class
// and its StatefulSets exist.
func (sr *scenarioRun) volumes() error {
	ctx := context.Background()
	if sr.s.base.Class == "" {
		return nil
	}
	sts, err := getChild(ctx, sr.c, sr.ns, phases.KindStatefulSet, sr.s.name)
	if err != nil || sts == nil {
		return err
	}
	return createVolumes(ctx, sr.c, sr.ns, sr.s.name, sr.s.base)
}

// perturb makes the scenario's changes and returns the virtual clock's start and
// the target plan and reconcile get.
func (sr *scenarioRun) perturb(ctx context.Context) (time.Time, reconcile.Target, error) {
	s := sr.s
	tgt := reconcile.Target{Namespace: sr.ns, Name: s.name, Object: s.target.object(sr.ns, s.name, sr.deps), Source: "differential"}
	if s.dbApplier > 0 {
		obj := s.base.object(sr.ns, s.name, sr.deps)
		obj.Object["spec"] = map[string]any{"replicas": int64(s.dbApplier)}
		if err := sr.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("argocd-controller"), client.ForceOwnership); err != nil {
			return time.Time{}, tgt, fmt.Errorf("applying the Database as argocd-controller: %w", err)
		}
	}
	if s.fromCluster {
		if err := sr.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(tgt.Object), client.FieldOwner("dbctl"), client.ForceOwnership); err != nil {
			return time.Time{}, tgt, fmt.Errorf("applying the target spec: %w", err)
		}
		tgt.Object = nil
	}
	for _, e := range s.live {
		did, err := applyLiveEdit(ctx, sr.c, sr.ns, e)
		if err != nil {
			return time.Time{}, tgt, fmt.Errorf("%s: %w", e, err)
		}
		sr.notes = append(sr.notes, fmt.Sprintf("%s: %s", e, did))
	}
	sr.ctl.resizing.Store(!s.blockVolumes)
	sr.deps.unhealthy.Store(s.httpDown)
	if s.tcpDown {
		_ = sr.deps.tcp.Close()
	}
	start := time.Now().Truncate(time.Second)
	return start, tgt, sr.setStatus(ctx, start)
}

// setStatus sets the scenario's status, its times relative to start.
func (sr *scenarioRun) setStatus(ctx context.Context, start time.Time) error {
	e := sr.s.status
	if e == nil {
		return nil
	}
	db := &v1alpha1.Database{}
	if err := sr.c.Get(ctx, client.ObjectKey{Namespace: sr.ns, Name: sr.s.name}, db); err != nil {
		return err
	}
	db.Status.Phase, db.Status.RetryCount = e.phase, e.retryCount
	db.Status.LastFailureTime, db.Status.VerifyStartTime = nil, nil
	if e.lastFailure != nil {
		db.Status.LastFailureTime = &metav1.Time{Time: start.Add(*e.lastFailure)}
	}
	if e.verifyStart != nil {
		db.Status.VerifyStartTime = &metav1.Time{Time: start.Add(*e.verifyStart)}
	}
	return sr.c.Status().Update(ctx, db)
}

// outcome is what a scenario's plan and reconcile did.
type outcome struct {
	plan          *reconcile.Plan
	planErr       error
	db            *v1alpha1.Database
	before, after snapshot
	res           *reconcile.Result
	events        []reconcile.Event
	clockEnd      time.Time
}

// planAndReconcile plans (asserting that it writes nothing), then reconciles on
// the virtual clock.
func (sr *scenarioRun) planAndReconcile(ctx context.Context, vstart time.Time, tgt reconcile.Target) (*outcome, error) {
	s, o := sr.s, &outcome{}
	clk := newVirtualClock(vstart)
	var mu sync.Mutex
	eng := sr.engine(clk, func(ev reconcile.Event) {
		mu.Lock()
		o.events = append(o.events, ev)
		mu.Unlock()
		switch {
		case ev.Type == reconcile.EventRetry, ev.Type == reconcile.EventWaiting && ev.Rollout == nil:
			clk.sleep()
		case ev.Type == reconcile.EventWaiting && s.blockRollouts:
			clk.sleep()
		case ev.Type == reconcile.EventWaiting:
			sr.ctl.enable(ctx)
		}
	})
	var err error
	if o.before, err = takeSnapshot(ctx, sr.c, sr.ns, s.name); err != nil {
		return nil, err
	}
	if o.plan, o.planErr = eng.Plan(ctx, tgt); o.planErr != nil {
		o.plan = &reconcile.Plan{Namespace: sr.ns, Name: s.name}
	}
	afterPlan, err := takeSnapshot(ctx, sr.c, sr.ns, s.name)
	if err != nil {
		return nil, err
	}
	if afterPlan.versions() != o.before.versions() {
		return nil, fmt.Errorf("the plan wrote:\n  before %s\n  after  %s", o.before.versions(), afterPlan.versions())
	}
	if u := o.before[v1alpha1.Kind+"/"+s.name]; u != nil {
		o.db = &v1alpha1.Database{}
		if err := runtimeFrom(u, o.db); err != nil {
			return nil, err
		}
	}
	vctx := newVirtualContext(vstart.Add(s.timeout), time.Minute)
	stop := make(chan struct{})
	go clk.advance(vctx, stop)
	o.res = eng.Reconcile(vctx, tgt)
	close(stop)
	if vctx.Err() == errStuck {
		return nil, fmt.Errorf("reconcile stuck in real time: %s: %s", o.res.Outcome, o.res.Message)
	}
	o.clockEnd = clk.Now()
	o.after, err = takeSnapshot(ctx, sr.c, sr.ns, s.name)
	return o, err
}

// report is the plan, the result and the events, for a failing or replayed scenario.
func (o *outcome) report(w want) string {
	var b strings.Builder
	if o.planErr != nil {
		fmt.Fprintf(&b, "plan: error: %v\n", o.planErr)
	}
	fmt.Fprintf(&b, "plan: phase %s, path %v, refused %q, notes %q\n", o.plan.Phase, o.plan.Path, o.plan.Refused, o.plan.Notes)
	fmt.Fprintf(&b, "  Database: %s\n", changeWrite(o.plan.Database))
	for _, c := range o.plan.Changes {
		fmt.Fprintf(&b, "  %s %s conflict=%q\n", c.Phase, changeWrite(c), c.Conflict)
	}
	fmt.Fprintf(&b, "prediction (%s): phase %s, exit %d, edges %v, message %q\n", w.rule, w.phase, w.exit, w.edges, w.message)
	fmt.Fprintf(&b, "result: %s (exit %d), phase %s, %q, transitions %v, virtual time at the end +%s\n", o.res.Outcome,
		o.res.Outcome.ExitCode(), o.res.Phase, o.res.Message, o.res.Transitions, o.clockEnd.Sub(o.events0()))
	fmt.Fprintf(&b, "written (read from the cluster): %v; Database %v; Result.Changes %v\n", o.before.writes(o.after),
		compareDatabaseWrite(o.plan.Name, o.before, o.after), resultWrites(o.res))
	for _, ev := range o.events {
		fmt.Fprintf(&b, "  event +%s %s %s→%s %s\n", ev.Elapsed, ev.Type, ev.From, ev.To, ev.Message)
	}
	return b.String()
}

func (o *outcome) events0() time.Time {
	if len(o.events) == 0 {
		return o.clockEnd
	}
	return o.events[0].Time.Add(-o.events[0].Elapsed)
}
