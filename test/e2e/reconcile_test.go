//go:build e2e

package e2e

// End-to-end tests of `dbctl reconcile` (issue 3): the built binary against the kwok
// cluster, whose StatefulSet controller, scheduler and volume stages really roll the
// databases out.
//
// Tests that cordon the nodes (TestReconcileNodesCordoned) must not share the cluster
// with tests whose pods need scheduling: they are the only serial tests that create
// pods besides the smoke test, and every other reconcile test calls t.Parallel, so it
// runs after the serial ones. Every test has namespaces of its own.

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// TestReconcileLifecycle: examples/postgres.yaml (3 replicas) and examples/mysql.yaml
// from one directory reach Ready; a rerun changes nothing; hand-made drift is
// repaired; replicas 3 → 1 removes the PodDisruptionBudget and keeps the password and
// the PVCs.
func TestReconcileLifecycle(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	t.Cleanup(func() { noSecretLeaks(t) })
	dir := t.TempDir()
	pgFile := writeFile(t, dir, "postgres.yaml", example(t, "postgres.yaml", ns))
	writeFile(t, dir, "mysql.yaml", example(t, "mysql.yaml", ns))
	writeFile(t, dir, "mariadb.yaml", example(t, "mariadb.yaml", ns))
	const pg, my, maria = "orders", "ledger", "catalog" // the names in examples/
	var pgPassword []byte

	ok := t.Run("postgres, mariadb and mysql reach Ready", func(t *testing.T) {
		r := runReconcile(t, "-f", dir, "-o", "json", "--timeout", "2m")
		r.wantExit(t, 0)
		for _, db := range []struct {
			name     string
			replicas int
			endpoint string
		}{{pg, 3, pg + "." + ns + ".svc:5432"}, {my, 1, my + "." + ns + ".svc:3306"}, {maria, 3, maria + "." + ns + ".svc:3306"}} {
			res := r.result(t, db.name)
			if res.Outcome != "Ready" || res.ExitCode != 0 || res.Phase != "Ready" {
				t.Errorf("%s: outcome %s, exit %d, phase %s; want Ready, 0, Ready", db.name, res.Outcome, res.ExitCode, res.Phase)
			}
			r.wantTransitions(t, db.name, path(coldPath, []string{"Verifying → Ready"})...)

			waitDatabaseRolledOut(t, ns, db.name, db.replicas)
			wantPVCsBound(t, ns, podNames(db.name, db.replicas)...)
			wantTopology(t, ns, db.name, db.replicas)

			d := getDatabase(t, ns, db.name)
			if d.Status.Phase != v1alpha1.PhaseReady || d.Status.ObservedGeneration != d.Generation || d.Status.Endpoint != db.endpoint {
				t.Errorf("Database %s: phase %s, observedGeneration %d (generation %d), endpoint %q; want Ready, %d, %q",
					db.name, d.Status.Phase, d.Status.ObservedGeneration, d.Generation, d.Status.Endpoint, d.Generation, db.endpoint)
			}
			for _, c := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionProvisioned, v1alpha1.ConditionConfigured,
				v1alpha1.ConditionDeployed, v1alpha1.ConditionVerified, v1alpha1.ConditionDependenciesAvailable} {
				wantCondition(t, d, c, metav1.ConditionTrue, "")
			}
			if d.Status.RetryCount != 0 || d.Status.LastFailureTime != nil || d.Status.VerifyStartTime != nil {
				t.Errorf("Database %s: retryCount %d, lastFailureTime %v, verifyStartTime %v; want 0, none, none",
					db.name, d.Status.RetryCount, d.Status.LastFailureTime, d.Status.VerifyStartTime)
			}
			if got := exists(t, &policyv1.PodDisruptionBudget{ObjectMeta: meta(ns, db.name)}); got != (db.replicas > 1) {
				t.Errorf("Database %s with %d replicas: PodDisruptionBudget exists = %v, want %v", db.name, db.replicas, got, !got)
			}
			password(t, ns, db.name)

			// Progress on stderr: every phase change, per Database.
			for _, edge := range path(coldPath, []string{"Verifying → Ready"}) {
				if !regexp.MustCompile(`(?m)^(\d\d:\d\d:\d\dZ )?` + regexp.QuoteMeta(ns+"/"+db.name) + `:.*` + regexp.QuoteMeta(edge)).MatchString(r.stderr) {
					t.Errorf("stderr has no line %q for %s/%s\n%s", edge, ns, db.name, r)
				}
			}
		}
		pgPassword = password(t, ns, pg)
	})
	if !ok {
		return
	}

	t.Run("rerun is a no-op", func(t *testing.T) {
		before := resourceVersions(t, ns, pg, my, maria)
		r := runReconcile(t, "-f", dir, "--timeout", "1m")
		r.wantExit(t, 0)
		if m := changeLine.FindString(r.stderr); m != "" || strings.Contains(r.stderr, "→") {
			t.Errorf("a rerun with nothing to do reported a change or a transition:\n%s", r)
		}
		for _, name := range []string{pg, my, maria} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(ns+"/"+name) + `: Ready\b`).MatchString(r.stdout) {
				t.Errorf("stdout has no summary line %q\n%s", ns+"/"+name+": Ready", r)
			}
		}
		rj := runReconcile(t, "-f", dir, "-o", "json", "--timeout", "1m")
		rj.wantExit(t, 0)
		for _, name := range []string{pg, my, maria} {
			if res := rj.result(t, name); res.Outcome != "Ready" || len(res.Transitions) != 0 || len(res.Changes) != 0 {
				t.Errorf("%s: outcome %s, transitions %q, changes %q; want Ready and none\n%s", name, res.Outcome, res.Transitions, res.Changes, rj)
			}
		}
		after := resourceVersions(t, ns, pg, my, maria)
		for obj, rv := range before {
			if after[obj] != rv {
				t.Errorf("%s: resourceVersion %s → %s after two reruns with nothing to do", obj, rv, after[obj])
			}
		}
	})

	t.Run("hand-made drift is repaired", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			drift   []string // kubectl arguments
			message string   // on stderr
			check   func(t *testing.T)
		}{{
			name:    "replicas scaled by kubectl",
			drift:   []string{"scale", "statefulset", pg + "-replica", "--replicas=1"},
			message: `took back .*spec\.replicas.* from hand edits by "kubectl`,
			check:   func(t *testing.T) { waitDatabaseRolledOut(t, ns, pg, 3) },
		}, {
			name:    "ConfigMap deleted",
			drift:   []string{"delete", "configmap", pg + "-config"},
			message: `ConfigMap ` + pg + `-config is missing`,
			check: func(t *testing.T) {
				cm := &corev1.ConfigMap{ObjectMeta: meta(ns, pg+"-config")}
				if !exists(t, cm) {
					t.Fatalf("ConfigMap %s was not re-created", cm.Name)
				}
				if conf := cm.Data["postgresql.conf"]; !regexp.MustCompile(`max_connections\s*=\s*'?200`).MatchString(conf) {
					t.Errorf("ConfigMap %s: postgresql.conf does not set max_connections = 200:\n%s", cm.Name, conf)
				}
			},
		}} {
			t.Run(tc.name, func(t *testing.T) {
				kubectl(t, append([]string{"-n", ns}, tc.drift...)...)
				r := runReconcile(t, "-f", dir, "-o", "json", "--timeout", "2m")
				r.wantExit(t, 0)
				r.wantTransitions(t, pg, "Ready → Updating", "Updating → Verifying", "Verifying → Ready")
				r.wantTransitions(t, my)
				r.wantTransitions(t, maria)
				if !regexp.MustCompile(tc.message).MatchString(r.stderr) {
					t.Errorf("stderr does not match %q\n%s", tc.message, r)
				}
				tc.check(t)
				if got := password(t, ns, pg); string(got) != string(pgPassword) {
					t.Error("the password changed")
				}
			})
		}
	})

	t.Run("replicas 3 to 1", func(t *testing.T) {
		primaryBefore := &appsv1.StatefulSet{ObjectMeta: meta(ns, pg)}
		exists(t, primaryBefore)
		writeFile(t, dir, "postgres.yaml", example(t, "postgres.yaml", ns, "replicas: 3", "replicas: 1"))
		r := runReconcile(t, "-f", pgFile, "-o", "json", "--timeout", "2m")
		r.wantExit(t, 0)
		r.wantTransitions(t, pg, "Ready → Updating", "Updating → Verifying", "Verifying → Ready")
		changes := strings.Join(r.result(t, pg).Changes, "\n")
		for _, want := range []string{"- PodDisruptionBudget " + ns + "/" + pg, "- Service " + ns + "/" + pg + "-ro",
			"~ StatefulSet " + ns + "/" + pg + "-replica"} {
			if !strings.Contains(changes, want) {
				t.Errorf("changes %q lack %q", changes, want)
			}
		}
		if exists(t, &policyv1.PodDisruptionBudget{ObjectMeta: meta(ns, pg)}) {
			t.Error("the PodDisruptionBudget still exists with 1 replica")
		}
		replicas := &appsv1.StatefulSet{ObjectMeta: meta(ns, pg+"-replica")}
		if !exists(t, replicas) || *replicas.Spec.Replicas != 0 {
			t.Errorf("StatefulSet %s-replica: want it scaled to 0, kept", pg)
		}
		waitDatabaseRolledOut(t, ns, pg, 1)
		wantTopology(t, ns, pg, 1)
		if !exists(t, &corev1.Secret{ObjectMeta: meta(ns, pg+"-replication")}) {
			t.Error("the replication Secret was deleted at one replica")
		}
		if got := password(t, ns, pg); string(got) != string(pgPassword) {
			t.Error("the password changed")
		}
		// The data of the removed replicas is kept.
		wantPVCsBound(t, ns, podNames(pg, 3)...)
		d := getDatabase(t, ns, pg)
		wantCondition(t, d, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReconciled)
		wantPrimaryUntouched(t, primaryBefore)
	})

	t.Run("replicas 1 to 3 again", func(t *testing.T) {
		primaryBefore := &appsv1.StatefulSet{ObjectMeta: meta(ns, pg)}
		exists(t, primaryBefore)
		writeFile(t, dir, "postgres.yaml", example(t, "postgres.yaml", ns))
		runReconcile(t, "-f", pgFile, "--timeout", "2m").wantExit(t, 0)
		waitDatabaseRolledOut(t, ns, pg, 3)
		wantTopology(t, ns, pg, 3)
		wantPrimaryUntouched(t, primaryBefore)
		if got := password(t, ns, pg); string(got) != string(pgPassword) {
			t.Error("the password changed")
		}
	})
}

