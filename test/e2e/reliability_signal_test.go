//go:build e2e

package e2e

// SIGINT and SIGTERM (README "Guarantees"): a reconcile interrupted while it waits
// stops at once with exit 3 and keeps what it wrote.

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/resilience"
)

// TestReliabilitySignals interrupts `dbctl reconcile --timeout 2m` while it waits:
//
//   - SIGTERM while it retries an unavailable dependency (Pending): exit 3, the
//     summary says it was interrupted; the status it wrote (Pending, dependencies
//     unavailable) is kept; the breaker state file is valid and counts the failures;
//   - SIGINT while it waits for a rollout that cannot complete (a CPU request no
//     node has): exit 3, the Database stays Verifying, waiting for the rollout.
//
// After each, with the cause gone, the next run reaches Ready with exit 0.
func TestReliabilitySignals(t *testing.T) {
	reliability(t)
	t.Parallel()
	t.Cleanup(func() { noSecretLeaks(t) })
	const name = "orders"

	t.Run("SIGTERM while a dependency is unavailable", func(t *testing.T) {
		t.Parallel()
		healthy := make(chan struct{})
		dep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			select {
			case <-healthy:
				w.WriteHeader(http.StatusOK)
			default:
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		t.Cleanup(dep.Close)
		ns := namespace(t)
		file := writeFile(t, t.TempDir(), "db.yaml", reliableYAML(ns, name, 1, "100", dep.URL))
		p := startDbctl(t, "reconcile", "-f", file, "-o", "json", "--timeout", "2m", "--retry-initial", "200ms",
			"--breaker-threshold", "1000")
		if p.waitLine(retryLine, 0, time.Minute) < 0 {
			t.Fatalf("dbctl exited before it retried the dependency\n%s", p)
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		code := p.wait()
		out := p.json()
		if code != 3 || len(out.Results) != 1 || out.Results[0].Outcome != "NotReady" || !strings.Contains(out.Results[0].Message, "interrupted") {
			t.Fatalf("after SIGTERM: exit %d, want 3 and NotReady saying it was interrupted\n%s", code, p)
		}
		wantNoRawErrors(t, "stderr", p.stderrText())
		db := getDatabase(t, ns, name)
		if db.Status.Phase != v1alpha1.PhasePending {
			t.Errorf("phase %s, want Pending", db.Status.Phase)
		}
		wantCondition(t, db, v1alpha1.ConditionDependenciesAvailable, metav1.ConditionFalse, v1alpha1.ReasonExternalSystemUnavailable)
		sf := wantBreakerFile(t, filepath.Join(stateDir(t), "dbctl", "breakers.json"), "backup-store", resilience.StateClosed, -1)
		if r := sf.Breakers["backup-store"]; r == nil || r.Failures == 0 {
			t.Errorf("the breaker state file counts no failure: %+v", r)
		}

		close(healthy)
		runReconcile(t, "-f", file, "-o", "json", "--timeout", "2m").wantExit(t, 0)
		wantConverged(t, ns, name, 1, nil)
	})

	t.Run("SIGINT during the rollout wait", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t)
		dir := t.TempDir()
		spec := reliableYAML(ns, name, 1, "100", "")
		file := writeFile(t, dir, "db.yaml", spec+"  resources:\n    requests:\n      cpu: \"100000\"\n")
		p := startDbctl(t, "reconcile", "-f", file, "-o", "json", "--timeout", "2m")
		if p.waitLine(regexp.MustCompile(`waiting for 0/1 replicas ready`), 0, time.Minute) < 0 {
			t.Fatalf("dbctl exited before it waited for the rollout\n%s", p)
		}
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		code := p.wait()
		out := p.json()
		if code != 3 || len(out.Results) != 1 || out.Results[0].Outcome != "NotReady" || !strings.Contains(out.Results[0].Message, "interrupted") {
			t.Fatalf("after SIGINT: exit %d, want 3 and NotReady saying it was interrupted\n%s", code, p)
		}
		wantNoRawErrors(t, "stderr", p.stderrText())
		db := getDatabase(t, ns, name)
		if db.Status.Phase != v1alpha1.PhaseVerifying || db.Status.VerifyStartTime == nil {
			t.Errorf("phase %s, verifyStartTime %v; want Verifying, set", db.Status.Phase, db.Status.VerifyStartTime)
		}
		wantCondition(t, db, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonWaitingForRollout)
		pw := password(t, ns, name)

		file = writeFile(t, dir, "db.yaml", spec)
		runReconcile(t, "-f", file, "-o", "json", "--timeout", "2m").wantExit(t, 0)
		wantConverged(t, ns, name, 1, pw)
	})
}
