package main

import (
	"fmt"
	"math"
	"os"
	"strings"
)

// Target is one of issue 7's targets, judged on this run's medians.
type Target struct {
	ID          string  `json:"id"`
	Description string  `json:"description"`
	Scenario    string  `json:"scenario"`
	Value       float64 `json:"value"`
	Limit       float64 `json:"limit"`
	Unit        string  `json:"unit"`
	Met         bool    `json:"met"`
	// Judged is false in a smoke run (too few samples) and when the scenario did not run.
	Judged bool `json:"judged"`
	// Measured: the scenario ran (a smoke run's values are measured, not judged).
	Measured bool `json:"measured,omitempty"`
}

func findScenario(res *Results, id string) *Scenario {
	for _, s := range res.Scenarios {
		if s.ID == id {
			return s
		}
	}
	return nil
}

func ratioOf(s *Scenario, dbctl string) (float64, bool) {
	if s == nil {
		return 0, false
	}
	for _, r := range s.Ratios {
		if r.Dbctl == dbctl && r.Kubectl == "kubectl" {
			return r.Value, true
		}
	}
	return 0, false
}

func evaluateTargets(res *Results) []Target {
	var out []Target
	add := func(t Target, v float64, ok bool) {
		t.Value, t.Judged, t.Measured = round(v), ok && !res.Environment.Smoke, ok
		t.Met = ok && v <= t.Limit
		out = append(out, t)
	}
	v, ok := ratioOf(findScenario(res, "noop-1"), "dbctl")
	add(Target{ID: "noop-1", Scenario: "noop-1", Description: "no-op reconcile of one Ready Database ≤ 0.30 × the kubectl twin", Limit: 0.30, Unit: "×"}, v, ok)
	v, ok = ratioOf(findScenario(res, "plan-1"), "dbctl")
	add(Target{ID: "plan-1", Scenario: "plan-1", Description: "no-change plan ≤ 0.80 × kubectl diff --server-side", Limit: 0.80, Unit: "×"}, v, ok)
	v, ok = ratioOf(findScenario(res, "noop-200"), "dbctl --concurrency 16")
	add(Target{ID: "noop-200", Scenario: "noop-200", Description: "no-op reconcile of 200 Ready Databases (--concurrency 16) ≤ 0.25 × the kubectl twin", Limit: 0.25, Unit: "×"}, v, ok)
	v, ok = ratioOf(findScenario(res, "cold-200"), "dbctl --concurrency 16")
	add(Target{ID: "cold-200", Scenario: "cold-200", Description: "cold reconcile of 200 new Databases (--concurrency 16) no slower than the kubectl twin", Limit: 1.0, Unit: "×"}, v, ok)
	if s := findScenario(res, "cold-200"); s != nil && s.variant("dbctl --concurrency 16") != nil {
		add(Target{ID: "cold-200-rss", Scenario: "cold-200", Description: "peak RSS of the cold reconcile of 200 Databases ≤ 150 MiB (largest sample)", Limit: 150, Unit: "MiB"},
			s.variant("dbctl --concurrency 16").MaxRSSMiB.Max, true)
	} else {
		add(Target{ID: "cold-200-rss", Scenario: "cold-200", Description: "peak RSS of the cold reconcile of 200 Databases ≤ 150 MiB (largest sample)", Limit: 150, Unit: "MiB"}, 0, false)
	}
	s50, s200 := findScenario(res, "cold-50"), findScenario(res, "cold-200")
	if s50 != nil && s200 != nil && s50.variant("dbctl --concurrency 16") != nil && s200.variant("dbctl --concurrency 16") != nil {
		add(Target{ID: "cold-scaling", Scenario: "cold-200", Description: "cold: 200 Databases cost ≤ 4.4 × the time of 50 (--concurrency 16, medians)", Limit: 4.4, Unit: "×"},
			s200.variant("dbctl --concurrency 16").Seconds.Median/s50.variant("dbctl --concurrency 16").Seconds.Median, true)
	} else {
		add(Target{ID: "cold-scaling", Scenario: "cold-200", Description: "cold: 200 Databases cost ≤ 4.4 × the time of 50 (--concurrency 16, medians)", Limit: 4.4, Unit: "×"}, 0, false)
	}
	if s := findScenario(res, "cold-1"); s != nil && s.variant("dbctl") != nil && s.variant("dbctl").OverheadSeconds != nil {
		add(Target{ID: "overhead", Scenario: "cold-1", Description: "dbctl overhead beyond the rollout ≤ 300 ms (median)", Limit: 0.300, Unit: "s"},
			s.variant("dbctl").OverheadSeconds.Median, true)
	} else {
		add(Target{ID: "overhead", Scenario: "cold-1", Description: "dbctl overhead beyond the rollout ≤ 300 ms (median)", Limit: 0.300, Unit: "s"}, 0, false)
	}
	v, ok = ratioOf(findScenario(res, "startup"), "dbctl")
	add(Target{ID: "startup", Scenario: "startup", Description: "dbctl version ≤ 0.5 × kubectl version --client", Limit: 0.5, Unit: "×"}, v, ok)
	return append(out, controllerTargets(res)...)
}