// wantPrimaryUntouched checks that a scale change left the primary's StatefulSet
// as it was: same generation (no spec change), so its pod was never replaced.
func wantPrimaryUntouched(t *testing.T, before *appsv1.StatefulSet) {
	t.Helper()
	after := &appsv1.StatefulSet{ObjectMeta: meta(before.Namespace, before.Name)}
	if !exists(t, after) || after.Generation != before.Generation || after.UID != before.UID {
		t.Errorf("StatefulSet %s changed with a scale change: generation %d → %d", before.Name, before.Generation, after.Generation)
	}
}

// TestReconcileNodesCordoned: with every node cordoned, pods cannot be scheduled.
//   - a new Database, and a Ready Database whose pods were deleted: `--timeout 15s`
//     stops with exit 3 while it waits for the replicas; after uncordon the next run
//     finishes with exit 0;
//   - a tiny verify.timeout (3s): Verifying → Failed, exit 2 and a retryAt; a run
//     inside the backoff window waits for it (inside its --timeout) and retries, and
//     fails again (retryCount 1, window 10s); a run whose --timeout ends before the
//     window exits 3 naming it. After uncordon, once the pods are Ready, a run with
//     the same spec retries to Ready (retryCount back to 0).
//
// The same spec, rather than a larger verify.timeout, for the last retry: it shows
// that the retry alone recovers once the cause is gone (what a pipeline rerunning
// the same commit does). The test waits for the pods to be Ready first, since 3s is
// shorter than the scheduler's backoff for the pods that were unschedulable (up to
// 10s): retrying sooner would race it.
//
// The cases run in parallel in one cordoned window, then in one uncordoned window.
func TestReconcileNodesCordoned(t *testing.T) {
	t.Cleanup(func() { noSecretLeaks(t) })
	type state struct {
		ns, file string
		failed   bool
	}
	const name = "orders"
	cases := []struct {
		name          string
		verifyTimeout string
		before        func(t *testing.T, s *state) // nodes schedulable
		cordoned      func(t *testing.T, s *state)
		uncordoned    func(t *testing.T, s *state)
	}{{
		name: "new Database",
		cordoned: func(t *testing.T, s *state) {
			r := runReconcile(t, "-f", s.file, "--timeout", "15s")
			r.wantExit(t, 3)
			wantWaitingForReplicas(t, r, 3)
			for _, edge := range coldPath {
				if !strings.Contains(r.stderr, edge) {
					t.Errorf("stderr does not name the phase change %q\n%s", edge, r)
				}
			}
			d := getDatabase(t, s.ns, name)
			if d.Status.Phase != v1alpha1.PhaseVerifying {
				t.Errorf("phase %s, want Verifying", d.Status.Phase)
			}
			wantCondition(t, d, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonWaitingForRollout)
			wantPVCsBound(t, s.ns, podNames(name, 3)...)
		},
		uncordoned: func(t *testing.T, s *state) {
			r := runReconcile(t, "-f", s.file, "-o", "json", "--timeout", "2m")
			r.wantExit(t, 0)
			r.wantTransitions(t, name, "Verifying → Ready")
			waitDatabaseRolledOut(t, s.ns, name, 3)
		},
	}, {
		name: "pods of a Ready Database deleted",
		before: func(t *testing.T, s *state) {
			runReconcile(t, "-f", s.file, "--timeout", "2m").wantExit(t, 0)
		},
		cordoned: func(t *testing.T, s *state) {
			kubectl(t, "-n", s.ns, "delete", "pods", "-l", "app.kubernetes.io/instance="+name, "--wait")
			for _, sts := range []string{name, name + "-replica"} {
				if _, err := waitStatefulSet(ctxFor(t), newClient(t), client.ObjectKey{Namespace: s.ns, Name: sts},
					func(sts *appsv1.StatefulSet) bool { return sts.Status.ReadyReplicas == 0 }); err != nil {
					t.Fatal(err)
				}
			}
			r := runReconcile(t, "-f", s.file, "--timeout", "15s", "-o", "json")
			r.wantExit(t, 3)
			r.wantTransitions(t, name, "Ready → Updating", "Updating → Verifying")
			if res := r.result(t, name); res.Outcome != "NotReady" || !strings.Contains(res.Message, "0/3 replicas ready") {
				t.Errorf("outcome %s, message %q; want NotReady naming 0/3 replicas ready", res.Outcome, res.Message)
			}
			wantWaitingForReplicas(t, r, 3)
		},
		uncordoned: func(t *testing.T, s *state) {
			r := runReconcile(t, "-f", s.file, "-o", "json", "--timeout", "2m")
			r.wantExit(t, 0)
			r.wantTransitions(t, name, "Verifying → Ready")
			waitDatabaseRolledOut(t, s.ns, name, 3)
		},
	}, {
		name:          "tiny verify.timeout",
		verifyTimeout: "3s",
		cordoned: func(t *testing.T, s *state) {
			r := runReconcile(t, "-f", s.file, "-o", "json", "--timeout", "1m")
			r.wantExit(t, 2)
			r.wantTransitions(t, name, path(coldPath, []string{"Verifying → Failed"})...)
			d := wantFailed(t, s.ns, name, 0, r)
			wantCondition(t, d, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonVerificationTimeout)
			retryAt := d.Status.LastFailureTime.Add(5 * time.Second)

			// A run whose --timeout ends before the backoff window: exit 3, naming the time.
			start := time.Now()
			r = runReconcile(t, "-n", s.ns, name, "-o", "json", "--timeout", "1s")
			if start.Add(1500 * time.Millisecond).Before(retryAt) {
				r.wantExit(t, 3)
				if res := r.result(t, name); res.Outcome != "NotReady" || res.RetryAt != retryAt.UTC().Format(time.RFC3339) ||
					!strings.Contains(res.Message, retryAt.UTC().Format(time.RFC3339)) {
					t.Errorf("outcome %s, retryAt %s, message %q; want NotReady, %s, naming it", res.Outcome, res.RetryAt, res.Message, retryAt.UTC().Format(time.RFC3339))
				}
			} else {
				t.Logf("the backoff window was almost over when the run started (%s): not checking exit 3", retryAt.Sub(start))
			}

			// Inside --timeout: waits for the window, retries, fails again.
			stop := watchDatabase(t, s.ns, name)
			r = runReconcile(t, "-f", s.file, "-o", "json", "--timeout", "1m")
			statuses := stop()
			r.wantExit(t, 2)
			r.wantTransitions(t, name, path([]string{"Failed → Provisioning"}, coldPath[1:], []string{"Verifying → Failed"})...)
			switch {
			case !r.start.Add(time.Second).Before(retryAt):
				t.Logf("the backoff window was almost over when the run started (%s): not checking that it waited", retryAt.Sub(r.start))
			case !strings.Contains(r.stderr, "retry allowed at "+retryAt.UTC().Format(time.RFC3339)):
				t.Errorf("the run started %s before the end of the backoff window but stderr does not say it waits for it\n%s", retryAt.Sub(r.start), r)
			}
			wantRetryCountAt(t, statuses, v1alpha1.PhaseProvisioning, 1)
			d2 := wantFailed(t, s.ns, name, 1, r)
			if !d2.Status.LastFailureTime.After(d.Status.LastFailureTime.Time) {
				t.Errorf("lastFailureTime %s, want after the first failure's %s", d2.Status.LastFailureTime, d.Status.LastFailureTime)
			}
		},
		uncordoned: func(t *testing.T, s *state) {
			waitRolledOut(t, s.ns, name)
			stop := watchDatabase(t, s.ns, name)
			r := runReconcile(t, "-f", s.file, "-o", "json", "--timeout", "2m")
			statuses := stop()
			r.wantExit(t, 0)
			r.wantTransitions(t, name, path([]string{"Failed → Provisioning"}, coldPath[1:], []string{"Verifying → Ready"})...)
			wantRetryCountAt(t, statuses, v1alpha1.PhaseProvisioning, 2)
			d := getDatabase(t, s.ns, name)
			wantCondition(t, d, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReconciled)
			if d.Status.RetryCount != 0 || d.Status.LastFailureTime != nil {
				t.Errorf("Ready: retryCount %d, lastFailureTime %v; want 0, none", d.Status.RetryCount, d.Status.LastFailureTime)
			}
		},
	}}

	states := make([]*state, len(cases))
	for i, tc := range cases {
		ns := namespace(t)
		dir := t.TempDir()
		states[i] = &state{ns: ns, file: writeFile(t, dir, "db.yaml", databaseYAML(ns, name, 3, tc.verifyTimeout))}
		if tc.before != nil {
			states[i].failed = !t.Run("before/"+tc.name, func(t *testing.T) { tc.before(t, states[i]) })
		}
	}
	phase := func(label string, step func(int) func(*testing.T, *state)) {
		t.Run(label, func(t *testing.T) {
			for i, tc := range cases {
				if states[i].failed || step(i) == nil {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					defer func() { states[i].failed = states[i].failed || t.Failed() }()
					step(i)(t, states[i])
					getSecret(t, states[i].ns, name) // its password joins the leak check
				})
			}
		})
	}
	uncordon := cordonAll(t)
	phase("cordoned", func(i int) func(*testing.T, *state) { return cases[i].cordoned })
	uncordon()
	phase("uncordoned", func(i int) func(*testing.T, *state) { return cases[i].uncordoned })
}

