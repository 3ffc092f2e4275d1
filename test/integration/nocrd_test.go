package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbctl-io/dbctl/test/testenv"
)

// TestWithoutCRDEveryCommandNamesInstall: before `dbctl install`, every command
// that needs the cluster says the CRD is missing and names `dbctl install`, exit 1.
func TestWithoutCRDEveryCommandNamesInstall(t *testing.T) {
	bare := testenv.Start(t, testenv.WithoutCRD())
	file := filepath.Join(t.TempDir(), "orders.yaml")
	doc := "apiVersion: dbctl.io/v1alpha1\nkind: Database\nmetadata: {name: orders}\nspec: {engine: postgres, version: \"16\", storage: {size: 1Gi}}\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"reconcile", "-f", file, "--timeout", "10s"},
		{"reconcile", "orders", "--timeout", "10s"},
		{"reconcile", "--all", "--timeout", "10s"},
		{"plan", "-f", file},
		{"plan", "orders"},
		{"status", "orders"},
		{"status", "-A"},
	} {
		_, stderr, code := runDbctl(t, bare, args...)
		if code != 1 || !strings.Contains(stderr, "run 'dbctl install'") {
			t.Errorf("dbctl %s: exit %d:\n%s", strings.Join(args, " "), code, stderr)
		}
	}
}
