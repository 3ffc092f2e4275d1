//go:build e2e

package e2e

// Crash safety (issue 6, item 1): `dbctl reconcile` killed with SIGKILL at random
// points of a cold reconcile and of updates, over and over; the next run picks up
// where the killed one stopped.

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/resilience"
)

// crashStep is one spec the Database is driven to under kills.
type crashStep struct {
	label          string
	replicas       int
	maxConnections string
}

// The cold reconcile, then two updates: a config change (rolls the pods) with a
// scale-down, and a scale-down to 1 (prunes the PodDisruptionBudget).
var crashSteps = []crashStep{
	{"cold", 3, "100"},
	{"update max_connections, replicas 3→2", 2, "200"},
	{"update replicas 2→1", 1, "200"},
}

// crashRounds: round 0 kills each run as soon as it reports progress (a phase
// change, or what the rollout wait waits for), so the kills walk through every
// phase, landing at the start of each step's work, and over and over in the
// rollout wait until the rollout is complete; later rounds kill the first run of
// each step at a random point of its start, and the next ones after a random
// delay (a random point inside a step, or of the rollout wait).
const crashRounds = 3

// Kill windows: at the start of a run (before any progress line: the process
// starting, the Database applied, the first observation), after a phase change,
// and during the rollout wait (after "→ Verifying" or "waiting for").
const (
	startWindow   = 400 * time.Millisecond
	stepWindow    = 30 * time.Millisecond
	rolloutWindow = 600 * time.Millisecond
)

// stamp is the time dbctl puts before each progress line when stderr is not a
// terminal.
var stamp = regexp.MustCompile(`^\d\d:\d\d:\d\dZ `)

// unstamped drops the time in front of a progress line.
func unstamped(line string) string { return stamp.ReplaceAllString(line, "") }

// progressLine is a phase change or a rollout wait line of dbctl's stderr.
var progressLine = regexp.MustCompile(`^(\d\d:\d\d:\d\dZ )?\S+: ((Pending|Provisioning|Configuring|Deploying|Verifying|Ready|Updating|Failed) → \w+|waiting for )`)

type killRecord struct {
	round, attempt int
	step           string
	trigger        string        // the stderr line after which the kill was timed, or "start"
	delay          time.Duration // after the trigger
	phase          string        // status.phase right after the kill
	children       string        // which children existed
}

