package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Accounting is the request accounting check of a no-op reconcile (issue 7, item 2):
// zero mutating requests that persist anything (no resourceVersion of the Databases,
// their children or their PVCs changes) and at most (children + 2) requests per
// Database in total.
type Accounting struct {
	Scenario    string           `json:"scenario"`
	Command     string           `json:"command"`
	Databases   int              `json:"databases"`
	ChildrenPer int              `json:"childrenPerDatabase"`
	Limit       int64            `json:"limit"`
	Requests    map[string]int64 `json:"requests"`
	Total       int64            `json:"total"`
	// Mutating counts PATCH, POST, PUT and DELETE requests (the server-side apply
	// of the unchanged Database is a PATCH that persists nothing).
	Mutating int64 `json:"mutating"`
	// Objects is how many objects were compared; Changed lists those whose
	// resourceVersion changed (must be empty).
	Objects int      `json:"objects"`
	Changed []string `json:"changed"`
	// Changes is the number of changes dbctl reported (-o json).
	Changes int  `json:"changes"`
	Met     bool `json:"met"`
}

func (a *Accounting) Summary() string {
	return fmt.Sprintf("%d requests for %d Database(s) (limit %d = (%d children + 2) × %d): %s; %d mutating request(s), "+
		"%d of %d objects changed resourceVersion; %d changes reported",
		a.Total, a.Databases, a.Limit, a.ChildrenPer, a.Databases, formatRequests(a.Requests), a.Mutating, len(a.Changed), a.Objects, a.Changes)
}

var accountedResources = []schema.GroupVersionResource{
	{Group: "dbctl.io", Version: "v1alpha1", Resource: "databases"},
	{Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "configmaps"},
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
	{Version: "v1", Resource: "persistentvolumeclaims"},
}

// resourceVersions returns "resource ns/name" → resourceVersion of every object of
// accountedResources in ns.
func (e *env) resourceVersions(ctx context.Context, ns string) (map[string]string, error) {
	out := map[string]string{}
	for _, gvr := range accountedResources {
		list, err := e.dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing %s in %s: %w", gvr.Resource, ns, err)
		}
		for _, it := range list.Items {
			if gvr.Resource == "configmaps" && it.GetName() == "kube-root-ca.crt" {
				continue
			}
			out[gvr.Resource+" "+ns+"/"+it.GetName()] = it.GetResourceVersion()
		}
	}
	return out, nil
}

func (e *env) accounting(ctx context.Context, scenario, ns string, paths []string, dbs, childrenPer, concurrency int) (*Accounting, error) {
	before, err := e.resourceVersions(ctx, ns)
	if err != nil {
		return nil, err
	}
	args := []string{"reconcile", "-v", "-o", "json", "--concurrency", fmt.Sprint(concurrency)}
	for _, p := range paths {
		args = append(args, "-f", p)
	}
	p, err := e.dbctlRun(ctx, nil, args...)
	if err != nil {
		return nil, err
	}
	after, err := e.resourceVersions(ctx, ns)
	if err != nil {
		return nil, err
	}
	a := &Accounting{Scenario: scenario, Command: "dbctl " + strings.Join(args, " "), Databases: dbs, ChildrenPer: childrenPer,
		Limit: int64((childrenPer + 2) * dbs), Requests: dbctlRequests(p.Stderr), Objects: len(before), Changed: []string{}}
	a.Total = total(a.Requests)
	for _, v := range []string{"PATCH", "POST", "PUT", "DELETE"} {
		a.Mutating += a.Requests[v]
	}
	for k, rv := range before {
		if after[k] != rv {
			a.Changed = append(a.Changed, fmt.Sprintf("%s: %s → %s", k, rv, after[k]))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			a.Changed = append(a.Changed, k+": created")
		}
	}
	sort.Strings(a.Changed)
	var out struct {
		Results []struct {
			Changes []string `json:"changes"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(p.Stdout), &out); err != nil {
		return nil, fmt.Errorf("decoding dbctl -o json: %w", err)
	}
	for _, r := range out.Results {
		a.Changes += len(r.Changes)
	}
	a.Met = a.Requests != nil && a.Total <= a.Limit && len(a.Changed) == 0 && a.Changes == 0 && len(out.Results) == dbs
	logf("   request accounting (%s): %s: %s", scenario, map[bool]string{true: "OK", false: "FAILED"}[a.Met], a.Summary())
	return a, nil
}