func targetFor(res *Results, id string) *Target {
	for i := range res.Targets {
		if res.Targets[i].ID == id {
			return &res.Targets[i]
		}
	}
	return nil
}

func dur(s float64) string {
	switch {
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	case s < 10:
		return fmt.Sprintf("%.2f s", s)
	default:
		return fmt.Sprintf("%.1f s", s)
	}
}

func span(st Stats) string {
	if st.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%s [%s–%s]", dur(st.Median), dur(st.Min), dur(st.Max))
}

func (t *Target) limitString() string {
	switch t.Unit {
	case "×":
		return fmt.Sprintf("≤ %.2f×", t.Limit)
	case "s":
		return fmt.Sprintf("≤ %s", dur(t.Limit))
	case "/min":
		return fmt.Sprintf("≤ %g/min", t.Limit)
	default:
		return fmt.Sprintf("≤ %.0f %s", t.Limit, t.Unit)
	}
}

func (t *Target) valueString() string {
	switch t.Unit {
	case "×":
		return fmt.Sprintf("%.2f×", t.Value)
	case "s":
		return dur(t.Value)
	case "/min":
		return fmt.Sprintf("%.1f/min", t.Value)
	default:
		v := math.Round(t.Value)
		if v == 0 {
			v = 0 // not "-0 MiB" for a difference just below zero
		}
		return fmt.Sprintf("%.0f %s", v, t.Unit)
	}
}

func (t *Target) metString() string {
	switch {
	case !t.Judged:
		return "not judged"
	case t.Met:
		return "✅ yes"
	default:
		return "❌ no"
	}
}

// markdown renders the numbers section of BENCHMARKS.md.
func markdown(res *Results, base *Results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	env := res.Environment
	label := ""
	if res.Label != "" {
		label = " — " + res.Label
	}
	w("### Run of %s%s\n\n", res.StartedAt.Format("2006-01-02 15:04 UTC"), label)
	w("%d CPUs, %s/%s, kernel %s, load average %s at the start and %s at the end; %s; %s; cluster %s, %d kwok nodes. ",
		env.CPUs, env.GOOS, env.GOARCH, env.Kernel, env.LoadAvgStart, env.LoadAvgEnd, env.DbctlVersion, env.KubectlVersion, env.ServerVersion, env.Nodes)
	w("Samples per variant: %d for the cheap single-Database scenarios (startup, no-op, plan), %d otherwise; every variant interleaved with its twin, "+
		"medians [min–max]; ratio = dbctl median / kubectl median of the same run. Scale scenarios use 1 replica per Database.", env.Iterations*env.CheapFactor, env.Iterations)
	if env.DbctlFlags != "" {
		w(" Every measured dbctl command had the extra flags `%s`.", env.DbctlFlags)
	}
	if env.Smoke {
		w(" **Smoke run: too few samples to judge any target.**")
	}
	w("\n\n")

	mainTableMarkdown(w, res)
	targetsMarkdown(w, res)
	if base != nil {
		beforeAfterMarkdown(w, res, base)
	}
	requestsMarkdown(w, res)
	coldMarkdown(w, res)
	b.WriteString(controllerMarkdown(res))
	accountingMarkdown(w, res)
	return b.String()
}

