package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// controllerScenario runs the controller scenario: the baseline, the unrelated
// objects, the cold run among them, the restart with leader election.
func (e *env) controllerScenario(ctx context.Context, res *Results) (*ControllerResult, error) {
	c := e.c
	out := &ControllerResult{StartedAt: time.Now().UTC(), LoadAvgStart: loadAvg(), DbctlVersion: res.Environment.DbctlVersion,
		Nodes: c.nodes, Smoke: c.smoke, Databases: c.ctl.databases, Concurrency: c.ctl.concurrency, Command: c.controllerCommand()}
	logf("== controller: %d Databases under `dbctl controller`, %d unrelated Secrets and ConfigMaps", c.ctl.databases, c.ctl.unrelated)
	// The controller watches every namespace: the earlier scenarios' Databases and
	// kubectl twins (labelled as dbctl's children) would be reconciled and cached too.
	for _, ns := range append([]string{singleNSd, singleNSk, scaleNSd, scaleNSk, ctlBaseNS, ctlDBsNS, ctlLeaseNS}, noiseNamespaces()...) {
		if err := e.deleteNamespace(ctx, ns, true); err != nil {
			return nil, err
		}
	}
	proxy, err := startAPIProxy(e.rest)
	if err != nil {
		return nil, err
	}
	defer proxy.close()
	kubeconfig := filepath.Join(c.work, "controller-kubeconfig.yaml")
	if err := proxy.writeKubeconfig(kubeconfig); err != nil {
		return nil, err
	}
	if c.ctl.baseline {
		r, err := e.coldControllerRun(ctx, proxy, kubeconfig, "baseline", ctlBaseNS, 0)
		if err != nil {
			return nil, fmt.Errorf("baseline run: %w", err)
		}
		out.Runs = append(out.Runs, r)
		if err := e.deleteNamespace(ctx, ctlBaseNS, true); err != nil {
			return nil, err
		}
	}
	if out.Unrelated, err = e.createUnrelated(ctx, c.ctl.unrelated); err != nil {
		return nil, fmt.Errorf("creating the unrelated objects: %w", err)
	}
	r, err := e.coldControllerRun(ctx, proxy, kubeconfig, "unrelated", ctlDBsNS, c.ctl.unrelated)
	if err != nil {
		return nil, fmt.Errorf("run among the unrelated objects: %w", err)
	}
	out.Runs = append(out.Runs, r)
	if c.ctl.leaderElect {
		r, err := e.restartControllerRun(ctx, proxy, kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("leader election run: %w", err)
		}
		out.Runs = append(out.Runs, r)
	}
	// Free the cluster (no wait: nothing runs after this scenario).
	for _, ns := range append(noiseNamespaces(), ctlDBsNS, ctlLeaseNS) {
		if err := e.deleteNamespace(ctx, ns, false); err != nil {
			return nil, err
		}
	}
	out.LoadAvgEnd, out.FinishedAt = loadAvg(), time.Now().UTC()
	return out, nil
}

func noiseNamespaces() []string {
	var out []string
	for i := 1; i <= ctlNoiseNSs; i++ {
		out = append(out, fmt.Sprintf("%s%d", ctlNoisePfx, i))
	}
	return out
}

