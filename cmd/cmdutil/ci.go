package cmdutil

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// CI providers for --ci.
const (
	CIAuto   = "auto"
	CIGitHub = "github"
	CINone   = "none"
)

// CI integrates with the CI system dbctl runs in. With GitHub Actions (GITHUB_ACTIONS
// is "true", or --ci=github) output is grouped in the log (::group::), errors become
// annotations on the spec file and line (::error file=…,line=…::), and a Markdown
// summary is appended to $GITHUB_STEP_SUMMARY. With "none" every method does nothing.
// Workflow commands go to stderr, so that stdout stays data (-o json).
type CI struct {
	provider    string
	w           io.Writer
	summaryPath string
}

// NewCI resolves --ci (auto, github, none) with the environment.
func NewCI(flag string, getenv func(string) string, w io.Writer) (*CI, error) {
	switch flag {
	case "", CIAuto:
		if getenv("GITHUB_ACTIONS") == "true" {
			flag = CIGitHub
		} else {
			flag = CINone
		}
	case CIGitHub, CINone:
	default:
		return nil, FlagErrorf("--ci must be auto, github or none, not %q", flag)
	}
	return &CI{provider: flag, w: w, summaryPath: getenv("GITHUB_STEP_SUMMARY")}, nil
}

// GitHub reports whether GitHub Actions output is on.
func (c *CI) GitHub() bool { return c != nil && c.provider == CIGitHub }

// Group starts a collapsible group in the log, written to w (the stream whose lines
// it groups: the runner shows stdout and stderr in one log, but not always in order
// across the two); call the returned function to end it.
func (c *CI) Group(w io.Writer, title string) func() {
	if !c.GitHub() {
		return func() {}
	}
	fmt.Fprintf(w, "::group::%s\n", escapeData(title))
	return func() { fmt.Fprintln(w, "::endgroup::") }
}

// Annotation is an error or warning shown on a file and line of the pull request.
type Annotation struct {
	Level string // "error" or "warning"
	File  string
	Line  int
	Title string
	// Message is one line or several.
	Message string
}

// Annotate writes an annotation (nothing outside GitHub Actions). A file of "" or
// "<stdin>" annotates the run instead of a file.
func (c *CI) Annotate(a Annotation) {
	if !c.GitHub() {
		return
	}
	var props []string
	if a.File != "" && a.File != "-" && a.File != "<stdin>" {
		props = append(props, "file="+escapeProperty(a.File))
		if a.Line > 0 {
			props = append(props, fmt.Sprintf("line=%d", a.Line))
		}
	}
	if a.Title != "" {
		props = append(props, "title="+escapeProperty(a.Title))
	}
	level := a.Level
	if level == "" {
		level = "error"
	}
	sep := ""
	if len(props) > 0 {
		sep = " "
	}
	fmt.Fprintf(c.w, "::%s%s%s::%s\n", level, sep, strings.Join(props, ","), escapeData(a.Message))
}

// Summary appends Markdown to $GITHUB_STEP_SUMMARY (nothing outside GitHub Actions
// or when the variable is unset).
func (c *CI) Summary(markdown string) error {
	if !c.GitHub() || c.summaryPath == "" {
		return nil
	}
	f, err := os.OpenFile(c.summaryPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("writing the GitHub step summary %s: %w", c.summaryPath, err)
	}
	if _, err := io.WriteString(f, markdown); err != nil {
		f.Close()
		return fmt.Errorf("writing the GitHub step summary %s: %w", c.summaryPath, err)
	}
	return f.Close()
}

// escapeData escapes a workflow command's message (GitHub's toolkit escapeData).
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command's property value (escapeProperty).
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
