package exitcode

import (
	"os"
	"strings"
	"testing"
)

func TestWorst(t *testing.T) {
	for _, tc := range []struct {
		codes []Code
		want  Code
	}{
		{nil, OK}, {[]Code{OK, OK}, OK}, {[]Code{OK, Retryable}, Retryable}, {[]Code{Retryable, Failed, OK}, Failed},
		{[]Code{Failed, Error, Retryable}, Error}, {[]Code{Retryable, Retryable}, Retryable}, {[]Code{Error, 7}, 7},
	} {
		if got := Worst(tc.codes...); got != tc.want {
			t.Errorf("Worst(%v) = %d, want %d", tc.codes, got, tc.want)
		}
	}
}

// The README's exit code table is Markdown(): make docs writes it there.
func TestREADMETable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), Markdown()) {
		t.Errorf("README.md does not hold the exit code table; run make docs. Want:\n%s", Markdown())
	}
}