// coldControllerRun starts the controller, creates n Databases in ns, waits until
// every one is Ready, then measures the settle period and the steady state.
func (e *env) coldControllerRun(ctx context.Context, proxy *apiProxy, kubeconfig, id, ns string, unrelated int) (*ControllerRun, error) {
	n := e.c.ctl.databases
	r := &ControllerRun{ID: id, Cold: true, Unrelated: unrelated, Namespace: ns,
		Title: fmt.Sprintf("cold: %d new Databases, %d unrelated Secrets and ConfigMaps in the cluster", n, unrelated)}
	if err := e.createNamespace(ctx, ns); err != nil {
		return nil, err
	}
	dbs := databases("db", ns, n, 1)
	files, err := writeDatabases(ctlDir(e, ns), dbs)
	if err != nil {
		return nil, err
	}
	dbw, err := watchDatabases(ctx, e.dyn, ns)
	if err != nil {
		return nil, err
	}
	defer dbw.stop()
	stsw, err := watchStatefulSets(ctx, e.dyn, ns)
	if err != nil {
		return nil, err
	}
	defer stsw.stop()
	p, err := e.startWorking(ctx, kubeconfig, id, "")
	if err != nil {
		return nil, err
	}
	defer p.stop()
	r.StartSeconds = round(p.working.Sub(p.start).Seconds())
	t0 := time.Now()
	if err := e.applyDatabases(ctx, files); err != nil {
		return nil, fmt.Errorf("creating the Databases: %w", err)
	}
	r.CreateSeconds = round(time.Since(t0).Seconds())
	logf("   %d Databases created in %.1fs; waiting until every one is Ready", n, r.CreateSeconds)
	last, err := dbw.lastReady(namesOf(dbs), 30*time.Minute)
	if err != nil {
		return nil, err
	}
	r.ReadySeconds = round(last.Sub(t0).Seconds())
	r.ReadyEach, r.ReadyP90 = readySpread(dbw.readyTimes(), t0)
	if roll, err := stsw.lastReady(namesOf(dbs), 30*time.Second); err == nil {
		r.RolloutSeconds = round(roll.Sub(t0).Seconds())
	}
	logf("   every Database Ready %.1fs after the first create (last StatefulSet rolled out at %.1fs)", r.ReadySeconds, r.RolloutSeconds)
	r.Startup = requestPhase(proxy.between(p.start, t0), p.start, t0)
	r.Active = requestPhase(proxy.between(t0, last), t0, last)
	w1, err := e.steadyState(ctx, proxy, p, r, last)
	if err != nil {
		return nil, err
	}
	if unrelated > 0 && e.c.ctl.late > 0 {
		logf("   late window: counting requests until %s after the controller's start", e.c.ctl.late)
		if err := sleep(ctx, time.Until(p.start.Add(e.c.ctl.late))); err != nil {
			return nil, err
		}
		now := time.Now()
		reqs := proxy.between(w1, now)
		r.Late, r.LateUntilMinutes = requestPhase(reqs, w1, now), e.c.ctl.late.Minutes()
		r.Late.Named = nameRequests(reqs, p.start, false)
		logf("   late window: %s in %.0fs", formatRequests(r.Late.Requests), r.Late.Seconds)
		for _, s := range r.Late.Named {
			logf("     %s", s)
		}
	}
	return r, e.finishRun(ctx, proxy, p, r, ns)
}

// restartControllerRun starts the controller with leader election over the Ready
// Databases of ctlDBsNS: it acquires the Lease, steps each Database once (its
// caches' initial events), then renews the Lease.
func (e *env) restartControllerRun(ctx context.Context, proxy *apiProxy, kubeconfig string) (*ControllerRun, error) {
	n := e.c.ctl.databases
	r := &ControllerRun{ID: "leader-election", LeaderElect: true, Unrelated: e.c.ctl.unrelated, Namespace: ctlDBsNS,
		Title: fmt.Sprintf("restart with leader election (Lease in %s): %d Ready Databases, %d unrelated objects", ctlLeaseNS, n, e.c.ctl.unrelated)}
	if err := e.createNamespace(ctx, ctlLeaseNS); err != nil {
		return nil, err
	}
	p, err := e.startWorking(ctx, kubeconfig, "leader-election", ctlLeaseNS)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	started := p.working
	r.StartSeconds = round(started.Sub(p.start).Seconds())
	all, err := p.waitReadyMetric(ctx, n, 15*time.Minute)
	if err != nil {
		return nil, err
	}
	r.ReadySeconds = round(all.Sub(started).Seconds())
	logf("   leading after %.1fs; every Database stepped (and Ready) %.1fs later", r.StartSeconds, r.ReadySeconds)
	r.Startup = requestPhase(proxy.between(p.start, started), p.start, started)
	r.Active = requestPhase(proxy.between(started, all), started, all)
	if _, err := e.steadyState(ctx, proxy, p, r, all); err != nil {
		return nil, err
	}
	return r, e.finishRun(ctx, proxy, p, r, ctlDBsNS)
}