// TestReliabilityCrash kills `dbctl reconcile` (SIGKILL) at random points until a
// run finishes on its own, for a cold reconcile (Pending → … → Ready) and two
// updates, in crashRounds fresh namespaces. The Database depends on a local HTTP
// server, so the runs write the breaker state file too. After every kill: every
// child that exists is owned by the Database (controller reference) and managed by
// dbctl. After each step: the run that was not killed exited 0; the Database is
// Ready and consistent, has one Secret and one StatefulSet, the password first read
// after a kill is unchanged, every child is wholly dbctl's and the same as a single
// uninterrupted run's, and one more run changes nothing. At the end the breaker file
// is valid and no output called it corrupt.
func TestReliabilityCrash(t *testing.T) {
	reliability(t)
	t.Parallel()
	t.Cleanup(func() { noSecretLeaks(t) })
	dep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(dep.Close)
	const name = "orders"
	flags := []string{"--timeout", "2m", "--dependency-qps", "50", "--retry-initial", "100ms", "--retry-max", "2s"}

	// What a single uninterrupted run makes of each step.
	refNS := namespace(t)
	refDir := t.TempDir()
	refSpecs := make([]map[string]string, len(crashSteps))
	for i, s := range crashSteps {
		file := writeFile(t, refDir, "db.yaml", reliableYAML(refNS, name, s.replicas, s.maxConnections, dep.URL))
		runReconcile(t, append([]string{"-f", file, "-o", "json"}, flags...)...).wantExit(t, 0)
		waitDatabaseRolledOut(t, refNS, name, s.replicas)
		refSpecs[i] = childSpecs(t, refNS, name, s.replicas)
	}

	var kills []killRecord
	for round := range crashRounds {
		ns := namespace(t)
		dir := t.TempDir()
		var firstPassword []byte // read after the first kill that left a Secret
		for step, s := range crashSteps {
			file := writeFile(t, dir, "db.yaml", reliableYAML(ns, name, s.replicas, s.maxConnections, dep.URL))
			var final *bgDbctl
			for attempt := 0; final == nil; attempt++ {
				if attempt == 100 {
					t.Fatalf("round %d, %s: still not converged after %d kills", round, s.label, attempt)
				}
				p := startDbctl(t, append([]string{"reconcile", "-f", file}, flags...)...)
				k := killRecord{round: round, attempt: attempt, step: s.label, trigger: "start"}
				if attempt == 0 && round > 0 {
					k.delay = jitter(startWindow)
				} else {
					i := p.waitLine(progressLine, 0, 2*time.Minute)
					if i >= 0 {
						k.trigger = strings.TrimPrefix(unstamped(p.line(i)), ns+"/"+name+": ")
						switch {
						case round == 0:
						case strings.Contains(k.trigger, "→ Verifying") || strings.HasPrefix(k.trigger, "waiting for"):
							k.delay = jitter(rolloutWindow)
						default:
							k.delay = jitter(stepWindow)
						}
					}
				}
				p.sleepUnlessDone(k.delay)
				if !p.kill() {
					final = p // finished on its own
					break
				}
				k.phase, k.children = crashState(t, ns, name)
				kills = append(kills, k)
				if sec := getSecret(t, ns, name); sec != nil && firstPassword == nil {
					firstPassword = password(t, ns, name)
				}
				wantNoHalfOwned(t, ns, name)
				if t.Failed() {
					t.Fatalf("after kill %+v", k)
				}
			}
			if code := final.wait(); code != 0 {
				t.Fatalf("round %d, %s: the run that was not killed: exit %d, want 0\n%s", round, s.label, code, final)
			}
			wantNoRawErrors(t, "stderr", final.stderrText())
			wantConverged(t, ns, name, s.replicas, firstPassword)
			wantSpecs(t, fmt.Sprintf("round %d, %s", round, s.label), refSpecs[step], childSpecs(t, ns, name, s.replicas))
			wantIdempotent(t, file, ns, name)
			if t.Failed() {
				t.FailNow()
			}
		}
	}

	// The breaker state file of every run of this test (kills included).
	path := filepath.Join(stateDir(t), "dbctl", "breakers.json")
	wantBreakerFile(t, path, "backup-store", resilience.StateClosed, -1)
	outputsMu.Lock()
	for _, o := range outputs {
		if o.test == t.Name() && strings.Contains(o.stderr, "corrupt") {
			t.Errorf("dbctl %s: says the breaker state file is corrupt:\n%s", o.args, o.stderr)
		}
	}
	outputsMu.Unlock()

	// The distribution of the kills, by step and by the phase they left the status in.
	dist := map[string]int{}
	var lines []string
	for _, k := range kills {
		kind := "cold"
		if k.step != crashSteps[0].label {
			kind = "update"
		}
		dist[kind+" "+k.phase]++
		lines = append(lines, fmt.Sprintf("round %d %-40s attempt %2d: %-55.55s +%-6v → status %-12s children %s",
			k.round, k.step, k.attempt, k.trigger, k.delay.Round(time.Millisecond), k.phase, k.children))
	}
	var summary []string
	for _, k := range slices.Sorted(maps.Keys(dist)) {
		summary = append(summary, fmt.Sprintf("%s: %d", k, dist[k]))
	}
	t.Logf("%d kills:\n%s\nby the phase they left: %s", len(kills), strings.Join(lines, "\n"), strings.Join(summary, ", "))
	if len(kills) < 20 {
		t.Errorf("%d kills, want at least 20", len(kills))
	}
	// Round 0 walks through every phase: each must have been hit.
	for _, want := range []string{"cold Provisioning", "cold Configuring", "cold Deploying", "cold Verifying", "update Updating", "update Verifying"} {
		if dist[want] == 0 {
			t.Errorf("no kill left the status %q", want)
		}
	}
}

