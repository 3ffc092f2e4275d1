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
