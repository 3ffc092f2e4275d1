package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReconcileInGitHubActions: in a GitHub Actions step reconcile groups its
// progress, annotates the spec file of a Database that is not Ready, and appends a
// summary table with the final phase and the conditions.
func TestReconcileInGitHubActions(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	good := f.file("orders.yaml", f.postgres("orders", 1, ""))
	summary := filepath.Join(t.TempDir(), "summary.md")
	environ := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary}

	_, stderr, code := runDbctlEnv(t, nil, environ, "reconcile", "-f", good, "--timeout", "1m")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stderr, "::group::dbctl reconcile: 1 Database(s)\n") || !strings.Contains(stderr, "\n::endgroup::\n") {
		t.Errorf("progress not grouped:\n%s", stderr)
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### dbctl reconcile", "| `" + f.ns + "/orders` | ✅ Ready | Ready | Pending → Provisioning",
		"| Ready | True | Reconciled |", "| Verified | True |"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("summary lacks %q:\n%s", want, b)
		}
	}

	// A dependency that is down: a warning annotation on the spec file, exit 3.
	down := f.file("down.yaml", f.postgres("down", 1, "  dependencies:\n  - {name: gone, tcp: \"127.0.0.1:1\", timeout: 1s}\n"))
	_, stderr, code = runDbctlEnv(t, nil, environ, "reconcile", "-f", down, "--timeout", "3s", "--retry-initial", "100ms")
	if code != 3 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	want := "::warning file=" + down + ",line=1,title=dbctl reconcile%3A Database " + f.ns + "/down NotReady::"
	if !strings.Contains(stderr, want) {
		t.Errorf("no annotation %q in:\n%s", want, stderr)
	}
}
