package cmdutil

import (
	"io"
	"os"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"

	"github.com/dbctl-io/dbctl/reconcile/redact"
)

// IOStreams are a command's input and outputs. Data goes to Out, progress and
// messages to ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	// OutTTY and ErrTTY report whether Out and ErrOut are terminals.
	OutTTY bool
	ErrTTY bool
	// NoColor is set by --no-color, or when NO_COLOR is set in the environment.
	NoColor bool
}

// System returns the process's standard streams.
func System() *IOStreams {
	_, noColor := os.LookupEnv("NO_COLOR")
	return &IOStreams{
		In:      os.Stdin,
		Out:     os.Stdout,
		ErrOut:  os.Stderr,
		OutTTY:  isTerminal(os.Stdout),
		ErrTTY:  isTerminal(os.Stderr),
		NoColor: noColor,
	}
}

// Test returns streams backed by the given buffers, never terminals, no colour.
func Test(in io.Reader, out, errOut io.Writer) *IOStreams {
	return &IOStreams{In: in, Out: out, ErrOut: errOut, NoColor: true}
}

// Redacted returns a copy of s whose Out and ErrOut replace every secret in set.
func (s *IOStreams) Redacted(set *redact.Set) *IOStreams {
	c := *s
	c.Out = set.Writer(s.Out)
	c.ErrOut = set.Writer(s.ErrOut)
	return &c
}

// ColorOut reports whether Out should be coloured: a terminal, without --no-color or NO_COLOR.
func (s *IOStreams) ColorOut() bool { return s.OutTTY && !s.NoColor }

// ColorErr reports whether ErrOut should be coloured.
func (s *IOStreams) ColorErr() bool { return s.ErrTTY && !s.NoColor }

// Colorizer returns a function that paints text with attrs when enabled, and returns
// it unchanged otherwise.
func Colorizer(enabled bool, attrs ...color.Attribute) func(string) string {
	if !enabled {
		return func(s string) string { return s }
	}
	c := color.New(attrs...)
	c.EnableColor()
	return func(s string) string { return c.Sprint(s) }
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