// wantWaitingForReplicas checks that a run stopped by --timeout says on stderr that
// it waits for the replicas and on stdout that the Database is not ready.
func wantWaitingForReplicas(t *testing.T, r *reconcile, replicas int) {
	t.Helper()
	if !regexp.MustCompile(fmt.Sprintf(`waiting for [0-%d]/%d replicas ready`, replicas-1, replicas)).MatchString(r.stderr) {
		t.Errorf("stderr does not say it is waiting for the replicas\n%s", r)
	}
	out := r.stdout
	if len(r.json.Results) > 0 {
		out = r.json.Results[0].Outcome + " " + r.json.Results[0].Message
	}
	if !strings.Contains(out, "NotReady") || !strings.Contains(out, fmt.Sprintf("0/%d replicas ready", replicas)) {
		t.Errorf("the summary does not say the Database is not ready with 0/%d replicas\n%s", replicas, r)
	}
}

// wantFailed checks that the Database is Failed with retryCount and a
// lastFailureTime, and that the run's retryAt is the end of its backoff window.
func wantFailed(t *testing.T, ns, name string, retryCount int32, r *reconcile) *v1alpha1.Database {
	t.Helper()
	d := getDatabase(t, ns, name)
	if d.Status.Phase != v1alpha1.PhaseFailed || d.Status.RetryCount != retryCount || d.Status.LastFailureTime == nil {
		t.Fatalf("Database %s: phase %s, retryCount %d, lastFailureTime %v; want Failed, %d, set", name, d.Status.Phase, d.Status.RetryCount, d.Status.LastFailureTime, retryCount)
	}
	if !d.Status.LastFailureTime.Time.Before(time.Now()) {
		t.Errorf("lastFailureTime %s is in the future", d.Status.LastFailureTime)
	}
	window := (5 * time.Second) << retryCount
	want := d.Status.LastFailureTime.Add(window).UTC().Format(time.RFC3339)
	if res := r.result(t, name); res.Outcome != "Failed" || res.RetryAt != want {
		t.Errorf("outcome %s, retryAt %q; want Failed, %s (lastFailureTime + %s)", res.Outcome, res.RetryAt, want, window)
	}
	return d
}

