package cmdutil

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dbctl-io/dbctl/reconcile/exitcode"
)

func TestExitCode(t *testing.T) {
	tests := map[string]struct {
		err  error
		want exitcode.Code
	}{
		"nil":         {nil, 0},
		"plain error": {errors.New("boom"), 1},
		"flag error":  {FlagErrorf("bad flag"), 1},
		"failed":      {fmt.Errorf("x: %w", &FailedError{Err: errors.New("verify timeout")}), 2},
		"retryable":   {&RetryableError{Err: errors.New("not ready")}, 3},
		"silent 2":    {&SilentError{Code: 2}, 2},
		"silent wins": {fmt.Errorf("%w", &SilentError{Code: 3}), 3},
	}
	for name, tc := range tests {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("%s: ExitCode = %d, want %d", name, got, tc.want)
		}
	}
}

func TestCI(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	var b bytes.Buffer
	if ci, _ := NewCI(CIAuto, env(nil), &b); ci.GitHub() {
		t.Error("auto without GITHUB_ACTIONS is GitHub")
	}
	if _, err := NewCI("jenkins", env(nil), &b); err == nil {
		t.Error("--ci=jenkins accepted")
	}
	summary := filepath.Join(t.TempDir(), "summary.md")
	ci, err := NewCI(CIAuto, env(map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary}), &b)
	if err != nil || !ci.GitHub() {
		t.Fatalf("GitHub Actions not detected: %v", err)
	}
	end := ci.Group(&b, "plan 100%\nshop/orders")
	end()
	ci.Annotate(Annotation{File: "dir/a,b.yaml", Line: 3, Title: "dbctl: x", Message: "line one\nline two"})
	ci.Annotate(Annotation{Level: "warning", File: "<stdin>", Message: "from stdin"})
	want := "::group::plan 100%25%0Ashop/orders\n::endgroup::\n" +
		"::error file=dir/a%2Cb.yaml,line=3,title=dbctl%3A x::line one%0Aline two\n" +
		"::warning::from stdin\n"
	if b.String() != want {
		t.Errorf("workflow commands:\n%s\nwant:\n%s", b.String(), want)
	}
	if err := ci.Summary("# one\n"); err != nil {
		t.Fatal(err)
	}
	_ = ci.Summary("# two\n")
	if got, _ := os.ReadFile(summary); string(got) != "# one\n# two\n" {
		t.Errorf("summary: %q", got)
	}
}