// steadyState waits for the settle period after from, then counts the requests of
// the steady-state window, and scrapes the controller's metrics at its ends; it
// returns the end of the window.
func (e *env) steadyState(ctx context.Context, proxy *apiProxy, p *ctlProc, r *ControllerRun, from time.Time) (time.Time, error) {
	if err := sleep(ctx, e.c.ctl.settle-time.Since(from)); err != nil {
		return time.Time{}, err
	}
	m0, err := scrape(ctx, p.metricsURL)
	if err != nil {
		return time.Time{}, err
	}
	w0 := time.Now()
	r.Settle = requestPhase(proxy.between(from, w0), from, w0)
	logf("   steady state: counting requests for %s", e.c.ctl.steady)
	if err := sleep(ctx, e.c.ctl.steady); err != nil {
		return time.Time{}, err
	}
	m1, err := scrape(ctx, p.metricsURL)
	if err != nil {
		return time.Time{}, err
	}
	w1 := time.Now()
	reqs := proxy.between(w0, w1)
	r.Steady = requestPhase(reqs, w0, w1)
	r.Steady.Named = nameRequests(reqs, p.start, r.LeaderElect)
	r.Steady.RestClient = delta(m0, m1, "rest_client_requests_total", "method", "code")
	cpu := round(m1.sum("process_cpu_seconds_total") - m0.sum("process_cpu_seconds_total"))
	r.Steady.CPUSeconds = &cpu
	if viaMetric := total(r.Steady.RestClient); viaMetric != r.Steady.Total {
		r.RestClientNote = fmt.Sprintf("rest_client_requests_total counted %d requests in the window, the proxy %d", viaMetric, r.Steady.Total)
	}
	r.ReadyMetric = m1.sum("dbctl_database_ready")
	r.HeapInuseMiB = round(m1.sum("go_memstats_heap_inuse_bytes") / (1 << 20))
	logf("   steady state: %s in %.0fs (%.1f/min beyond watches; lease %.1f/min); rest_client_requests_total: %s",
		formatRequests(r.Steady.Requests), r.Steady.Seconds, r.Steady.BeyondWatchesPerMinute, r.Steady.LeasePerMinute,
		formatRequests(r.Steady.RestClient))
	for _, s := range r.Steady.Named {
		logf("     %s", s)
	}
	return w1, nil
}

