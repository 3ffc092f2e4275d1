package main

import (
	"strings"
	"testing"
	"time"
)

func TestResourceOf(t *testing.T) {
	for _, c := range []struct{ path, resource, ns, name string }{
		{"/api/v1/namespaces/ns/secrets/x", "secrets", "ns", "x"},
		{"/api/v1/namespaces/ns/secrets", "secrets", "ns", ""},
		{"/api/v1/secrets", "secrets", "", ""},
		{"/api/v1/namespaces/ns", "namespaces", "", "ns"},
		{"/api/v1/namespaces", "namespaces", "", ""},
		{"/apis/dbctl.io/v1alpha1/namespaces/ns/databases/db-001/status", "databases/status", "ns", "db-001"},
		{"/apis/coordination.k8s.io/v1/namespaces/l/leases/dbctl-controller", "leases", "l", "dbctl-controller"},
		{"/apis", "/apis", "", ""},
	} {
		r, ns, name := resourceOf(c.path)
		if r != c.resource || ns != c.ns || name != c.name {
			t.Errorf("resourceOf(%s) = %q, %q, %q; want %q, %q, %q", c.path, r, ns, name, c.resource, c.ns, c.name)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP rest_client_requests_total Number of HTTP requests, partitioned by status code, method, and host.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:1",method="GET"} 10
rest_client_requests_total{code="201",host="127.0.0.1:1",method="POST"} 2
rest_client_requests_total{code="200",host="127.0.0.1:1",method="PUT"} 3
process_resident_memory_bytes 7.5e+07
dbctl_database_ready{name="a,b",namespace="ns"} 1
dbctl_database_ready{name="c",namespace="ns"} 0
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.sum("process_resident_memory_bytes"); got != 75e6 {
		t.Errorf("RSS = %v", got)
	}
	if got := m.sum("dbctl_database_ready"); got != 1 {
		t.Errorf("ready = %v", got)
	}
	later, _ := parseMetrics(strings.NewReader(strings.Replace(text, `method="GET"} 10`, `method="GET"} 14`, 1)))
	d := delta(m, later, "rest_client_requests_total", "method", "code")
	if len(d) != 1 || d["GET 200"] != 4 {
		t.Errorf("delta = %v", d)
	}
}

func TestRequestPhase(t *testing.T) {
	t0 := time.Unix(1000, 0)
	reqs := []proxiedRequest{
		{At: t0, Verb: "WATCH", Resource: "secrets", Selector: "app.kubernetes.io/managed-by=dbctl"},
		{At: t0.Add(time.Second), Verb: "PUT", Resource: "leases", Namespace: "l", Name: "dbctl-controller", Code: 200},
		{At: t0.Add(2 * time.Second), Verb: "GET", Resource: "leases", Namespace: "l", Name: "dbctl-controller", Code: 200},
		{At: t0.Add(3 * time.Second), Verb: "PATCH", Resource: "events", Namespace: "ns", Name: "db-001.1", Code: 200},
		{At: t0.Add(4 * time.Second), Verb: "LIST", Resource: "persistentvolumeclaims", Namespace: "ns", Selector: "app.kubernetes.io/instance=db-001,app.kubernetes.io/name=postgres"},
	}
	ph := requestPhase(reqs, t0, t0.Add(2*time.Minute))
	if ph.Total != 5 || ph.PerMinute != 2.5 || ph.BeyondWatchesPerMinute != 2 || ph.LeasePerMinute != 1 || ph.BeyondWatchesAndLeasePerMinute != 1 {
		t.Errorf("phase = %+v", ph)
	}
	if ph.ByResource["LIST persistentvolumeclaims (app.kubernetes.io/instance=NAME,app.kubernetes.io/name=postgres)"] != 1 {
		t.Errorf("by resource = %v", ph.ByResource)
	}
	named := nameRequests(reqs, t0, true)
	if len(named) != 2 || named[0] != "PATCH events in ns → 200 ×1 at +3.0s after the start (first: PATCH events ns/db-001.1 → 200)" {
		t.Errorf("named = %q", named)
	}
	if got := caches(reqs); len(got) != 1 || got[0] != "secrets in all namespaces (app.kubernetes.io/managed-by=dbctl)" {
		t.Errorf("caches = %q", got)
	}
}

func TestMergeResults(t *testing.T) {
	prev := &Results{Label: "full", Scenarios: []*Scenario{{ID: "noop-1"}}, Controller: &ControllerResult{Databases: 1}}
	onlyCtl := &Results{Controller: &ControllerResult{Databases: 500}}
	got := mergeResults(onlyCtl, prev)
	if got.Label != "full" || len(got.Scenarios) != 1 || got.Controller.Databases != 500 {
		t.Errorf("controller only: %+v", got)
	}
	noCtl := &Results{Scenarios: []*Scenario{{ID: "plan-1"}}}
	got = mergeResults(noCtl, prev)
	if got.Scenarios[0].ID != "plan-1" || got.Controller == nil || got.Controller.Databases != 1 {
		t.Errorf("no controller: %+v", got)
	}
	if mergeResults(noCtl, nil) != noCtl {
		t.Error("without -merge the results are kept as they are")
	}
}

// ctlResults is a controller scenario of three runs: 4 Databases, 10 unrelated objects.
func ctlResults(smoke bool) *Results {
	t0 := time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC)
	watch := proxiedRequest{At: t0, Verb: "WATCH", Resource: "secrets", Selector: "app.kubernetes.io/managed-by=dbctl"}
	lease := proxiedRequest{At: t0.Add(time.Second), Verb: "PUT", Resource: "leases", Namespace: "l", Name: "dbctl-controller", Code: 200}
	event := proxiedRequest{At: t0.Add(2 * time.Second), Verb: "PATCH", Resource: "events", Namespace: "ns", Name: "db-1.1", Code: 200}
	run := func(id string, unrelated int, rss float64, reqs ...proxiedRequest) *ControllerRun {
		r := &ControllerRun{ID: id, Title: id, Cold: id != "leader-election", LeaderElect: id == "leader-election", Unrelated: unrelated,
			ReadySeconds: 12, PeakRSSMiB: rss, Ready: 4}
		r.Startup = requestPhase([]proxiedRequest{watch}, t0, t0.Add(time.Second))
		r.Steady = requestPhase(reqs, t0, t0.Add(time.Minute))
		r.Steady.Named = nameRequests(reqs, t0, r.LeaderElect)
		return r
	}
	res := &Results{Controller: &ControllerResult{StartedAt: t0, FinishedAt: t0.Add(20 * time.Minute), Databases: 4, Smoke: smoke,
		Unrelated: UnrelatedObjects{Secrets: 5, ConfigMaps: 5, Namespaces: []string{"ns"}},
		Runs: []*ControllerRun{
			run("baseline", 0, 80, watch),
			run("unrelated", 10, 83, watch, event),
			run("leader-election", 10, 84, watch, lease, lease),
		}}}
	res.Targets = evaluateTargets(res)
	return res
}

func TestControllerTargets(t *testing.T) {
	got := map[string]Target{}
	for _, tg := range ctlResults(false).Targets {
		if tg.Scenario == "controller" {
			got[tg.ID] = tg
		}
	}
	want := map[string]struct {
		value float64
		met   bool
	}{
		"controller-steady":        {1, false}, // the Event PATCH
		"controller-steady-le":     {0, true},  // the Lease's renewals only
		"controller-rss":           {83, true},
		"controller-unrelated-rss": {3, true},
	}
	if len(got) != len(want) {
		t.Errorf("targets = %+v", got)
	}
	for id, w := range want {
		tg, ok := got[id]
		if !ok || tg.Value != w.value || tg.Met != w.met || !tg.Judged || !tg.Measured {
			t.Errorf("%s = %+v, want value %v, met %v, judged", id, tg, w.value, w.met)
		}
	}
	for _, tg := range ctlResults(true).Targets {
		if tg.Scenario == "controller" && (tg.Judged || !tg.Measured) {
			t.Errorf("smoke run: %+v is judged or not measured", tg)
		}
	}
}

func TestControllerMarkdown(t *testing.T) {
	md := controllerMarkdown(ctlResults(false))
	for _, want := range []string{
		"#### Controller (issue 15): 4 Databases under `dbctl controller`, 10 unrelated Secrets and ConfigMaps",
		"| controller at steady state, leader election off: requests beyond watches | 1.0/min | ≤ 0/min | ❌ no |",
		"| controller at steady state, leader election on: requests beyond watches and the Lease's renewals | 0.0/min | ≤ 0/min | ✅ yes |",
		"| controller peak RSS with the 10 unrelated objects − without (not cached) | 3 MiB | ≤ 10 MiB | ✅ yes |",
		"| leader-election | steady | 60.0 s | 3 (PUT 2, WATCH 1) |",
		"Requests beyond watches: PATCH events in ns → 200 ×1 at +2.0s after the start",
		"| unrelated | 0 ms | — | 12.0 s |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, md)
		}
	}
	if smoke := controllerMarkdown(ctlResults(true)); !strings.Contains(smoke, "**Smoke run: no target judged.**") ||
		!strings.Contains(smoke, "| 1.0/min | ≤ 0/min | not judged |") {
		t.Errorf("smoke run:\n%s", smoke)
	}
}

func TestTargetValueNoNegativeZero(t *testing.T) {
	if got := (&Target{Value: -0.3, Unit: "MiB"}).valueString(); got != "0 MiB" {
		t.Errorf("valueString = %q", got)
	}
	if got := (&Target{Value: -3, Unit: "MiB"}).valueString(); got != "-3 MiB" {
		t.Errorf("valueString = %q", got)
	}
}
