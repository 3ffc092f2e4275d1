package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The controller scenario (issue 15): `dbctl controller` keeping Databases Ready in a
// cluster that also holds thousands of unrelated Secrets and ConfigMaps. Three runs:
//
//   - baseline: a cold run of N Databases with no unrelated object in the cluster;
//   - unrelated: the same cold run after the unrelated objects were created (before
//     the controller starts): its peak memory minus the baseline's is what they cost;
//   - leader-election: the controller restarted with leader election on, over the N
//     Ready Databases and the unrelated objects: the steady state with lease renewals.
//
// Each run: the controller started, the Databases created (cold runs), every one
// Ready (the harness's own watch of the Databases), then a settle period and a
// steady-state window over which every request is counted. The controller talks to
// the API server through the harness's counting proxy (apiproxy.go), which names
// each request by verb and resource; rest_client_requests_total (the controller's
// own metric) is scraped at the window's ends as a cross-check.

// ctlConfig are the -controller-* flags.
type ctlConfig struct {
	databases   int // 0: the scenario does not run
	unrelated   int
	concurrency int
	steady      time.Duration
	settle      time.Duration
	baseline    bool
	leaderElect bool
	late        time.Duration
}

// The namespaces of the controller scenario.
const (
	ctlBaseNS   = "ctl-base"   // the Databases of the baseline run
	ctlDBsNS    = "ctl-dbs"    // the Databases of the run among unrelated objects (holds some of them too)
	ctlLeaseNS  = "ctl-leases" // the leader election Lease
	ctlNoisePfx = "ctl-noise-" // namespaces of the other unrelated objects
	ctlNoiseNSs = 4
)

// ControllerResult is the controller scenario in bench/results.json. It carries its
// own run metadata: a run of only this scenario (-only controller -merge) updates it
// and keeps the comparison scenarios of the file.
type ControllerResult struct {
	StartedAt    time.Time `json:"startedAt"`
	FinishedAt   time.Time `json:"finishedAt"`
	LoadAvgStart string    `json:"loadAvgStart,omitempty"`
	LoadAvgEnd   string    `json:"loadAvgEnd,omitempty"`
	DbctlVersion string    `json:"dbctlVersion"`
	Nodes        int       `json:"nodes,omitempty"`
	Smoke        bool      `json:"smoke,omitempty"`
	// Databases per run (1 replica each), the unrelated Secrets and ConfigMaps.
	Databases   int              `json:"databases"`
	Unrelated   UnrelatedObjects `json:"unrelated"`
	Concurrency int              `json:"concurrency"`
	Command     string           `json:"command"`
	Runs        []*ControllerRun `json:"runs"`
}

// UnrelatedObjects are the Secrets and ConfigMaps no Database owns.
type UnrelatedObjects struct {
	Secrets     int      `json:"secrets"`
	ConfigMaps  int      `json:"configMaps"`
	DataBytes   int64    `json:"dataBytes"`
	Namespaces  []string `json:"namespaces"`
	Description string   `json:"description"`
	// CreateSeconds is how long the harness took to create them.
	CreateSeconds float64 `json:"createSeconds"`
}

