package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// env is what the scenarios share.
type env struct {
	c        *config
	rest     *rest.Config
	cs       kubernetes.Interface
	dyn      dynamic.Interface
	kcache   string // kubectl --cache-dir (discovery), warmed by the warm-up runs
	breakers string // dbctl --breaker-state
}

// The namespaces and names of the scenarios.
const (
	singleName = "pg"   // the 3-replica Database of the single-Database scenarios
	singleNSd  = "b1-d" // ... reconciled by dbctl
	singleNSk  = "b1-k" // ... and its kubectl twin
	scaleNSd   = "s-d"  // the Databases of the no-op scale scenarios (dbctl)
	scaleNSk   = "s-k"  // ... and their kubectl twins
)

const rolloutTimeout = "15m"

func (e *env) dbctlArgs(args ...string) []string {
	args = append(args, "--kubeconfig", e.c.kubeconfig, "--breaker-state", e.breakers)
	if len(args) > 0 && args[0] != "version" && args[0] != "install" {
		args = append(args, e.c.dbctlFlags...)
	}
	return args
}

func (e *env) kubectlArgs(args ...string) []string {
	return append([]string{"--kubeconfig", e.c.kubeconfig, "--cache-dir", e.kcache}, args...)
}

func (e *env) dbctlRun(ctx context.Context, allow []int, args ...string) (*proc, error) {
	return run(ctx, allow, e.c.dbctl, e.dbctlArgs(args...)...)
}

func (e *env) kubectlRun(ctx context.Context, allow []int, args ...string) (*proc, error) {
	return run(ctx, allow, e.c.kubectl, e.kubectlArgs(args...)...)
}

func (e *env) singleFile() string { return filepath.Join(e.c.work, "single", singleName+".yaml") }
func (e *env) singleTwin() string { return filepath.Join(e.c.work, "single-twin", singleName+".yaml") }
func (e *env) scaleDir(tool string, n int) string {
	return filepath.Join(e.c.work, fmt.Sprintf("scale-%s-%d", tool, n))
}

