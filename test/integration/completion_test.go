package integration

import (
	"strings"
	"testing"
)

// TestCompletion: `dbctl status <TAB>` and `dbctl reconcile <TAB>` offer the
// Databases of the namespace; `-n <TAB>` the namespaces.
func TestCompletion(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	for _, name := range []string{"orders", "ledger"} {
		if _, stderr, code := runDbctl(t, nil, "reconcile", "-f", f.file(name+".yaml", f.postgres(name, 1, "")), "--timeout", "1m"); code != 0 {
			t.Fatalf("reconcile %s: %s", name, stderr)
		}
	}
	for _, cmd := range []string{"status", "reconcile", "plan"} {
		out, _, code := runDbctl(t, nil, "__complete", cmd, "-n", f.ns, "")
		if code != 0 || !strings.Contains(out, "ledger\tReady\n") || !strings.Contains(out, "orders\tReady\n") ||
			!strings.HasSuffix(out, ":4\n") {
			t.Errorf("%s <TAB>: %q", cmd, out)
		}
	}
	out, _, _ := runDbctl(t, nil, "__complete", "status", "-n", f.ns, "orders", "")
	if strings.Contains(out, "orders") || !strings.Contains(out, "ledger") {
		t.Errorf("a name already given is offered again: %q", out)
	}
	out, _, _ = runDbctl(t, nil, "__complete", "status", "-n", f.ns[:5])
	if !strings.Contains(out, f.ns+"\n") {
		t.Errorf("-n <TAB>: %q", out)
	}
}