func mainTableMarkdown(w func(string, ...any), res *Results) {
	w("| scenario | dbctl median [min–max] | kubectl median [min–max] | ratio | target | met? |\n|---|---|---|---|---|---|\n")
	targetRow := map[string]string{"noop-1|dbctl": "noop-1", "plan-1|dbctl": "plan-1", "noop-200|dbctl --concurrency 16": "noop-200",
		"cold-200|dbctl --concurrency 16": "cold-200", "startup|dbctl": "startup"}
	for _, s := range res.Scenarios {
		k := s.variant("kubectl")
		for _, v := range s.Variants {
			if v.Tool != "dbctl" {
				continue
			}
			name := s.ID
			switch {
			case strings.HasPrefix(v.Name, "dbctl ["):
				name += " " + strings.TrimPrefix(v.Name, "dbctl ")
			case v.Name != "dbctl":
				name += " (" + strings.TrimPrefix(v.Name, "dbctl ") + ")"
			}
			ratio := "—"
			if r, ok := ratioOf(s, v.Name); ok {
				ratio = fmt.Sprintf("%.2f×", r)
			}
			tgt, met := "—", ""
			if id, ok := targetRow[s.ID+"|"+v.Name]; ok {
				if t := targetFor(res, id); t != nil {
					tgt, met = t.limitString(), t.metString()
				}
			}
			kspan := "—"
			if k != nil {
				kspan = span(k.Seconds)
			}
			w("| %s | %s | %s | %s | %s | %s |\n", name, span(v.Seconds), kspan, ratio, tgt, met)
		}
		if s.ID == "cold-1" && k != nil && s.variant("dbctl") != nil && s.variant("dbctl").OverheadSeconds != nil {
			d := s.variant("dbctl")
			t := targetFor(res, "overhead")
			ratio := "—"
			if k.OverheadSeconds != nil && k.OverheadSeconds.Median > 0 {
				ratio = fmt.Sprintf("%.2f×", d.OverheadSeconds.Median/k.OverheadSeconds.Median)
			}
			w("| cold-1: overhead beyond the rollout | %s | %s | %s | %s | %s |\n", span(*d.OverheadSeconds), span(*k.OverheadSeconds), ratio, t.limitString(), t.metString())
		}
	}
	for _, id := range []string{"cold-scaling", "cold-200-rss"} {
		if t := targetFor(res, id); t != nil && (t.Judged || t.Value > 0) {
			w("| %s | %s | | | %s | %s |\n", t.Description, t.valueString(), t.limitString(), t.metString())
		}
	}
	w("\n")

}

func targetsMarkdown(w func(string, ...any), res *Results) {
	w("#### Targets\n\n| target | value | limit | met? |\n|---|---|---|---|\n")
	for i := range res.Targets {
		t := &res.Targets[i]
		val := t.valueString()
		if t.Value == 0 && !t.Judged && !t.Measured {
			val = "not run"
		}
		w("| %s | %s | %s | %s |\n", t.Description, val, t.limitString(), t.metString())
	}
	w("\n")

}

func beforeAfterMarkdown(w func(string, ...any), res, base *Results) {
	w("#### Before / after (before: %s%s)\n\n| target | before | after | limit |\n|---|---|---|---|\n",
		base.StartedAt.Format("2006-01-02 15:04 UTC"), func() string {
			if base.Label != "" {
				return " — " + base.Label
			}
			return ""
		}())
	for i := range res.Targets {
		t := &res.Targets[i]
		if t.Scenario == "controller" && base.Controller == nil {
			continue // a baseline from before the controller scenario
		}
		bt := targetFor(base, t.ID)
		before := "not run"
		if bt != nil && (bt.Judged || bt.Value > 0) {
			before = bt.valueString() + " " + strings.Fields(bt.metString() + " x")[0]
		}
		after := "not run"
		if t.Judged || t.Value > 0 {
			after = t.valueString() + " " + strings.Fields(t.metString() + " x")[0]
		}
		w("| %s | %s | %s | %s |\n", t.Description, before, after, t.limitString())
	}
	w("\n| variant | before: median, requests | after: median, requests |\n|---|---|---|\n")
	for _, s := range res.Scenarios {
		bs := findScenario(base, s.ID)
		for _, v := range s.Variants {
			if v.Tool != "dbctl" {
				continue
			}
			before := "—"
			if bs != nil {
				if bv := bs.variant(v.Name); bv != nil {
					before = fmt.Sprintf("%s, %s", dur(bv.Seconds.Median), reqTotal(bv.Requests))
				}
			}
			w("| %s %s | %s | %s, %s |\n", s.ID, v.Name, before, dur(v.Seconds.Median), reqTotal(v.Requests))
		}
	}
	w("\n")
}

