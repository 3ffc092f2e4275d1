package integration

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestNoCommandPrintsThePassword runs every command's text, JSON and YAML output
// and error paths and requires that the password appears in none, in any encoding.
// The outputs are not redacted here (runDbctl's streams are plain buffers, and the
// Factory has no redaction set): what is proved is masking at the source.
func TestNoCommandPrintsThePassword(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	file := f.file("orders.yaml", f.postgres("orders", 3, ""))
	var outputs []string
	record := func(args ...string) {
		t.Helper()
		out, errOut, code := runDbctl(t, nil, args...)
		outputs = append(outputs, "$ dbctl "+strings.Join(args, " ")+"\n"+out+errOut)
		_ = code
	}
	record("reconcile", "-f", file, "--timeout", "1m")
	sec := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "orders-credentials"}, sec); err != nil {
		t.Fatal(err)
	}
	password := string(sec.Data["password"])
	if len(password) < 32 {
		t.Fatalf("password of %d characters", len(password))
	}

	for _, args := range [][]string{
		{"plan", "-f", file}, {"plan", "-f", file, "-o", "json"}, {"plan", "-f", file, "--show-objects"},
		{"plan", "orders", "-n", f.ns, "-o", "json"}, {"plan", "--offline", "-f", file}, {"plan", "--offline", "-f", file, "-o", "json"},
		{"reconcile", "-f", file, "-o", "json"}, {"reconcile", "-f", file, "-v"},
		{"status", "orders", "-n", f.ns}, {"status", "orders", "-n", f.ns, "-o", "json"}, {"status", "orders", "-n", f.ns, "-o", "yaml"},
		{"status", "-f", file, "-v"},
	} {
		record(args...)
	}

	// A Secret username change: the uri, which holds the password, changes.
	changed := f.file("orders-shop.yaml", f.postgres("orders", 3, "  credentials: {username: shop}\n"))
	record("plan", "-f", changed)
	record("plan", "-f", changed, "-o", "json", "--show-objects")
	record("reconcile", "-f", changed, "--timeout", "1m")
	record("reconcile", "-f", file, "--timeout", "1m", "-o", "json")

	// A conflict with another applier, on the Secret itself: plan and reconcile.
	other := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "orders-credentials", "namespace": f.ns},
		"data":     map[string]any{"username": base64.StdEncoding.EncodeToString([]byte("intruder"))},
	}}
	if err := env.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(other),
		client.FieldOwner("other-gitops"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	record("plan", "-f", file)
	record("plan", "-f", file, "-o", "json")
	record("reconcile", "-f", file, "--timeout", "30s")
	record("reconcile", "-f", file, "--timeout", "30s", "-o", "json")
	record("status", "orders", "-n", f.ns, "-o", "yaml")

	// Bad input, naming the password in a field that does not exist.
	bad := f.file("bad.yaml", f.postgres("orders", 3, "  password: "+password+"\n"))
	for _, cmd := range []string{"plan", "reconcile", "status"} {
		record(cmd, "-f", bad)
	}
	record("plan", "--offline", "-f", bad, "-o", "json")

	for _, out := range outputs {
		assertNoSecret(t, out, password)
	}
	if joined := strings.Join(outputs, "\n"); !strings.Contains(joined, "(sensitive value changed)") ||
		!strings.Contains(joined, "other-gitops") || !strings.Contains(joined, "unknown field") {
		t.Errorf("the commands did not run the paths this test is for:\n%s", joined)
	}
}