// kubectlTwin runs `kubectl apply --server-side -f PATH` then `kubectl rollout status`
// of each StatefulSet, one after the other, as a pipeline script would; verbose adds
// -v=6 (request logging, used only in the untimed request-counting run).
func (e *env) kubectlTwin(ctx context.Context, ns, path string, names []string, verbose bool) ([]*proc, error) {
	v := []string{}
	if verbose {
		v = []string{"-v=6"}
	}
	apply, err := e.kubectlRun(ctx, nil, append([]string{"apply", "--server-side", "-f", path}, v...)...)
	if err != nil {
		return nil, err
	}
	ps := []*proc{apply}
	for _, n := range names {
		p, err := e.kubectlRun(ctx, nil, append([]string{"rollout", "status", "statefulset/" + n, "-n", ns, "--timeout", rolloutTimeout}, v...)...)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func namesOf(dbs []dbSpec) []string {
	out := make([]string, len(dbs))
	for i, d := range dbs {
		out[i] = d.Name
	}
	return out
}

func (e *env) createNamespace(ctx context.Context, ns string) error {
	_, err := e.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// Pods need the namespace's default ServiceAccount (created by a controller).
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := e.cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the default ServiceAccount of namespace %s did not appear", ns)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deleteNamespace deletes ns and, with wait, waits until it is gone, so that the
// garbage collection of one sample does not load the cluster during the next.
func (e *env) deleteNamespace(ctx context.Context, ns string, wait bool) error {
	err := e.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || !wait {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		_, err := e.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if time.Now().After(deadline) {
			logf("   warning: namespace %s still terminating after 5m; going on", ns)
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// widenServiceCIDR adds a ServiceCIDR (networking.k8s.io/v1, GA since Kubernetes
// 1.33) of 4096 addresses: the kwok cluster's default service range is a /24, and
// the scale scenarios hold 200 (dbctl) + 200 (kubectl) + 200 (a cold sample)
// ClusterIP Services at once.
func (e *env) widenServiceCIDR(ctx context.Context) error {
	gvr := schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "servicecidrs"}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
		"metadata": map[string]any{"name": "dbctl-bench"},
		"spec":     map[string]any{"cidrs": []any{"10.0.16.0/20"}},
	}}
	_, err := e.dyn.Resource(gvr).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("adding a ServiceCIDR for the scale scenarios: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		u, err := e.dyn.Resource(gvr).Get(ctx, "dbctl-bench", metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ServiceCIDR dbctl-bench did not become Ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func seconds(d time.Duration) *float64 { s := round(d.Seconds()); return &s }

// measureCold runs ps (the tool's processes for one cold sample) while watching the
// namespace's StatefulSets, and adds the rollout time and the overhead beyond it.
func (e *env) measureCold(ctx context.Context, ns string, names []string, runIt func() ([]*proc, error)) (Sample, error) {
	w, err := watchStatefulSets(ctx, e.dyn, ns)
	if err != nil {
		return Sample{}, err
	}
	defer w.stop()
	ps, err := runIt()
	if err != nil {
		return Sample{}, err
	}
	last, err := w.lastReady(names, 30*time.Second)
	if err != nil {
		return Sample{}, err
	}
	s := sampleOf(ps...)
	s.RolloutSeconds = seconds(last.Sub(ps[0].Start))
	s.OverheadSeconds = seconds(ps[len(ps)-1].End.Sub(last))
	return s, nil
}

func (e *env) scenarios() []*Scenario {
	c := e.c
	cheap := c.iterations * c.cheapFactor
	var out []*Scenario

	// Startup.
	startup := func(name, bin string) *Variant {
		return &Variant{Name: name, Tool: "dbctl", Command: "dbctl version", run: func(ctx context.Context, _ int) (Sample, error) {
			p, err := run(ctx, nil, bin, "version")
			if err != nil {
				return Sample{}, err
			}
			return sampleOf(p), nil
		}}
	}
	out = append(out, &Scenario{
		ID: "startup", Title: "startup: `dbctl version` vs `kubectl version --client`", Iterations: cheap, warmup: true,
		Description: "Process start to exit, no cluster access.",
		Variants: []*Variant{
			startup("dbctl", c.dbctl),
			{Name: "kubectl", Tool: "kubectl", Command: "kubectl version --client", run: func(ctx context.Context, _ int) (Sample, error) {
				p, err := run(ctx, nil, c.kubectl, "version", "--client")
				if err != nil {
					return Sample{}, err
				}
				return sampleOf(p), nil
			}},
		},
	})

	// The single Ready 3-replica Database: no-op reconcile and no-change plan.
	single := dbSpec{Name: singleName, Namespace: singleNSd, Replicas: 3}
	singleK := dbSpec{Name: singleName, Namespace: singleNSk, Replicas: 3}
	singleReady := false
	setupSingle := func(ctx context.Context) error {
		if singleReady {
			return nil
		}
		if _, err := writeDatabases(filepath.Dir(e.singleFile()), []dbSpec{single}); err != nil {
			return err
		}
		if _, err := writeTwins(filepath.Dir(e.singleTwin()), []dbSpec{singleK}); err != nil {
			return err
		}
		for _, ns := range []string{singleNSd, singleNSk} {
			if err := e.createNamespace(ctx, ns); err != nil {
				return err
			}
		}
		if _, err := e.dbctlRun(ctx, nil, "reconcile", "-f", e.singleFile(), "--timeout", rolloutTimeout); err != nil {
			return err
		}
		if _, err := e.kubectlTwin(ctx, singleNSk, e.singleTwin(), []string{singleName}, false); err != nil {
			return err
		}
		singleReady = true
		return nil
	}
	kubectlNoop := func(ns, path string, names []string) *Variant {
		return &Variant{Name: "kubectl", Tool: "kubectl",
			Command: fmt.Sprintf("kubectl apply --server-side -f %s && kubectl rollout status statefulset/NAME (each of %d)", filepath.Base(path), len(names)),
			run: func(ctx context.Context, _ int) (Sample, error) {
				ps, err := e.kubectlTwin(ctx, ns, path, names, false)
				if err != nil {
					return Sample{}, err
				}
				return sampleOf(ps...), nil
			},
			countRequests: func(ctx context.Context) (map[string]int64, error) {
				ps, err := e.kubectlTwin(ctx, ns, path, names, true)
				if err != nil {
					return nil, err
				}
				var logs []string
				for _, p := range ps {
					logs = append(logs, p.Stderr)
				}
				return kubectlRequests(logs...), nil
			}}
	}
	noop := func(name, bin string) *Variant {
		return &Variant{Name: name, Tool: "dbctl", Command: "dbctl reconcile -f pg.yaml -v", run: func(ctx context.Context, _ int) (Sample, error) {
			p, err := run(ctx, nil, bin, e.dbctlArgs("reconcile", "-f", e.singleFile(), "-v")...)
			if err != nil {
				return Sample{}, err
			}
			s := sampleOf(p)
			s.Requests = dbctlRequests(p.Stderr)
			return s, nil
		}}
	}
	plan := func(name, bin string) *Variant {
		return &Variant{Name: name, Tool: "dbctl", Command: "dbctl plan -f pg.yaml --detailed-exitcode -v", run: func(ctx context.Context, _ int) (Sample, error) {
			p, err := run(ctx, nil, bin, e.dbctlArgs("plan", "-f", e.singleFile(), "--detailed-exitcode", "-v")...)
			if err != nil {
				return Sample{}, err
			}
			s := sampleOf(p)
			s.Requests = dbctlRequests(p.Stderr)
			return s, nil
		}}
	}
	out = append(out, &Scenario{
		ID: "noop-1", Title: "no-op reconcile of a Ready 3-replica Database", Iterations: cheap, warmup: true, setup: setupSingle,
		Description: "dbctl reconcile -f of an unchanged, Ready Database (it server-side applies the Database, reads its 6 children, writes nothing) " +
			"vs kubectl apply --server-side of the same 6 objects (rendered by dbctl's renderer) + kubectl rollout status.",
		Variants: []*Variant{
			noop("dbctl", c.dbctl),
			kubectlNoop(singleNSk, e.singleTwin(), []string{singleName}),
		},
	})
	out = append(out, &Scenario{
		ID: "plan-1", Title: "no-change plan of a Ready 3-replica Database", Iterations: cheap, warmup: true, setup: setupSingle,
		Description: "dbctl plan -f (server-side dry-run apply of every child, no change: exit 0 with --detailed-exitcode) " +
			"vs kubectl diff --server-side of the same 6 objects (exit 0: no difference).",
		Variants: []*Variant{
			plan("dbctl", c.dbctl),
			{Name: "kubectl", Tool: "kubectl", Command: "kubectl diff --server-side --field-manager=kubectl -f pg.yaml",
				run: func(ctx context.Context, _ int) (Sample, error) {
					p, err := e.kubectlRun(ctx, nil, "diff", "--server-side", "--field-manager=kubectl", "-f", e.singleTwin())
					if err != nil {
						return Sample{}, err
					}
					return sampleOf(p), nil
				},
				countRequests: func(ctx context.Context) (map[string]int64, error) {
					p, err := e.kubectlRun(ctx, nil, "diff", "--server-side", "--field-manager=kubectl", "-f", e.singleTwin(), "-v=6")
					if err != nil {
						return nil, err
					}
					return kubectlRequests(p.Stderr), nil
				}},
		},
	})

	// Other dbctl builds (-extra-dbctl), measured in the same rounds as the single-Database
	// scenarios: candidate changes judged against the same kubectl samples.
	for _, alt := range c.extraDbctl {
		name := "dbctl [" + alt.name + "]"
		out[0].Variants = append(out[0].Variants, startup(name, alt.path))
		out[1].Variants = append(out[1].Variants, noop(name, alt.path))
		out[2].Variants = append(out[2].Variants, plan(name, alt.path))
	}

	// Cold reconcile of one 3-replica Database to Ready.
	coldNS := func(tool string, round int) string { return fmt.Sprintf("c1-%s-%d", tool, round+1) }
	coldPrep := func(tool string) func(context.Context, int) error {
		return func(ctx context.Context, round int) error {
			ns := coldNS(tool, round)
			if err := e.createNamespace(ctx, ns); err != nil {
				return err
			}
			d := []dbSpec{{Name: singleName, Namespace: ns, Replicas: 3}}
			dir := filepath.Join(c.work, "cold1", ns)
			if tool == "d" {
				_, err := writeDatabases(dir, d)
				return err
			}
			_, err := writeTwins(dir, d)
			return err
		}
	}
	coldClean := func(tool string) func(context.Context, int) error {
		return func(ctx context.Context, round int) error { return e.deleteNamespace(ctx, coldNS(tool, round), true) }
	}
	out = append(out, &Scenario{
		ID: "cold-1", Title: "cold reconcile of a new 3-replica Database to Ready", Iterations: c.iterations,
		Description: "A new namespace per sample. Total: process start to exit. Overhead: from the moment the harness's own watch " +
			"sees the StatefulSet rolled out (kstatus Current) to the exit of the (last) process.",
		Variants: []*Variant{
			{Name: "dbctl", Tool: "dbctl", Command: "dbctl reconcile -f pg.yaml -v", prepare: coldPrep("d"), cleanup: coldClean("d"),
				run: func(ctx context.Context, round int) (Sample, error) {
					ns := coldNS("d", round)
					var p *proc
					s, err := e.measureCold(ctx, ns, []string{singleName}, func() ([]*proc, error) {
						var err error
						p, err = e.dbctlRun(ctx, nil, "reconcile", "-f", filepath.Join(c.work, "cold1", ns), "-v", "--timeout", rolloutTimeout)
						return []*proc{p}, err
					})
					if err == nil {
						s.Requests = dbctlRequests(p.Stderr)
					}
					return s, err
				}},
			{Name: "kubectl", Tool: "kubectl", Command: "kubectl apply --server-side -f pg.yaml && kubectl rollout status statefulset/pg",
				prepare: coldPrep("k"), cleanup: coldClean("k"),
				run: func(ctx context.Context, round int) (Sample, error) {
					ns := coldNS("k", round)
					return e.measureCold(ctx, ns, []string{singleName}, func() ([]*proc, error) {
						return e.kubectlTwin(ctx, ns, filepath.Join(c.work, "cold1", ns), []string{singleName}, false)
					})
				}},
		},
	})

	if len(c.scaleSizes) == 0 {
		return out
	}
	// Scale, no-op: the largest set of Ready Databases in one namespace; the smaller
	// sets are their first N, each in a directory of its own.
	n := maxInt(c.scaleSizes)
	scaleReady := false
	setupScale := func(ctx context.Context) error {
		if scaleReady {
			return nil
		}
		for _, ns := range []string{scaleNSd, scaleNSk} {
			if err := e.createNamespace(ctx, ns); err != nil {
				return err
			}
		}
		for _, size := range c.scaleSizes {
			if _, err := writeDatabases(e.scaleDir("d", size), databases("db", scaleNSd, size, 1)); err != nil {
				return err
			}
			if _, err := writeTwins(e.scaleDir("k", size), databases("db", scaleNSk, size, 1)); err != nil {
				return err
			}
		}
		if _, err := e.dbctlRun(ctx, nil, "reconcile", "-f", e.scaleDir("d", n), "--concurrency", "16", "--timeout", rolloutTimeout, "-q"); err != nil {
			return err
		}
		if _, err := e.kubectlTwin(ctx, scaleNSk, e.scaleDir("k", n), namesOf(databases("db", scaleNSk, n, 1)), false); err != nil {
			return err
		}
		scaleReady = true
		return nil
	}
	for _, size := range c.scaleSizes {
		s := &Scenario{ID: fmt.Sprintf("noop-%d", size), Title: fmt.Sprintf("no-op reconcile of %d Ready Databases (1 replica) from one directory", size),
			Iterations: c.iterations, warmup: true, setup: setupScale,
			Description: fmt.Sprintf("dbctl reconcile -f DIR (%d files) at several --concurrency vs kubectl apply --server-side -f DIR "+
				"(the same %d×5 objects) + kubectl rollout status of each StatefulSet, one after the other.", size, size)}
		for _, conc := range c.noopConcurrency {
			s.Variants = append(s.Variants, &Variant{Name: fmt.Sprintf("dbctl --concurrency %d", conc), Tool: "dbctl",
				Command: fmt.Sprintf("dbctl reconcile -f dir/ --concurrency %d -v", conc),
				run: func(ctx context.Context, _ int) (Sample, error) {
					p, err := e.dbctlRun(ctx, nil, "reconcile", "-f", e.scaleDir("d", size), "--concurrency", fmt.Sprint(conc), "-v")
					if err != nil {
						return Sample{}, err
					}
					smp := sampleOf(p)
					smp.Requests = dbctlRequests(p.Stderr)
					return smp, nil
				}})
		}
		s.Variants = append(s.Variants, kubectlNoop(scaleNSk, e.scaleDir("k", size), namesOf(databases("db", scaleNSk, size, 1))))
		out = append(out, s)
	}

	// Scale, cold: a new namespace per sample, deleted (and waited for) after it.
	for _, size := range c.scaleSizes {
		s := &Scenario{ID: fmt.Sprintf("cold-%d", size), Title: fmt.Sprintf("cold reconcile of %d new Databases (1 replica) to Ready", size),
			Iterations: c.coldScaleIterations,
			Description: fmt.Sprintf("A new namespace per sample. dbctl reconcile -f DIR --concurrency C vs kubectl apply --server-side -f DIR " +
				"+ kubectl rollout status of each StatefulSet. Rollout: from the start to the last StatefulSet rolled out (the harness's watch); " +
				"overhead: from then to the exit. The cluster's controllers (StatefulSet controller, scheduler, PV binder, kwok) bound both."),
		}
		nsOf := func(tool string, round int) string { return fmt.Sprintf("cs%d-%s-%d", size, tool, round+1) }
		prep := func(tool string) func(context.Context, int) error {
			return func(ctx context.Context, round int) error {
				ns := nsOf(tool, round)
				if err := e.createNamespace(ctx, ns); err != nil {
					return err
				}
				dir := filepath.Join(c.work, "coldscale", ns)
				if strings.HasPrefix(tool, "d") {
					_, err := writeDatabases(dir, databases("db", ns, size, 1))
					return err
				}
				_, err := writeTwins(dir, databases("db", ns, size, 1))
				return err
			}
		}
		clean := func(tool string) func(context.Context, int) error {
			return func(ctx context.Context, round int) error { return e.deleteNamespace(ctx, nsOf(tool, round), true) }
		}
		names := namesOf(databases("db", "", size, 1))
		for _, conc := range c.coldConcurrency {
			if conc == 1 && size > c.coldC1MaxSize {
				continue
			}
			tool := fmt.Sprintf("d%d", conc)
			s.Variants = append(s.Variants, &Variant{Name: fmt.Sprintf("dbctl --concurrency %d", conc), Tool: "dbctl",
				Command: fmt.Sprintf("dbctl reconcile -f dir/ --concurrency %d -v", conc), prepare: prep(tool), cleanup: clean(tool),
				run: func(ctx context.Context, round int) (Sample, error) {
					ns := nsOf(tool, round)
					var p *proc
					smp, err := e.measureCold(ctx, ns, names, func() ([]*proc, error) {
						var err error
						p, err = e.dbctlRun(ctx, nil, "reconcile", "-f", filepath.Join(c.work, "coldscale", ns), "--concurrency", fmt.Sprint(conc),
							"--timeout", rolloutTimeout, "-v")
						return []*proc{p}, err
					})
					if err == nil {
						smp.Requests = dbctlRequests(p.Stderr)
					}
					return smp, err
				}})
		}
		s.Variants = append(s.Variants, &Variant{Name: "kubectl", Tool: "kubectl",
			Command: fmt.Sprintf("kubectl apply --server-side -f dir/ && kubectl rollout status statefulset/NAME (each of %d)", size),
			prepare: prep("k"), cleanup: clean("k"),
			run: func(ctx context.Context, round int) (Sample, error) {
				ns := nsOf("k", round)
				return e.measureCold(ctx, ns, names, func() ([]*proc, error) {
					return e.kubectlTwin(ctx, ns, filepath.Join(c.work, "coldscale", ns), names, false)
				})
			}})
		out = append(out, s)
	}
	return out
}
