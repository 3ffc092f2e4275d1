//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestNoClusterConfigured: with no kubeconfig, dbctl does not fall back to
// http://localhost:8080 (client-go's legacy default) and retry "connection refused"
// until --timeout: every cluster command exits 1 at once and says what to set, and
// plan --offline still works.
func TestNoClusterConfigured(t *testing.T) {
	home := t.TempDir() // no ~/.kube/config
	env := []string{"HOME=" + home, "KUBECONFIG=", "KUBERNETES_MASTER=", "KUBERNETES_SERVICE_HOST=",
		"XDG_STATE_HOME=" + t.TempDir()}
	for _, args := range [][]string{
		{"reconcile", "-f", "../../examples/", "--timeout", "2m"},
		{"plan", "-f", "../../examples/"},
		{"status", "ledger", "-n", "shop"},
		{"install"},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		stdout, stderr, code, err := execute(ctx, "", env, dbctlBin, args...)
		timedOut := ctx.Err() != nil
		cancel()
		if err != nil {
			t.Fatalf("dbctl %s: %v", strings.Join(args, " "), err)
		}
		if timedOut || code != 1 || !strings.Contains(stderr, "no cluster configured: set --kubeconfig, KUBECONFIG or ~/.kube/config") ||
			strings.Contains(stdout+stderr, "localhost:8080") {
			t.Errorf("dbctl %s: exit %d (want 1 at once), stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	stdout, stderr, code, err := execute(t.Context(), "", env, dbctlBin, "plan", "--offline", "-f", "../../examples/")
	if err != nil || code != 0 || !strings.Contains(stdout, "Total: ") {
		t.Fatalf("plan --offline without a cluster: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
}