// ControllerRun is one run of the controller process.
type ControllerRun struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	LeaderElect bool   `json:"leaderElect"`
	Cold        bool   `json:"cold"`
	Unrelated   int    `json:"unrelated"`
	Namespace   string `json:"namespace"`
	// StartSeconds: from the process start to its workers starting (caches synced;
	// with leader election, the lease acquired).
	StartSeconds float64 `json:"startSeconds"`
	// CreateSeconds: creating the Databases (server-side apply by the harness, 16 at once).
	CreateSeconds float64 `json:"createSeconds,omitempty"`
	// ReadySeconds: cold runs, from the first create to the last Database seen Ready by
	// the harness's watch; a restart, from the workers' start to every Database
	// stepped (dbctl_database_ready = N). ReadyEach: per Database, the same start.
	ReadySeconds float64 `json:"readySeconds"`
	ReadyEach    *Stats  `json:"readyEach,omitempty"`
	ReadyP90     float64 `json:"readyP90Seconds,omitempty"`
	// RolloutSeconds: from the first create to the last StatefulSet rolled out
	// (kstatus Current, the harness's watch): what the cluster's controllers bound.
	RolloutSeconds float64 `json:"rolloutSeconds,omitempty"`
	// The requests of each phase, from the proxy.
	Startup *RequestPhase `json:"startup"`
	Active  *RequestPhase `json:"active"`
	Settle  *RequestPhase `json:"settle"`
	Steady  *RequestPhase `json:"steady"`
	// Late: after the steady-state window until -controller-late after the
	// process start (the run among the unrelated objects only).
	Late             *RequestPhase `json:"late,omitempty"`
	LateUntilMinutes float64       `json:"lateUntilMinutes,omitempty"`
	// Caches: the LISTs and WATCHes of the process (resource and label selector).
	Caches []string `json:"caches"`
	// Memory: VmHWM of /proc/PID/status at the end of the steady state (the peak
	// RSS of the process's life), VmRSS then, and the process_resident_memory_bytes
	// samples (every 2 s); the Go heap in use at the end.
	PeakRSSMiB     float64 `json:"peakRSSMiB"`
	EndRSSMiB      float64 `json:"endRSSMiB"`
	RSSSamplesMiB  Stats   `json:"rssSamplesMiB"`
	HeapInuseMiB   float64 `json:"heapInuseMiB"`
	CPUSeconds     float64 `json:"cpuSeconds"`
	Ready          int     `json:"ready"`
	ReadyMetric    float64 `json:"readyMetric"`
	StepFailures   int     `json:"stepFailures"`
	NotConverging  int     `json:"notConverging"`
	ErrorLines     int     `json:"errorLines"`
	ProxyErrors    int     `json:"proxyErrors"`
	ExitCode       int     `json:"exitCode"`
	StopSeconds    float64 `json:"stopSeconds"`
	TotalSeconds   float64 `json:"totalSeconds"`
	RestClientNote string  `json:"restClientNote,omitempty"`
}

// RequestPhase counts the requests of one phase of a run.
type RequestPhase struct {
	Seconds    float64          `json:"seconds"`
	Requests   map[string]int64 `json:"requests"`
	ByResource map[string]int64 `json:"byResource"`
	Total      int64            `json:"total"`
	// ResponseMiB is the size of the response bodies (watches: what they sent in the
	// phase's requests' lifetime, counted when they started); ResponseMiBByResource,
	// the largest (at most 5, of 1 MiB or more).
	ResponseMiB           float64            `json:"responseMiB"`
	ResponseMiBByResource map[string]float64 `json:"responseMiBByResource,omitempty"`
	// PerMinute: all requests; BeyondWatches: all but WATCH; BeyondWatchesAndLease:
	// all but WATCH and the leader election Lease's; Lease: the Lease's.
	PerMinute                      float64 `json:"perMinute"`
	BeyondWatchesPerMinute         float64 `json:"beyondWatchesPerMinute"`
	LeasePerMinute                 float64 `json:"leasePerMinute"`
	BeyondWatchesAndLeasePerMinute float64 `json:"beyondWatchesAndLeasePerMinute"`
	// RestClient is the controller's rest_client_requests_total over the phase, by
	// "METHOD CODE" (steady state only): the cross-check of the proxy's count.
	RestClient map[string]int64 `json:"restClient"`
	// CPUSeconds is the process_cpu_seconds_total of the phase (steady state only).
	CPUSeconds *float64 `json:"cpuSeconds,omitempty"`
	// Named lists the requests beyond watches (and the Lease), grouped (steady and
	// late phases).
	Named []string `json:"named,omitempty"`
}

