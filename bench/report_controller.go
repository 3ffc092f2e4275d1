package main

import (
	"fmt"
	"sort"
	"strings"
)

// The controller's targets (issue 15). Limits on memory are for the full size (500
// Databases, 5,000 unrelated objects); a smoke run judges none.
const (
	ctlPeakRSSLimitMiB      = 200
	ctlUnrelatedRSSLimitMiB = 10
)

func (r *Results) controllerRun(id string) *ControllerRun {
	if r.Controller == nil {
		return nil
	}
	for _, run := range r.Controller.Runs {
		if run.ID == id {
			return run
		}
	}
	return nil
}

// controllerTargets judges the controller scenario's targets.
func controllerTargets(res *Results) []Target {
	ctl := res.Controller
	if ctl == nil {
		return nil
	}
	var out []Target
	add := func(t Target, v float64, ok bool) {
		t.Scenario = "controller"
		t.Value, t.Judged, t.Measured = round(v), ok && !ctl.Smoke, ok
		t.Met = ok && v <= t.Limit
		out = append(out, t)
	}
	base, unrel, le := res.controllerRun("baseline"), res.controllerRun("unrelated"), res.controllerRun("leader-election")
	if unrel != nil && unrel.Steady != nil {
		v := unrel.Steady.BeyondWatchesPerMinute
		if base != nil && base.Steady != nil {
			v = max(v, base.Steady.BeyondWatchesPerMinute)
		}
		add(Target{ID: "controller-steady", Description: "controller at steady state, leader election off: requests beyond watches", Limit: 0, Unit: "/min"}, v, true)
	}
	if le != nil && le.Steady != nil {
		add(Target{ID: "controller-steady-le", Description: "controller at steady state, leader election on: requests beyond watches and the Lease's renewals",
			Limit: 0, Unit: "/min"}, le.Steady.BeyondWatchesAndLeasePerMinute, true)
	}
	if unrel != nil && unrel.Late != nil {
		add(Target{ID: "controller-late", Description: fmt.Sprintf("controller after its steady-state window until %.0f min after its start, leader election off: "+
			"requests beyond watches", unrel.LateUntilMinutes), Limit: 0, Unit: "requests"},
			float64(unrel.Late.Total-unrel.Late.Requests["WATCH"]), true)
	}
	if unrel != nil {
		add(Target{ID: "controller-rss", Description: fmt.Sprintf("controller peak RSS (VmHWM), %d Databases cold to Ready and steady, %d unrelated Secrets/ConfigMaps",
			ctl.Databases, unrel.Unrelated), Limit: ctlPeakRSSLimitMiB, Unit: "MiB"}, unrel.PeakRSSMiB, true)
	}
	if unrel != nil && base != nil {
		add(Target{ID: "controller-unrelated-rss", Description: fmt.Sprintf("controller peak RSS with the %d unrelated objects − without (not cached)", unrel.Unrelated),
			Limit: ctlUnrelatedRSSLimitMiB, Unit: "MiB"}, unrel.PeakRSSMiB-base.PeakRSSMiB, true)
	}
	return out
}

func mib(x float64) string { return fmt.Sprintf("%.0f MiB", x) }

