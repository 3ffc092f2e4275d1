package root_test

import (
	"bytes"
	"context"
	"github.com/dbctl-io/dbctl/test/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/cmd/root"
)

// runInGitHubActions runs dbctl as in a GitHub Actions step and returns stdout,
// stderr (where the workflow commands go), the step summary and the exit code.
func runInGitHubActions(t *testing.T, args ...string) (stdout, stderr, summary string, code int) {
	t.Helper()
	summaryPath := filepath.Join(t.TempDir(), "summary.md")
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summaryPath, "KUBECONFIG": "/nonexistent"}
	var out, errOut bytes.Buffer
	f := cmdutil.New()
	f.IOStreams = cmdutil.Test(strings.NewReader(""), &out, &errOut)
	f.Getenv = func(k string) string { return env[k] }
	f.Clients = func() (*cmdutil.Clients, error) {
		t.Fatal("an offline command contacted the cluster")
		return nil, nil
	}
	code = int(root.Run(context.Background(), f, args))
	b, err := os.ReadFile(summaryPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), string(b), code
}

func TestGitHubActionsPlan(t *testing.T) {
	stdout, stderr, summary, code := runInGitHubActions(t, "plan", "--offline", "-f", "testdata/orders.yaml", "--detailed-exitcode")
	if code != 2 {
		t.Errorf("exit code %d, want 2 (changes)", code)
	}
	golden.Assert(t, "github-plan.stdout", stdout)
	golden.Assert(t, "github-plan.stderr", stderr)
	golden.Assert(t, "github-plan.summary.md", summary)
	if !strings.Contains(stdout, "::group::dbctl plan shop/orders") && !strings.Contains(stderr, "::group::dbctl plan shop/orders") {
		t.Error("the plan is not grouped")
	}
}

func TestGitHubActionsBadInput(t *testing.T) {
	stdout, stderr, summary, code := runInGitHubActions(t, "plan", "--offline", "-f", "testdata/bad.yaml")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if stdout != "" || summary != "" {
		t.Errorf("stdout %q summary %q", stdout, summary)
	}
	golden.Assert(t, "github-bad-input.stderr", stderr)
	for _, want := range []string{
		"::error file=testdata/bad.yaml,line=8,title=dbctl%3A invalid Database spec::",
		"::error file=testdata/bad.yaml,line=17,title=dbctl%3A invalid Database spec::",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("missing annotation %q in:\n%s", want, stderr)
		}
	}
}

func TestNoCIOutsideGitHubActions(t *testing.T) {
	var out, errOut bytes.Buffer
	f := cmdutil.New()
	f.IOStreams = cmdutil.Test(strings.NewReader(""), &out, &errOut)
	f.Getenv = func(string) string { return "" }
	code := root.Run(context.Background(), f, []string{"plan", "--offline", "-f", "testdata/bad.yaml"})
	if code != 1 || strings.Contains(errOut.String(), "::") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut.String())
	}
	// --ci=github forces it.
	errOut.Reset()
	root.Run(context.Background(), f, []string{"--ci", "github", "plan", "--offline", "-f", "testdata/bad.yaml"})
	if !strings.Contains(errOut.String(), "::error file=testdata/bad.yaml") {
		t.Errorf("--ci=github: no annotation:\n%s", errOut.String())
	}
}