func requestPhase(reqs []proxiedRequest, from, to time.Time) *RequestPhase {
	ph := &RequestPhase{Seconds: round(to.Sub(from).Seconds())}
	var bytes map[string]int64
	ph.Requests, ph.ByResource, bytes = tally(reqs)
	ph.Total = total(ph.Requests)
	ph.ResponseMiB = round(float64(total(bytes)) / (1 << 20))
	ph.ResponseMiBByResource = map[string]float64{}
	for _, k := range sortedKeys(bytes) {
		if len(ph.ResponseMiBByResource) == 5 || bytes[k] < 1<<20 {
			break
		}
		ph.ResponseMiBByResource[k] = round(float64(bytes[k]) / (1 << 20))
	}
	var beyond, lease int64
	for i := range reqs {
		r := &reqs[i]
		isLease := r.Resource == "leases" && r.Verb != "WATCH" && r.Verb != "LIST"
		switch {
		case r.Verb == "WATCH":
		case isLease:
			lease++
		default:
			beyond++
		}
	}
	if m := to.Sub(from).Minutes(); m > 0 {
		ph.PerMinute = round(float64(ph.Total) / m)
		ph.BeyondWatchesPerMinute = round(float64(beyond+lease) / m)
		ph.LeasePerMinute = round(float64(lease) / m)
		ph.BeyondWatchesAndLeasePerMinute = round(float64(beyond) / m)
	}
	return ph
}

// nameRequests groups the requests that are not watches (nor, with leader
// election, the Lease's) by what they are and their namespace, with their offsets
// from the process start: "PATCH events in ns ×500 at +720.4s…+722.0s (e.g. ns/db-001.18ec…)".
func nameRequests(reqs []proxiedRequest, start time.Time, leaderElect bool) []string {
	type group struct {
		n           int
		first, last time.Time
		example     string
	}
	groups := map[string]*group{}
	var order []string
	for i := range reqs {
		r := &reqs[i]
		if r.Verb == "WATCH" || leaderElect && r.Resource == "leases" && r.Verb != "LIST" {
			continue
		}
		k := r.key() + " → " + fmt.Sprint(r.Code)
		if r.Namespace != "" {
			k = r.key() + " in " + r.Namespace + " → " + fmt.Sprint(r.Code)
		}
		g := groups[k]
		if g == nil {
			g = &group{first: r.At, example: r.String()}
			groups[k] = g
			order = append(order, k)
		}
		g.n++
		g.last = r.At
	}
	var out []string
	for _, k := range order {
		g := groups[k]
		at := fmt.Sprintf("+%.1fs", g.first.Sub(start).Seconds())
		if g.n > 1 {
			at += fmt.Sprintf("…+%.1fs", g.last.Sub(start).Seconds())
		}
		out = append(out, fmt.Sprintf("%s ×%d at %s after the start (first: %s)", k, g.n, at, g.example))
	}
	return out
}

// caches lists the distinct WATCHes of reqs (resource, scope, label selector):
// what the process's informers cache.
func caches(reqs []proxiedRequest) []string {
	seen := map[string]bool{}
	var out []string
	for i := range reqs {
		r := &reqs[i]
		if r.Verb != "WATCH" {
			continue
		}
		k := r.Resource + " in all namespaces"
		if r.Namespace != "" {
			k = r.Resource + " in " + r.Namespace
		}
		if r.Selector != "" {
			k += " (" + r.Selector + ")"
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// applyDatabases server-side applies the Database files, 16 at once, as a GitOps
// tool applying a directory would.
func (e *env) applyDatabases(ctx context.Context, files []string) error {
	return parallel(ctx, 16, len(files), func(ctx context.Context, i int) error {
		b, err := readFile(files[i])
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			return fmt.Errorf("%s: %w", files[i], err)
		}
		_, err = e.dyn.Resource(dbGVR).Namespace(u.GetNamespace()).Apply(ctx, u.GetName(), u,
			metav1.ApplyOptions{FieldManager: "bench-gitops", Force: true})
		return err
	})
}

// controllerCommand is the command line of the controller under test (for the report).
func (c *config) controllerCommand() string {
	return fmt.Sprintf("dbctl controller --leader-elect=false --metrics-bind-address 127.0.0.1:PORT --health-probe-bind-address 0 "+
		"--breaker-state FILE --concurrency %d (kubeconfig: the harness's counting proxy)", c.ctl.concurrency)
}

func shortList(xs []string) string { return strings.Join(xs, ", ") }

func ctlDir(e *env, ns string) string { return filepath.Join(e.c.work, "controller", ns) }