// controllerMarkdown renders the controller scenario's part of the numbers section.
func controllerMarkdown(res *Results) string {
	ctl := res.Controller
	if ctl == nil {
		return ""
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("#### Controller (issue 15): %d Databases under `dbctl controller`, %d unrelated Secrets and ConfigMaps\n\n",
		ctl.Databases, ctl.Unrelated.Secrets+ctl.Unrelated.ConfigMaps)
	w("Run of %s (%.0f min), load average %s at the start and %s at the end; %s; %d kwok nodes.",
		ctl.StartedAt.Format("2006-01-02 15:04 UTC"), ctl.FinishedAt.Sub(ctl.StartedAt).Minutes(), ctl.LoadAvgStart, ctl.LoadAvgEnd, ctl.DbctlVersion, ctl.Nodes)
	if ctl.Smoke {
		w(" **Smoke run: no target judged.**")
	}
	w(" `%s`; the Databases (1 replica each) are created by a server-side apply of their files, 16 at once, after the workers started. "+
		"Unrelated objects: %d Secrets and %d ConfigMaps, %.1f MiB of data (%s), in %s, created before the controller starts "+
		"(absent from the baseline run).\n\n", ctl.Command, ctl.Unrelated.Secrets, ctl.Unrelated.ConfigMaps,
		float64(ctl.Unrelated.DataBytes)/(1<<20), ctl.Unrelated.Description, strings.Join(ctl.Unrelated.Namespaces, ", "))

	controllerTargetsMarkdown(w, res)
	w("| run | workers started | Databases created | every Database Ready | each Ready: median [p90] | last StatefulSet rolled out | peak RSS (VmHWM) | RSS samples median [max] | Go heap in use at the end | CPU | Ready at the end |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range ctl.Runs {
		each, roll, created := "—", "—", "—"
		if r.ReadyEach != nil {
			each = fmt.Sprintf("%s [%s]", dur(r.ReadyEach.Median), dur(r.ReadyP90))
		}
		if r.RolloutSeconds > 0 {
			roll = dur(r.RolloutSeconds)
		}
		if r.CreateSeconds > 0 {
			created = dur(r.CreateSeconds)
		}
		ready := dur(r.ReadySeconds)
		if !r.Cold {
			ready += " (every one stepped once after the start)"
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s [%s] | %s | %s | %d of %d |\n", r.Title, dur(r.StartSeconds), created, ready, each, roll,
			mib(r.PeakRSSMiB), mib(r.RSSSamplesMiB.Median), mib(r.RSSSamplesMiB.Max), mib(r.HeapInuseMiB), dur(r.CPUSeconds), r.Ready, ctl.Databases)
	}
	w("\n")
	controllerRequestsMarkdown(w, ctl)
	return b.String()
}

// controllerTargetsMarkdown states the controller's targets (issue 15) and what
// this run measured against them.
func controllerTargetsMarkdown(w func(string, ...any), res *Results) {
	w("Targets: at steady state no request beyond the watches (leader election off) and beyond the watches and the Lease's renewals "+
		"(leader election on); peak RSS of the process at most %d MiB at %d Databases among 5,000 unrelated objects, of which those "+
		"objects may cost at most %d MiB (they are not cached: the caches are label-scoped).\n\n", ctlPeakRSSLimitMiB, 500, ctlUnrelatedRSSLimitMiB)
	w("| target | value | limit | met? |\n|---|---|---|---|\n")
	for i := range res.Targets {
		if t := &res.Targets[i]; t.Scenario == "controller" {
			w("| %s | %s | %s | %s |\n", t.Description, t.valueString(), t.limitString(), t.metString())
		}
	}
	w("\n")
}

func controllerRequestsMarkdown(w func(string, ...any), ctl *ControllerResult) {
	w("API requests, counted by the harness's proxy (every request on the wire, by verb: LIST is a GET of a collection, WATCH one with ?watch; " +
		"response MiB: the bodies, a watch's counted in the phase it started in): startup = process start to workers started; " +
		"active = the cold run (first create to every Database Ready) or, after a restart, workers started to every Database stepped; " +
		"settle = then until the steady-state window; steady = the window; late = after it, until the time given.\n\n")
	w("| run | phase | duration | requests | response MiB | per minute | beyond watches /min | Lease /min | beyond watches and Lease /min |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range ctl.Runs {
		for _, ph := range []struct {
			name string
			p    *RequestPhase
		}{{"startup", r.Startup}, {"active", r.Active}, {"settle", r.Settle}, {"steady", r.Steady}, {"late", r.Late}} {
			if ph.p == nil {
				continue
			}
			w("| %s | %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f |\n", r.ID, ph.name, dur(ph.p.Seconds), formatRequests(ph.p.Requests), ph.p.ResponseMiB,
				ph.p.PerMinute, ph.p.BeyondWatchesPerMinute, ph.p.LeasePerMinute, ph.p.BeyondWatchesAndLeasePerMinute)
		}
	}
	w("\n")
	for _, r := range ctl.Runs {
		steadyMarkdown(w, r)
	}
	if r := lastCold(ctl); r != nil && r.Active != nil {
		w("- **%s, active phase by resource**: %s.", r.ID, byResource(r.Active.ByResource))
		if len(r.Active.ResponseMiBByResource) > 0 {
			w(" Largest responses: %s.", mibByResource(r.Active.ResponseMiBByResource))
		}
		w("\n- **What the controller caches** (its WATCHes): %s.\n", strings.Join(r.Caches, "; "))
	}
	w("\n")
}

// steadyMarkdown is the bullet of a run's steady state (and late window).
func steadyMarkdown(w func(string, ...any), r *ControllerRun) {
	if r.Steady == nil {
		return
	}
	cpu := "?"
	if r.Steady.CPUSeconds != nil {
		cpu = dur(*r.Steady.CPUSeconds)
	}
	restClient := r.Steady.RestClient
	if restClient == nil { // a file written before it was always kept: an empty count was left out
		restClient = map[string]int64{}
	}
	w("- **%s, steady state** (%s): %s; by resource: %s; the controller's own `rest_client_requests_total` over the window: %s; CPU %s.",
		r.ID, dur(r.Steady.Seconds), formatRequests(r.Steady.Requests), byResource(r.Steady.ByResource), formatRequests(restClient), cpu)
	if r.RestClientNote != "" {
		w(" Note: %s.", r.RestClientNote)
	}
	if len(r.Steady.Named) > 0 {
		w(" Requests beyond watches%s: %s.", map[bool]string{true: " and the Lease", false: ""}[r.LeaderElect], strings.Join(r.Steady.Named, "; "))
	}
	if r.StepFailures+r.NotConverging+r.ErrorLines+r.ProxyErrors > 0 {
		w(" Log: %d failed steps, %d not converging, %d ERROR lines; %d requests the proxy could not forward.", r.StepFailures, r.NotConverging, r.ErrorLines, r.ProxyErrors)
	}
	w("\n")
	if r.Late != nil {
		w("- **%s, late window** (%s, until %.0f min after the start): %s; by resource: %s.", r.ID, dur(r.Late.Seconds), r.LateUntilMinutes,
			formatRequests(r.Late.Requests), byResource(r.Late.ByResource))
		if len(r.Late.Named) > 0 {
			w(" Requests beyond watches: %s.", strings.Join(r.Late.Named, "; "))
		}
		w("\n")
	}
}

func mibByResource(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.0f MiB", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func lastCold(ctl *ControllerResult) *ControllerRun {
	var last *ControllerRun
	for _, r := range ctl.Runs {
		if r.Cold {
			last = r
		}
	}
	return last
}

func byResource(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
