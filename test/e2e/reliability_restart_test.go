//go:build e2e

package e2e

// API server restart mid-run (issue 6, item 3): the control plane of the kwok
// cluster stopped for a few seconds in the middle of a cold reconcile, then started
// again.

import (
	"cmp"
	"math/rand/v2"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// retryLine is dbctl's line for a transient error it retries.
var retryLine = regexp.MustCompile(`; retrying in (\S+)$`)

// TestReliabilityAPIServerRestart stops etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler (the kwok controller, standing for the
// kubelets, keeps running) in the middle of a cold `dbctl reconcile --timeout 2m
// --retry-initial 200ms` of a 3-replica Database, keeps them down a few seconds
// after dbctl noticed, and starts them again:
//
//   - "restart during the rollout wait": SIGTERM (a restart) once dbctl's rollout
//     watch is established (the API server counts it), so the watch breaks; after
//     the restart dbctl watches again (the API server counts it again) before any
//     pod can become ready;
//   - "crash at a random point": SIGKILL (a crash) at a random point of Pending ..
//     Deploying (a random delay after the start, or after one of the first phase
//     changes): any request of those phases may be the one that fails.
//
// The nodes are cordoned until the control plane is back, so the rollout can only
// complete after the restart, which dbctl can only learn from a new watch. Each
// run retries with growing backoff (never above --retry-max), exits 0 with the
// Database Ready (so within --timeout), with no stack trace or raw conflict; the
// password read before the stop is unchanged; one Secret, one StatefulSet, children
// wholly dbctl's; a further run changes nothing.
//
// It stops the control plane: it must run alone (no t.Parallel; the parallel tests
// start after it).
func TestReliabilityAPIServerRestart(t *testing.T) {
	reliability(t)
	t.Cleanup(func() { noSecretLeaks(t) })
	const name = "orders"
	for _, tc := range []struct {
		name   string
		signal syscall.Signal
		random bool
	}{
		{"restart during the rollout wait", syscall.SIGTERM, false},
		{"crash at a random point", syscall.SIGKILL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t)
			file := writeFile(t, t.TempDir(), "db.yaml", reliableYAML(ns, name, 3, "100", ""))
			uncordon := cordonAll(t)
			p := startDbctl(t, "reconcile", "-f", file, "-o", "json", "--timeout", "2m", "--retry-initial", "200ms", "--retry-max", "5s")
			var pw []byte
			if tc.random {
				// A random point of Pending .. Deploying: at the start, or shortly
				// after one of the first phase changes.
				trigger := []string{"", "Pending → Provisioning", "Provisioning → Configuring", "Configuring → Deploying"}[rand.IntN(4)]
				d := jitter(30 * time.Millisecond)
				if trigger == "" {
					d = jitter(300 * time.Millisecond)
				} else {
					p.waitLine(regexp.MustCompile(regexp.QuoteMeta(trigger)), 0, time.Minute)
				}
				p.sleepUnlessDone(d)
				t.Logf("stopping the control plane %v after %q", d.Round(time.Millisecond), cmp.Or(trigger, "the start of dbctl"))
			} else {
				p.waitLine(regexp.MustCompile(`Deploying → Verifying`), 0, time.Minute)
				p.waitLine(regexp.MustCompile(`waiting for 0/3 replicas ready`), 0, time.Minute)
				waitStatefulSetWatched(t, 30*time.Second)
				pw = password(t, ns, name)
			}
			if p.done() {
				t.Fatalf("dbctl ended before the control plane was stopped\n%s", p)
			}
			p.mu.Lock()
			before := len(p.lines)
			last := "the start"
			for _, l := range p.lines {
				if m := progressLine.FindString(l); m != "" && strings.Contains(m, "→") {
					last = strings.TrimPrefix(unstamped(l), ns+"/"+name+": ")
				}
			}
			p.mu.Unlock()
			t.Logf("stopping the control plane (%v) after: %s", tc.signal, last)
			stopControlPlane(t, tc.signal)
			if i := p.waitLine(retryLine, before, time.Minute); i < 0 {
				t.Fatalf("dbctl exited while the control plane was down\n%s", p)
			} else {
				t.Logf("dbctl noticed: %s", p.line(i))
			}
			p.sleepUnlessDone(3 * time.Second) // the outage lasts a few seconds more
			if p.done() {
				t.Fatalf("dbctl exited while the control plane was down\n%s", p)
			}
			startAt := time.Now()
			if err := kwokctlStart(); err != nil {
				t.Fatal(err)
			}
			t.Logf("control plane started again in %v", time.Since(startAt).Round(100*time.Millisecond))
			if !controlPlaneRunning() {
				t.Fatal("kwokctl start cluster did not start every component of the control plane")
			}
			if !tc.random {
				// The watch dbctl had is gone with the old API server: a new one.
				waitStatefulSetWatched(t, time.Minute)
			}
			uncordon()

			code := p.wait()
			out := p.json()
			if code != 0 || len(out.Results) != 1 || out.Results[0].Outcome != "Ready" {
				t.Fatalf("exit %d, want 0 and Ready\n%s", code, p)
			}
			wantNoRawErrors(t, "stderr", p.stderrText())
			var waits []time.Duration
			p.mu.Lock()
			for _, l := range p.lines[before:] {
				if m := retryLine.FindStringSubmatch(l); m != nil {
					d, err := time.ParseDuration(m[1])
					if err != nil {
						t.Errorf("retry line %q: %v", l, err)
					}
					waits = append(waits, d)
				}
			}
			p.mu.Unlock()
			t.Logf("dbctl's progress:\n%s", progressOnly(p.stderrText()))
			t.Logf("retried %d times while the control plane was down or starting, waiting %v", len(waits), waits)
			if len(waits) < 2 {
				t.Errorf("%d retries while the control plane was down, want several with backoff\n%s", len(waits), p)
			} else {
				longest := waits[0]
				for _, w := range waits {
					longest = max(longest, w)
					if w > 5*time.Second {
						t.Errorf("a retry waited %v, more than --retry-max 5s", w)
					}
				}
				if longest <= waits[0] {
					t.Errorf("the retries did not back off: waits %v", waits)
				}
			}
			if pw == nil {
				pw = password(t, ns, name)
			}
			wantConverged(t, ns, name, 3, pw)
			wantIdempotent(t, file, ns, name)
		})
	}
}

// progressOnly drops the lines of a change's details (indented) from dbctl's stderr.
func progressOnly(stderr string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if _, rest, ok := strings.Cut(l, ": "); ok && strings.HasPrefix(rest, "    ") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
