//go:build e2e

package e2e

// Concurrent runs (issue 6, item 2): several `dbctl reconcile` processes on the
// same Database at once, as when two pipelines deploy together.

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbctl-io/dbctl/resilience"
)

// concurrentRuns is how many dbctl processes run at once.
const concurrentRuns = 4

// startConcurrently starts n `dbctl reconcile args...` processes and waits for them.
func runConcurrently(t *testing.T, argss ...[]string) []*bgDbctl {
	t.Helper()
	procs := make([]*bgDbctl, len(argss))
	for i, args := range argss {
		procs[i] = startDbctl(t, append([]string{"reconcile"}, args...)...)
	}
	for _, p := range procs {
		p.wait()
	}
	return procs
}

// wantRetryableOrReady checks that each run exited 0 or 3 (never 1 or 2), with the
// documented JSON when it printed it, and no stack trace or raw conflict on stderr.
// It returns how many exited 0.
func wantRetryableOrReady(t *testing.T, procs []*bgDbctl) int {
	t.Helper()
	ready := 0
	for _, p := range procs {
		switch p.code {
		case 0:
			ready++
		case 3:
		default:
			t.Errorf("exit %d, want 0 or 3\n%s", p.code, p)
			continue
		}
		if strings.Contains(strings.Join(p.args, " "), "json") {
			if out := p.json(); out.FormatVersion != 1 || out.ExitCode != p.code {
				t.Errorf("-o json: formatVersion %d, exitCode %d; want 1, %d\n%s", out.FormatVersion, out.ExitCode, p.code, p)
			}
		}
		wantNoRawErrors(t, "stderr of "+strings.Join(p.args[2:], " "), p.stderrText())
		wantNoRawErrors(t, "stdout of "+strings.Join(p.args[2:], " "), p.stdout.String())
	}
	return ready
}

// TestReliabilityConcurrentRuns: concurrentRuns processes reconcile the same new
// Database at once, then the same update at once (one of them by name, reading the
// Database from the cluster, the others from the file). Each exits 0 or 3, without a
// stack trace or a raw conflict; the Database is then Ready, with one Secret whose
// password the update kept, and children the same as those of a single run of the
// same specs in another namespace; a further run changes nothing.
func TestReliabilityConcurrentRuns(t *testing.T) {
	reliability(t)
	t.Parallel()
	t.Cleanup(func() { noSecretLeaks(t) })
	const name = "orders"
	steps := []crashStep{{"cold", 3, "100"}, {"update max_connections, replicas 3→2", 2, "200"}}
	refNS, ns := namespace(t), namespace(t)
	refDir, dir := t.TempDir(), t.TempDir()
	var pw []byte
	for i, s := range steps {
		refFile := writeFile(t, refDir, "db.yaml", reliableYAML(refNS, name, s.replicas, s.maxConnections, ""))
		runReconcile(t, "-f", refFile, "--timeout", "2m").wantExit(t, 0)

		file := writeFile(t, dir, "db.yaml", reliableYAML(ns, name, s.replicas, s.maxConnections, ""))
		args := make([][]string, concurrentRuns)
		for j := range args {
			args[j] = []string{"-f", file, "-o", "json", "--timeout", "2m"}
		}
		if i > 0 {
			args[0] = []string{"-n", ns, name, "-o", "json", "--timeout", "2m"}
		}
		procs := runConcurrently(t, args...)
		ready := wantRetryableOrReady(t, procs)
		t.Logf("%s: %d concurrent runs, %d exited 0", s.label, len(procs), ready)
		if t.Failed() {
			t.FailNow()
		}
		if pw == nil {
			pw = password(t, ns, name)
		}
		wantConverged(t, ns, name, s.replicas, pw)
		wantSameChildren(t, refNS, ns, name, s.replicas)
		wantIdempotent(t, file, ns, name)
		if t.Failed() {
			t.FailNow()
		}
	}
}