func requestsMarkdown(w func(string, ...any), res *Results) {
	w("#### API requests, memory, CPU\n\n")
	w("dbctl's requests come from its `-v` counter (the median sample); kubectl's from one extra, untimed run at `-v=6` " +
		"(counted from client-go's request log). Peak RSS is getrusage's ru_maxrss (for a kubectl twin of several processes, the largest).\n\n")
	w("| scenario | variant | API requests | peak RSS median [max] | CPU (user+sys) median |\n|---|---|---|---|---|\n")
	for _, s := range res.Scenarios {
		for _, v := range s.Variants {
			req := formatRequests(v.Requests)
			if v.Requests == nil {
				req = "not counted"
			}
			if v.RequestsNote != "" {
				req += "; " + v.RequestsNote
			}
			w("| %s | %s | %s | %.0f MiB [%.0f] | %s |\n", s.ID, v.Name, req, v.MaxRSSMiB.Median, v.MaxRSSMiB.Max, dur(v.CPUSeconds.Median))
		}
	}
	w("\n")

}

func coldMarkdown(w func(string, ...any), res *Results) {
	cold := false
	for _, s := range res.Scenarios {
		if strings.HasPrefix(s.ID, "cold-") {
			cold = true
		}
	}
	if cold {
		w("#### Cold runs: the rollout and the overhead beyond it\n\n")
		w("Last StatefulSet ready: from the start to the moment the harness's own watch saw the last StatefulSet rolled out (kstatus Current). " +
			"Overhead: from then to the exit of the last process.\n\n")
		w("| scenario | variant | total | last StatefulSet ready | overhead beyond the rollout |\n|---|---|---|---|---|\n")
		for _, s := range res.Scenarios {
			for _, v := range s.Variants {
				if v.RolloutSeconds == nil {
					continue
				}
				w("| %s | %s | %s | %s | %s |\n", s.ID, v.Name, span(v.Seconds), span(*v.RolloutSeconds), span(*v.OverheadSeconds))
			}
		}
		w("\n")
	}

}

func accountingMarkdown(w func(string, ...any), res *Results) {
	if len(res.Accounting) == 0 {
		return
	}
	w("#### Request accounting of a no-op reconcile\n\n")
	w("Limit: zero mutating requests that persist anything (checked: no resourceVersion of the Databases, their children or PVCs changes, " +
		"and dbctl reports no change) and at most (children + 2) requests per Database.\n\n")
	w("| scenario | requests | limit | mutating requests | objects changed | met? |\n|---|---|---|---|---|---|\n")
	for _, a := range res.Accounting {
		met := "❌ no"
		if a.Met {
			met = "✅ yes"
		}
		w("| %s (%d Database(s), `%s`) | %s | %d | %d (the server-side apply of the unchanged Database: persists nothing) | %d of %d | %s |\n",
			a.Scenario, a.Databases, a.Command, formatRequests(a.Requests), a.Limit, a.Mutating, len(a.Changed), a.Objects, met)
	}
	w("\n")
}

func reqTotal(m map[string]int64) string {
	if m == nil {
		return "requests n/a"
	}
	return fmt.Sprintf("%d requests", total(m))
}

const (
	beginMarker = "<!-- bench:begin (generated by make bench: bench/run.sh; do not edit by hand) -->"
	endMarker   = "<!-- bench:end -->"
)

// replaceSection writes md between the markers of path, keeping the prose around
// them (creating the file with a minimal frame when it does not exist).
func replaceSection(path, md string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	content := string(old)
	i, j := strings.Index(content, beginMarker), strings.Index(content, endMarker)
	if i < 0 || j < i {
		content = "# Benchmarks\n\n" + beginMarker + "\n" + endMarker + "\n"
		i, j = strings.Index(content, beginMarker), strings.Index(content, endMarker)
	}
	content = content[:i] + beginMarker + "\n" + md + endMarker + content[j+len(endMarker):]
	return os.WriteFile(path, []byte(content), 0o644)
}