// crashState describes the Database after a kill: its status.phase ("none" before
// its first status write, "absent" before it was applied) and which children exist.
func crashState(t *testing.T, ns, name string) (phase, children string) {
	t.Helper()
	db := &v1alpha1.Database{}
	err := newClient(t).Get(ctxFor(t), client.ObjectKey{Namespace: ns, Name: name}, db)
	switch {
	case apierrors.IsNotFound(err):
		phase = "absent"
	case err != nil:
		t.Fatal(err)
	case db.Status.Phase == "":
		phase = "none"
	default:
		phase = string(db.Status.Phase)
	}
	objs := childObjects(ns, name, 3)
	var have []string
	for _, key := range []string{"Secret " + name + "-credentials", "Service " + name + "-headless", "Service " + name,
		"ConfigMap " + name + "-config", "StatefulSet " + name, "PodDisruptionBudget " + name} {
		mark := "-"
		if exists(t, objs[key]) {
			mark = strings.SplitN(key, " ", 2)[0][:3]
		}
		have = append(have, mark)
	}
	return phase, strings.Join(have, ",")
}

// wantNoHalfOwned checks every child that exists right after a kill: exactly one
// owner reference, the Database as controller (none on a retained Secret), and dbctl among its field managers
// (a Secret created with a POST and not yet applied has only dbctl's Update entry).
func wantNoHalfOwned(t *testing.T, ns, name string) {
	t.Helper()
	db := &v1alpha1.Database{}
	if err := newClient(t).Get(ctxFor(t), client.ObjectKey{Namespace: ns, Name: name}, db); err != nil {
		if apierrors.IsNotFound(err) {
			return
		}
		t.Fatal(err)
	}
	for key, obj := range childObjects(ns, name, 3) {
		if !exists(t, obj) {
			continue
		}
		refs := obj.GetOwnerReferences()
		if keptOnDelete(obj, db) {
			if len(refs) != 0 {
				t.Errorf("%s: ownerReferences %+v, want none (deletionPolicy Retain)", key, refs)
			}
		} else if len(refs) != 1 || refs[0].Controller == nil || !*refs[0].Controller || refs[0].UID != db.UID {
			t.Errorf("%s: ownerReferences %+v, want exactly one, the controller reference to Database %s", key, refs, db.UID)
		}
		managed := false
		for _, mf := range obj.GetManagedFields() {
			managed = managed || mf.Manager == "dbctl"
		}
		if !managed {
			t.Errorf("%s: dbctl is not among its field managers", key)
		}
	}
}

// wantBreakerFile checks a breaker state file: a valid version-1 JSON file of mode
// 0600 that dbctl reads without complaint (dbctl breaker list), with the breaker
// name in state; failures >= 0 is its exact failure count. No temp file is left
// but those of killed writers. It returns the file.
func wantBreakerFile(t *testing.T, path, name string, state resilience.State, failures int) resilience.StateFile {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("breaker state file: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("breaker state file %s: mode %v, want 0600", path, info.Mode().Perm())
	}
	sf, err := resilience.NewStore(path, func(msg string) { t.Errorf("breaker state file: %s", msg) }).Load()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if sf.Version != resilience.StateFileVersion {
		t.Errorf("breaker state file: version %d, want %d\n%s", sf.Version, resilience.StateFileVersion, raw)
	}
	r, ok := sf.Breakers[name]
	switch {
	case !ok:
		t.Errorf("breaker state file has no breaker %q\n%s", name, raw)
	case r.CurrentState() != state:
		t.Errorf("breaker %q is %s, want %s\n%s", name, r.CurrentState(), state, raw)
	case failures >= 0 && r.Failures != failures:
		t.Errorf("breaker %q counts %d failures, want %d (an update was lost)\n%s", name, r.Failures, failures, raw)
	}
	stdout, stderr, code := runDbctl(t, "--breaker-state", path, "breaker", "list")
	if code != 0 || strings.Contains(stderr, "corrupt") || !strings.Contains(stdout, name) {
		t.Errorf("dbctl breaker list: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	return sf
}