// finishRun reads the memory of the process, stops it and counts what its log says.
func (e *env) finishRun(ctx context.Context, proxy *apiProxy, p *ctlProc, r *ControllerRun, ns string) error {
	hwm, rss, err := p.procStatus()
	if err != nil {
		return err
	}
	r.PeakRSSMiB, r.EndRSSMiB = round(hwm), round(rss)
	r.RSSSamplesMiB = statsOf(p.rssSamples())
	all := proxy.between(p.start, time.Now())
	r.Caches = caches(all)
	if err := writeRequestLog(filepath.Join(e.c.work, "controller-"+r.ID+"-requests.jsonl"), all, p.start); err != nil {
		return err
	}
	stopped, err := p.stop()
	if err != nil {
		return err
	}
	r.StopSeconds = round(stopped.Seconds())
	r.ExitCode = p.state.ExitCode()
	r.CPUSeconds = round((p.state.UserTime() + p.state.SystemTime()).Seconds())
	r.TotalSeconds = round(time.Since(p.start).Seconds())
	r.StepFailures, r.NotConverging, r.ErrorLines = p.logCounts()
	proxy.mu.Lock()
	r.ProxyErrors = len(proxy.errors)
	proxy.mu.Unlock()
	list, err := e.dyn.Resource(dbGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range list.Items {
		if databaseReady(&list.Items[i]) {
			r.Ready++
		}
	}
	logf("   peak RSS (VmHWM) %.0f MiB, RSS at the end %.0f MiB, Go heap in use %.0f MiB; %d of %d Ready; exit %d after SIGTERM in %.1fs",
		r.PeakRSSMiB, r.EndRSSMiB, r.HeapInuseMiB, r.Ready, len(list.Items), r.ExitCode, r.StopSeconds)
	return nil
}

// readySpread summarises when each Database became Ready, from t0.
func readySpread(ready map[string]time.Time, t0 time.Time) (*Stats, float64) {
	var xs []float64
	for _, t := range ready {
		xs = append(xs, t.Sub(t0).Seconds())
	}
	if len(xs) == 0 {
		return nil, 0
	}
	st := statsOf(xs)
	sort.Float64s(xs)
	return &st, round(xs[int(math.Ceil(0.9*float64(len(xs))))-1])
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// createUnrelated creates n Secrets and ConfigMaps (half each) that no Database owns
// and dbctl does not label: a fifth in the Databases' namespace, the rest in
// ctlNoiseNSs namespaces of their own. Most are 1–4 KiB of data (random bytes in
// the Secrets, text in the ConfigMaps), every fifth ~100 bytes; a third carry
// app.kubernetes.io/managed-by=Helm (another manager), the others no managed-by.
func (e *env) createUnrelated(ctx context.Context, n int) (UnrelatedObjects, error) {
	nss := append([]string{ctlDBsNS}, noiseNamespaces()...)
	for _, ns := range nss {
		if err := e.createNamespace(ctx, ns); err != nil {
			return UnrelatedObjects{}, err
		}
	}
	u := UnrelatedObjects{Namespaces: nss, Description: "half Secrets (Opaque, random bytes), half ConfigMaps (text); " +
		"every fifth ~100 bytes, the others 1–4 KiB; a third labelled app.kubernetes.io/managed-by=Helm, none managed-by=dbctl; " +
		"a fifth in the Databases' namespace"}
	var bytes atomic.Int64
	start := time.Now()
	err := parallel(ctx, 16, n, func(ctx context.Context, i int) error {
		size := 1024 + (i*733)%3073
		if i%5 == 0 {
			size = 100
		}
		bytes.Add(int64(size))
		meta := metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%05d", i), Namespace: nss[(i/2)%len(nss)],
			Labels: map[string]string{"app.kubernetes.io/name": fmt.Sprintf("app-%02d", i%40)}}
		if i%3 == 0 {
			meta.Labels["app.kubernetes.io/managed-by"] = "Helm"
		}
		rnd := rand.New(rand.NewPCG(uint64(i), 15))
		var err error
		if i%2 == 0 {
			data := make([]byte, size)
			for j := range data {
				data[j] = byte(rnd.UintN(256))
			}
			_, err = e.cs.CoreV1().Secrets(meta.Namespace).Create(ctx, &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque,
				Data: map[string][]byte{"payload": data}}, metav1.CreateOptions{})
		} else {
			const letters = "abcdefghijklmnopqrstuvwxyz0123456789=\n"
			data := make([]byte, size)
			for j := range data {
				data[j] = letters[rnd.IntN(len(letters))]
			}
			_, err = e.cs.CoreV1().ConfigMaps(meta.Namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: meta,
				Data: map[string]string{"settings.conf": string(data)}}, metav1.CreateOptions{})
		}
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
	u.Secrets, u.ConfigMaps, u.DataBytes = (n+1)/2, n/2, bytes.Load()
	u.CreateSeconds = round(time.Since(start).Seconds())
	logf("   %d unrelated Secrets and %d ConfigMaps (%.1f MiB of data) created in %.1fs", u.Secrets, u.ConfigMaps,
		float64(u.DataBytes)/(1<<20), u.CreateSeconds)
	return u, err
}

// writeRequestLog writes every request of a run, one JSON object a line, with its
// offset from the process start (for a closer look; not part of the results).
func writeRequestLog(path string, reqs []proxiedRequest, start time.Time) error {
	var b strings.Builder
	for i := range reqs {
		r := &reqs[i]
		line, err := json.Marshal(map[string]any{"t": round(r.At.Sub(start).Seconds()), "verb": r.Verb, "resource": r.Resource,
			"namespace": r.Namespace, "name": r.Name, "selector": r.Selector, "code": r.Code})
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