// wantRetryCountAt checks that the Database went through phase with retryCount.
func wantRetryCountAt(t *testing.T, statuses []v1alpha1.DatabaseStatus, phase v1alpha1.Phase, retryCount int32) {
	t.Helper()
	var seen []string
	for _, s := range statuses {
		if s.Phase == phase && s.RetryCount == retryCount {
			return
		}
		seen = append(seen, fmt.Sprintf("%s/retryCount %d", s.Phase, s.RetryCount))
	}
	t.Errorf("the Database was never %s with retryCount %d; statuses seen: %s", phase, retryCount, strings.Join(seen, ", "))
}

// TestReconcileCredentialsLost: the credentials Secret deleted while the data
// exists. dbctl goes Failed saying to restore it, and never creates a new one (nor
// on a retry); once restored from a saved copy, the next run (after the backoff
// window) reaches Ready with the same password.
func TestReconcileCredentialsLost(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	t.Cleanup(func() { noSecretLeaks(t) })
	const name = "payments"
	file := writeFile(t, t.TempDir(), "db.yaml", databaseYAML(ns, name, 1, ""))
	runReconcile(t, "-f", file, "--timeout", "2m").wantExit(t, 0)
	saved := getSecret(t, ns, name)
	pw := password(t, ns, name)

	kubectl(t, "-n", ns, "delete", "secret", name+"-credentials")
	r := runReconcile(t, "-f", file, "-o", "json", "--timeout", "1m")
	r.wantExit(t, 2)
	r.wantTransitions(t, name, "Ready → Updating", "Updating → Failed")
	if res := r.result(t, name); !strings.Contains(res.Message, "restore the Secret") {
		t.Errorf("message %q does not say to restore the Secret", res.Message)
	}
	d := wantFailed(t, ns, name, 0, r)
	wantCondition(t, d, v1alpha1.ConditionProvisioned, metav1.ConditionFalse, v1alpha1.ReasonCredentialsMissing)
	if getSecret(t, ns, name) != nil {
		t.Fatal("dbctl created a new credentials Secret over the existing data")
	}

	// The retry after the backoff window refuses too.
	r = runReconcile(t, "-f", file, "-o", "json", "--timeout", "1m")
	r.wantExit(t, 2)
	r.wantTransitions(t, name, "Failed → Provisioning", "Provisioning → Failed")
	wantFailed(t, ns, name, 1, r)
	if getSecret(t, ns, name) != nil {
		t.Fatal("the retry created a new credentials Secret over the existing data")
	}

	// Restore the saved copy, as from a backup (without what the server sets).
	restored := saved.DeepCopy()
	restored.ResourceVersion, restored.UID, restored.CreationTimestamp, restored.ManagedFields = "", "", metav1.Time{}, nil
	if err := newClient(t).Create(ctxFor(t), restored); err != nil {
		t.Fatalf("restoring the Secret: %v", err)
	}
	r = runReconcile(t, "-f", file, "-o", "json", "--timeout", "1m")
	r.wantExit(t, 0)
	r.wantTransitions(t, name, path([]string{"Failed → Provisioning"}, coldPath[1:], []string{"Verifying → Ready"})...)
	after := getSecret(t, ns, name)
	if after == nil || after.UID != restored.UID {
		t.Fatal("the restored Secret was replaced")
	}
	if string(after.Data["password"]) != string(pw) {
		t.Error("the password is not the restored one")
	}
	d = getDatabase(t, ns, name)
	wantCondition(t, d, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	wantCondition(t, d, v1alpha1.ConditionProvisioned, metav1.ConditionTrue, v1alpha1.ReasonReconciled)
}

// TestReconcileWithoutCRD: before `dbctl install` (TestMain ran dbctl reconcile then,
// from a file and by name), reconcile exits 1 naming `dbctl install`.
func TestReconcileWithoutCRD(t *testing.T) {
	t.Parallel()
	if !withoutCRD.checked {
		t.Skip("the cluster had the Database CRD before the run (a reused DBCTL_E2E_CLUSTER): nothing was checked without it")
	}
	for _, r := range withoutCRD.runs {
		t.Logf("dbctl %s: exit %d\n%s%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "dbctl install") {
			t.Errorf("dbctl %s without the CRD: exit %d; want 1 and a message naming `dbctl install`\nstdout:\n%s\nstderr:\n%s",
				strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
		}
	}
}
