// Command bench measures dbctl against its kubectl twin on a running cluster (see
// bench/run.sh, which builds the binaries, starts a throwaway kwok cluster and runs
// this), and writes bench/results.json and the numbers section of BENCHMARKS.md.
//
// Every scenario runs its variants interleaved (dbctl, kubectl, dbctl, kubectl…, the
// order rotated each round) so that the noise of a shared machine hits both alike;
// the report gives medians, min/max and the ratio of medians measured in the same run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
)

type config struct {
	dbctl, kubectl, kubeconfig, work string
	out, markdown, baseline, label   string
	iterations                       int
	cheapFactor                      int
	coldScaleIterations              int
	scaleSizes                       []int
	noopConcurrency                  []int
	coldConcurrency                  []int
	coldC1MaxSize                    int
	smoke                            bool
	only                             map[string]bool
	checkAccounting                  bool
	nodes                            int
	dbctlFlags                       []string
	extraDbctl                       []extraBinary
	ctl                              ctlConfig
	merge                            bool
	render                           bool
}

// extraBinary is another dbctl build measured alongside (-extra-dbctl NAME=PATH).
type extraBinary struct{ name, path string }

func main() {
	var c config
	var sizes, noopConc, coldConc, only string
	flag.StringVar(&c.dbctl, "dbctl", "", "dbctl binary")
	flag.StringVar(&c.kubectl, "kubectl", "", "kubectl binary")
	flag.StringVar(&c.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the benchmark cluster")
	flag.StringVar(&c.work, "work", "", "scratch directory (files, kubectl's discovery cache)")
	flag.StringVar(&c.out, "out", "bench/results.json", "results file")
	flag.StringVar(&c.markdown, "markdown", "BENCHMARKS.md", "Markdown report; its section between the bench markers is replaced (empty: none)")
	flag.StringVar(&c.baseline, "baseline", "", "results.json of an earlier run, shown as 'before' in the Markdown report")
	flag.StringVar(&c.label, "label", "", "label of this run (e.g. after: QPS defaults)")
	flag.IntVar(&c.iterations, "iterations", 7, "samples per variant")
	flag.IntVar(&c.cheapFactor, "cheap-factor", 3, "the sub-second single-Database scenarios take iterations × this many samples")
	flag.IntVar(&c.coldScaleIterations, "cold-scale-iterations", 0, "samples per variant of the cold scale scenarios (0: -iterations)")
	flag.StringVar(&sizes, "scale", "50,200", "numbers of Databases of the scale scenarios (empty: none)")
	flag.StringVar(&noopConc, "noop-concurrency", "1,4,16", "dbctl --concurrency values of the no-op scale scenarios")
	flag.StringVar(&coldConc, "cold-concurrency", "1,4,16", "dbctl --concurrency values of the cold scale scenarios")
	flag.IntVar(&c.coldC1MaxSize, "cold-c1-max", 50, "cold scale runs with --concurrency 1 only up to this many Databases (each rollout is waited for in turn)")
	flag.BoolVar(&c.smoke, "smoke", false, "CI smoke run: no Markdown, no timing targets judged")
	flag.StringVar(&only, "only", "", "comma-separated scenario ids to run (default: all)")
	flag.BoolVar(&c.checkAccounting, "check-accounting", false, "exit 1 when the request accounting check fails (not a timing assertion)")
	flag.IntVar(&c.nodes, "nodes", 0, "number of kwok nodes (recorded only)")
	var dbctlFlags string
	flag.StringVar(&dbctlFlags, "dbctl-flags", "", "extra flags for every measured dbctl command, space-separated (e.g. \"--qps 500 --burst 1000\")")
	flag.IntVar(&c.ctl.databases, "controller-databases", 500, "Databases of the controller scenario (0: it does not run)")
	flag.IntVar(&c.ctl.unrelated, "controller-unrelated", 5000, "unrelated Secrets and ConfigMaps (half each) in the cluster of the controller scenario")
	flag.IntVar(&c.ctl.concurrency, "controller-concurrency", 16, "dbctl controller --concurrency")
	flag.DurationVar(&c.ctl.steady, "controller-steady", 2*time.Minute, "the steady-state window of the controller scenario")
	flag.DurationVar(&c.ctl.settle, "controller-settle", 30*time.Second, "the wait after every Database is Ready before the steady-state window")
	flag.BoolVar(&c.ctl.baseline, "controller-baseline", true, "also run the controller with no unrelated object in the cluster (the memory baseline)")
	flag.BoolVar(&c.ctl.leaderElect, "controller-leader-elect", true, "also measure the steady state with leader election on (a restart over the Ready Databases)")
	flag.DurationVar(&c.ctl.late, "controller-late", 13*time.Minute, "in the run among the unrelated objects, go on counting requests after the steady-state window "+
		"until this long after the controller's start (client-go finishes the Event series 6-12 min after they were last seen); 0: no late window")
	flag.BoolVar(&c.merge, "merge", false, "keep from the existing -out file what this run skips: its comparison scenarios when only the controller runs, "+
		"its controller section when the controller does not run")
	flag.BoolVar(&c.render, "render", false, "measure nothing: render the Markdown report of the -out file again (into -markdown); no cluster needed")
	var extra string
	flag.StringVar(&extra, "extra-dbctl", "", "other dbctl builds to measure in the startup, no-op and plan scenarios, as NAME=PATH,... (e.g. a proposed change)")
	flag.Parse()
	c.dbctlFlags = strings.Fields(dbctlFlags)
	for _, kv := range strings.Split(extra, ",") {
		if name, path, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
			abs, err := filepath.Abs(path)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			c.extraDbctl = append(c.extraDbctl, extraBinary{name, abs})
		}
	}
	c.scaleSizes = ints(sizes)
	c.noopConcurrency = ints(noopConc)
	c.coldConcurrency = ints(coldConc)
	if c.coldScaleIterations == 0 {
		c.coldScaleIterations = c.iterations
	}
	if only != "" {
		c.only = map[string]bool{}
		for _, s := range strings.Split(only, ",") {
			c.only[strings.TrimSpace(s)] = true
		}
	}
	if c.render {
		if err := renderAgain(&c); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if c.dbctl == "" || c.kubectl == "" || c.kubeconfig == "" || c.work == "" {
		fmt.Fprintln(os.Stderr, "bench: -dbctl, -kubectl, -kubeconfig and -work are required (run bench/run.sh)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := benchmark(ctx, &c); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var n int
		if _, err := fmt.Sscan(f, &n); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// Results is bench/results.json.
type Results struct {
	FormatVersion int           `json:"formatVersion"`
	Label         string        `json:"label,omitempty"`
	StartedAt     time.Time     `json:"startedAt"`
	FinishedAt    time.Time     `json:"finishedAt"`
	Environment   Environment   `json:"environment"`
	Scenarios     []*Scenario   `json:"scenarios"`
	Targets       []Target      `json:"targets"`
	Accounting    []*Accounting `json:"accounting"`
	// Controller is the controller scenario (issue 15), with its own run metadata.
	Controller *ControllerResult `json:"controller,omitempty"`
}

// Environment records where the numbers come from.
type Environment struct {
	CPUs           int    `json:"cpus"`
	GOOS           string `json:"goos"`
	GOARCH         string `json:"goarch"`
	Kernel         string `json:"kernel,omitempty"`
	LoadAvgStart   string `json:"loadAvgStart,omitempty"`
	LoadAvgEnd     string `json:"loadAvgEnd,omitempty"`
	DbctlVersion   string `json:"dbctlVersion"`
	KubectlVersion string `json:"kubectlVersion"`
	ServerVersion  string `json:"serverVersion"`
	Nodes          int    `json:"nodes,omitempty"`
	Iterations     int    `json:"iterations"`
	CheapFactor    int    `json:"cheapFactor"`
	ScaleReplicas  int    `json:"scaleReplicas"`
	Smoke          bool   `json:"smoke,omitempty"`
	DbctlFlags     string `json:"dbctlFlags,omitempty"`
	Notes          string `json:"notes"`
}

// Sample is one measured run of a variant.
type Sample struct {
	Round      int              `json:"round"`
	Seconds    float64          `json:"seconds"`
	MaxRSSMiB  float64          `json:"maxRSSMiB"`
	CPUSeconds float64          `json:"cpuSeconds"`
	Processes  int              `json:"processes"`
	Requests   map[string]int64 `json:"requests,omitempty"`
	// Cold runs: from the start to the moment the harness's own watch saw the last
	// StatefulSet rolled out (kstatus Current), and from then to the exit of the
	// last process (the tool's own overhead beyond the rollout).
	RolloutSeconds  *float64 `json:"rolloutSeconds,omitempty"`
	OverheadSeconds *float64 `json:"overheadSeconds,omitempty"`
}

// Variant is one command line measured in a scenario.
type Variant struct {
	Name            string           `json:"name"`
	Tool            string           `json:"tool"`
	Command         string           `json:"command"`
	Samples         []Sample         `json:"samples"`
	Seconds         Stats            `json:"seconds"`
	MaxRSSMiB       Stats            `json:"maxRSSMiB"`
	CPUSeconds      Stats            `json:"cpuSeconds"`
	RolloutSeconds  *Stats           `json:"rolloutSeconds,omitempty"`
	OverheadSeconds *Stats           `json:"overheadSeconds,omitempty"`
	Requests        map[string]int64 `json:"requests,omitempty"`
	RequestsNote    string           `json:"requestsNote,omitempty"`

	run           func(ctx context.Context, round int) (Sample, error)
	prepare       func(ctx context.Context, round int) error
	cleanup       func(ctx context.Context, round int) error
	countRequests func(ctx context.Context) (map[string]int64, error)
}

// Scenario is a set of variants run interleaved.
type Scenario struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Iterations  int        `json:"iterations"`
	Variants    []*Variant `json:"variants"`
	Ratios      []Ratio    `json:"ratios"`

	setup  func(ctx context.Context) error
	warmup bool
}

// Ratio is the ratio of the median wall times of a dbctl variant and its kubectl twin.
type Ratio struct {
	Dbctl   string  `json:"dbctl"`
	Kubectl string  `json:"kubectl"`
	Value   float64 `json:"value"`
}

func (s *Scenario) variant(name string) *Variant {
	for _, v := range s.Variants {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// newEnv makes the paths of c absolute and builds the harness's clients.
func newEnv(c *config) (*env, error) {
	for _, p := range []*string{&c.dbctl, &c.kubectl, &c.kubeconfig, &c.work} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	if err := os.MkdirAll(c.work, 0o755); err != nil {
		return nil, err
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", c.kubeconfig, err)
	}
	restCfg.QPS, restCfg.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	return &env{c: c, rest: restCfg, cs: cs, dyn: dyn, kcache: filepath.Join(c.work, "kube-cache"), breakers: filepath.Join(c.work, "breakers.json")}, nil
}

func benchmark(ctx context.Context, c *config) error {
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	res := &Results{FormatVersion: 1, Label: c.label, StartedAt: time.Now().UTC()}
	res.Environment = e.environment(ctx)
	logf("dbctl %s; kubectl %s; server %s; %d CPUs", res.Environment.DbctlVersion, res.Environment.KubectlVersion,
		res.Environment.ServerVersion, res.Environment.CPUs)

	if _, err := run(ctx, nil, c.dbctl, e.dbctlArgs("install")...); err != nil {
		return err
	}
	if err := e.widenServiceCIDR(ctx); err != nil {
		return err
	}
	prev, err := previousResults(c)
	if err != nil {
		return err
	}
	save := func() error {
		out := mergeResults(res, prev)
		out.Targets = evaluateTargets(out)
		return writeJSON(c.out, out)
	}
	scenarios := e.scenarios()
	for _, s := range scenarios {
		if c.only != nil && !c.only[s.ID] && !c.only[strings.SplitN(s.ID, "-", 2)[0]] {
			continue
		}
		if err := e.runScenario(ctx, s); err != nil {
			return fmt.Errorf("scenario %s: %w", s.ID, err)
		}
		res.Scenarios = append(res.Scenarios, s)
		if s.ID == "noop-1" {
			a, err := e.accounting(ctx, "noop-1", "b1-d", []string{e.singleFile()}, 1, childrenPerDatabase(), 1)
			if err != nil {
				return err
			}
			res.Accounting = append(res.Accounting, a)
		}
		if s.ID == fmt.Sprintf("noop-%d", maxInt(c.scaleSizes)) {
			n := maxInt(c.scaleSizes)
			a, err := e.accounting(ctx, s.ID, "s-d", []string{e.scaleDir("d", n)}, n, childrenPerDatabase(), 16)
			if err != nil {
				return err
			}
			res.Accounting = append(res.Accounting, a)
		}
		// Write what we have after every scenario: a long run that fails late keeps its numbers.
		res.FinishedAt = time.Now().UTC()
		if err := save(); err != nil {
			return err
		}
	}
	if c.ctl.databases > 0 && (c.only == nil || c.only["controller"]) {
		ctl, err := e.controllerScenario(ctx, res)
		if err != nil {
			return fmt.Errorf("scenario controller: %w", err)
		}
		res.Controller = ctl
	}
	res.Environment.LoadAvgEnd = loadAvg()
	res.FinishedAt = time.Now().UTC()
	if err := save(); err != nil {
		return err
	}
	res = mergeResults(res, prev)
	res.Targets = evaluateTargets(res)
	logf("wrote %s", c.out)
	return report(c, res)
}

// report prints the Markdown report (and writes it into -markdown), then checks the
// request accounting (-check-accounting).
func report(c *config, res *Results) error {
	var base *Results
	if c.baseline != "" {
		b, err := os.ReadFile(c.baseline)
		if err != nil {
			return err
		}
		base = &Results{}
		if err := json.Unmarshal(b, base); err != nil {
			return fmt.Errorf("%s: %w", c.baseline, err)
		}
	}
	md := markdown(res, base)
	fmt.Println(md)
	if c.markdown != "" && !c.smoke {
		if err := replaceSection(c.markdown, md); err != nil {
			return err
		}
		logf("wrote %s", c.markdown)
	}
	if c.checkAccounting {
		for _, a := range res.Accounting {
			if !a.Met {
				return fmt.Errorf("request accounting check failed for %s: %s", a.Scenario, a.Summary())
			}
		}
	}
	return nil
}

// renderAgain renders the report of the -out file (-render), its targets judged
// again with this harness's rules.
func renderAgain(c *config) error {
	b, err := os.ReadFile(c.out)
	if err != nil {
		return err
	}
	res := &Results{}
	if err := json.Unmarshal(b, res); err != nil {
		return fmt.Errorf("%s: %w", c.out, err)
	}
	c.smoke = c.smoke || res.Environment.Smoke
	if res.Controller != nil {
		for _, r := range res.Controller.Runs {
			if r.Steady != nil && r.Steady.RestClient == nil { // written when an empty count was left out
				r.Steady.RestClient = map[string]int64{}
			}
		}
	}
	res.Targets = evaluateTargets(res)
	if err := writeJSON(c.out, res); err != nil {
		return err
	}
	return report(c, res)
}

// previousResults reads the -out file for -merge (nil without -merge or file).
func previousResults(c *config) (*Results, error) {
	if !c.merge {
		return nil, nil
	}
	b, err := os.ReadFile(c.out)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	prev := &Results{}
	if err := json.Unmarshal(b, prev); err != nil {
		return nil, fmt.Errorf("%s: %w", c.out, err)
	}
	return prev, nil
}

// mergeResults is res with what it lacks taken from prev (-merge): the comparison
// scenarios (with their environment) when res ran none, the controller section
// when res did not run it.
func mergeResults(res, prev *Results) *Results {
	if prev == nil {
		return res
	}
	out := *res
	if len(res.Scenarios) == 0 && len(res.Accounting) == 0 {
		out.Label, out.StartedAt, out.FinishedAt, out.Environment = prev.Label, prev.StartedAt, prev.FinishedAt, prev.Environment
		out.Scenarios, out.Accounting = prev.Scenarios, prev.Accounting
	}
	if res.Controller == nil {
		out.Controller = prev.Controller
	}
	return &out
}

func maxInt(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// runScenario runs setup, one untimed warm-up of each variant (when the scenario
// wants it), then the interleaved rounds, and summarises.
func (e *env) runScenario(ctx context.Context, s *Scenario) error {
	logf("== %s: %s (%d rounds × %d variants)", s.ID, s.Title, s.Iterations, len(s.Variants))
	if s.setup != nil {
		start := time.Now()
		if err := s.setup(ctx); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		logf("   setup done in %s", time.Since(start).Round(time.Millisecond))
	}
	if s.warmup {
		for _, v := range s.Variants {
			if _, err := e.once(ctx, v, -1); err != nil {
				return fmt.Errorf("%s (warm-up): %w", v.Name, err)
			}
		}
	}
	for round := 0; round < s.Iterations; round++ {
		n := len(s.Variants)
		for k := 0; k < n; k++ {
			v := s.Variants[(k+round)%n]
			smp, err := e.once(ctx, v, round)
			if err != nil {
				return fmt.Errorf("%s (round %d): %w", v.Name, round+1, err)
			}
			smp.Round = round + 1
			v.Samples = append(v.Samples, smp)
			extra := ""
			if smp.OverheadSeconds != nil {
				extra = fmt.Sprintf(", rollout %.3fs, overhead %.3fs", *smp.RolloutSeconds, *smp.OverheadSeconds)
			}
			if smp.Requests != nil {
				extra += ", requests " + formatRequests(smp.Requests)
			}
			logf("   %-32s round %d: %.3fs, %.0f MiB%s", v.Name, round+1, smp.Seconds, smp.MaxRSSMiB, extra)
		}
	}
	for _, v := range s.Variants {
		summarise(v)
		if v.countRequests != nil {
			m, err := v.countRequests(ctx)
			if err != nil {
				return fmt.Errorf("%s (counting requests): %w", v.Name, err)
			}
			v.Requests = m
		}
	}
	for _, v := range s.Variants {
		if v.Tool != "dbctl" {
			continue
		}
		for _, k := range s.Variants {
			if k.Tool == "kubectl" && k.Seconds.Median > 0 {
				s.Ratios = append(s.Ratios, Ratio{Dbctl: v.Name, Kubectl: k.Name, Value: round(v.Seconds.Median / k.Seconds.Median)})
			}
		}
	}
	for _, r := range s.Ratios {
		logf("   ratio %s / %s = %.3f", r.Dbctl, r.Kubectl, r.Value)
	}
	return nil
}

func (e *env) once(ctx context.Context, v *Variant, round int) (Sample, error) {
	if err := ctx.Err(); err != nil {
		return Sample{}, err
	}
	if v.prepare != nil {
		if err := v.prepare(ctx, round); err != nil {
			return Sample{}, fmt.Errorf("prepare: %w", err)
		}
	}
	smp, err := v.run(ctx, round)
	if v.cleanup != nil {
		if cerr := v.cleanup(ctx, round); cerr != nil && err == nil {
			err = fmt.Errorf("cleanup: %w", cerr)
		}
	}
	return smp, err
}

func summarise(v *Variant) {
	var secs, rss, cpu, roll, over []float64
	for _, s := range v.Samples {
		secs = append(secs, s.Seconds)
		rss = append(rss, s.MaxRSSMiB)
		cpu = append(cpu, s.CPUSeconds)
		if s.RolloutSeconds != nil {
			roll = append(roll, *s.RolloutSeconds)
			over = append(over, *s.OverheadSeconds)
		}
	}
	v.Seconds, v.MaxRSSMiB, v.CPUSeconds = statsOf(secs), statsOf(rss), statsOf(cpu)
	if len(roll) > 0 {
		r, o := statsOf(roll), statsOf(over)
		v.RolloutSeconds, v.OverheadSeconds = &r, &o
	}
	if v.Tool == "dbctl" && len(v.Samples) > 0 {
		// The requests of the median sample by total (no-op runs are deterministic).
		var totals []float64
		for _, s := range v.Samples {
			totals = append(totals, float64(total(s.Requests)))
		}
		med := statsOf(totals).Median
		best := v.Samples[0].Requests
		for _, s := range v.Samples {
			if float64(total(s.Requests)) == med {
				best = s.Requests
				break
			}
		}
		v.Requests = best
		st := statsOf(totals)
		if st.Min != st.Max {
			v.RequestsNote = fmt.Sprintf("total varies %d–%d between samples", int(st.Min), int(st.Max))
		}
	}
}

func (e *env) environment(ctx context.Context) Environment {
	env := Environment{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, LoadAvgStart: loadAvg(),
		Nodes: e.c.nodes, DbctlFlags: strings.Join(e.c.dbctlFlags, " "), Iterations: e.c.iterations, CheapFactor: e.c.cheapFactor, ScaleReplicas: 1, Smoke: e.c.smoke,
		Notes: "kwok cluster on 127.0.0.1 (real kube-apiserver, etcd, kube-controller-manager, kube-scheduler; kwok simulates nodes and pods); " +
			"dbctl and kubectl run against the same cluster in the same run, interleaved; kubectl with a warm discovery cache"}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		env.Kernel = strings.TrimSpace(string(b))
	}
	if p, err := run(ctx, nil, e.c.dbctl, "version"); err == nil {
		env.DbctlVersion = strings.TrimSpace(p.Stdout)
	}
	if p, err := run(ctx, nil, e.c.kubectl, "version", "--client"); err == nil {
		env.KubectlVersion = strings.TrimSpace(strings.SplitN(p.Stdout, "\n", 2)[0])
	}
	if v, err := e.cs.Discovery().ServerVersion(); err == nil {
		env.ServerVersion = v.GitVersion
	}
	return env
}

// childrenPerDatabase is the number of children a Database can have: a no-op
// reconcile reads each once (a GET; absent ones too).
func childrenPerDatabase() int { return len(phases.Children(&v1alpha1.Database{})) }