// TestReliabilityConcurrentBreakerFile: concurrentRuns processes share one breaker
// state file while their Database's dependency (a local HTTP server) fails, then
// while it recovers. A reader checks the file all along: every version of it is
// valid. While it fails, each run stops with exit 3 once the breaker is open, and
// the file counts exactly the failures the server answered (no update lost); once
// it answers again, after the cooldown, the runs exit 0 or 3 (a run that finds
// another's probe in flight stops at once), the breaker is closed with no failure,
// and a last run reaches Ready.
func TestReliabilityConcurrentBreakerFile(t *testing.T) {
	reliability(t)
	t.Parallel()
	t.Cleanup(func() { noSecretLeaks(t) })
	var failing atomic.Bool
	var requests, failures atomic.Int64
	failing.Store(true)
	dep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		if failing.Load() {
			failures.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(dep.Close)
	const name, threshold = "orders", "40"
	ns := namespace(t)
	file := writeFile(t, t.TempDir(), "db.yaml", reliableYAML(ns, name, 1, "100", dep.URL))
	path := filepath.Join(stateDir(t), "dbctl", "breakers.json")

	// Every version of the file a reader sees is complete and valid.
	stop := make(chan struct{})
	var reads, invalid atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	reader := resilience.NewStore(path, func(msg string) {
		invalid.Add(1)
		t.Errorf("a reader saw an invalid breaker state file: %s", msg)
	})
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond) // a sampling rate, not a wait
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			sf, err := reader.Load() // what dbctl's readers do: no lock
			switch {
			case err != nil:
				invalid.Add(1)
			case sf.Breakers["backup-store"] != nil:
				reads.Add(1)
			}
		}
	}()
	stopReader := func() {
		close(stop)
		wg.Wait()
	}
	defer func() {
		select {
		case <-stop:
		default:
			stopReader()
		}
	}()

	common := []string{"-f", file, "-o", "json", "--dependency-qps", "100", "--retry-initial", "20ms", "--retry-max", "200ms",
		"--breaker-threshold", threshold}
	args := make([][]string, concurrentRuns)
	for i := range args {
		args[i] = append(append([]string{}, common...), "--timeout", "1m", "--breaker-cooldown", "1h")
	}
	procs := runConcurrently(t, args...)
	wantRetryableOrReady(t, procs)
	for _, p := range procs {
		if p.code != 3 || !strings.Contains(p.stdout.String(), "circuit breaker open") {
			t.Errorf("a run while the dependency fails: exit %d, want 3 naming the open circuit breaker\n%s", p.code, p)
		}
	}
	sf := wantBreakerFile(t, path, "backup-store", resilience.StateOpen, int(failures.Load()))
	// The runs took turns: several of them retried failed checks (a retry line
	// each; a check repeated at once after a status conflict has none).
	var perRun []int
	contributors := 0
	for _, p := range procs {
		n := len(regexp.MustCompile(`(?m)dependency "backup-store" unavailable: .*; retrying in`).FindAllString(p.stderrText(), -1))
		perRun = append(perRun, n)
		if n > 0 {
			contributors++
		}
	}
	t.Logf("dependency failing: the server answered %d requests, all failures, and the file counts %d; retries by run %v",
		requests.Load(), sf.Breakers["backup-store"].Failures, perRun)
	if contributors < 2 {
		t.Errorf("retries by run %v: want several runs updating the file", perRun)
	}

	// Recovered; a cooldown of 1ms has passed: a probe is due at once.
	failing.Store(false)
	for i := range args {
		args[i] = append(append([]string{}, common...), "--timeout", "2m", "--breaker-cooldown", "1ms")
	}
	procs = runConcurrently(t, args...)
	ready := wantRetryableOrReady(t, procs)
	t.Logf("dependency recovered: %d of %d runs exited 0", ready, len(procs))
	stopReader()
	if invalid.Load() > 0 || reads.Load() == 0 {
		t.Errorf("the reader read the file %d times, %d of them invalid", reads.Load(), invalid.Load())
	}
	t.Logf("a concurrent reader read the breaker state file %d times, all valid", reads.Load())
	wantBreakerFile(t, path, "backup-store", resilience.StateClosed, 0)

	r := runReconcile(t, "-f", file, "-o", "json", "--timeout", "2m")
	r.wantExit(t, 0)
	wantConverged(t, ns, name, 1, nil)
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "breakers.json" && e.Name() != "breakers.json.lock" {
			t.Errorf("left in the state directory: %s", e.Name())
		}
	}
}
