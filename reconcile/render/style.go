package render

import "github.com/fatih/color"

// Style paints text; the zero value (and NewStyle(false)) paints nothing.
type Style struct {
	enabled bool
}

// NewStyle returns a Style that colours when enabled is true. Callers decide: a
// terminal, and neither --no-color nor NO_COLOR.
func NewStyle(enabled bool) Style { return Style{enabled: enabled} }

// Enabled reports whether the style colours.
func (s Style) Enabled() bool { return s.enabled }

func (s Style) paint(text string, attrs ...color.Attribute) string {
	if !s.enabled || text == "" {
		return text
	}
	c := color.New(attrs...)
	c.EnableColor() // this Color only: fatih/color's global NoColor is never read or written
	return c.Sprint(text)
}

// Bold is for headings.
func (s Style) Bold(t string) string { return s.paint(t, color.Bold) }

// Green is for creates, added diff lines, Ready and True.
func (s Style) Green(t string) string { return s.paint(t, color.FgGreen) }

// Yellow is for updates and phases in progress.
func (s Style) Yellow(t string) string { return s.paint(t, color.FgYellow) }

// Red is for deletes, removed diff lines, Failed and False.
func (s Style) Red(t string) string { return s.paint(t, color.FgRed) }

// Alert is for conflicts.
func (s Style) Alert(t string) string { return s.paint(t, color.FgRed, color.Bold) }

// Cyan is for diff hunk headers.
func (s Style) Cyan(t string) string { return s.paint(t, color.FgCyan) }

// Faint is for unchanged objects and secondary text.
func (s Style) Faint(t string) string { return s.paint(t, color.Faint) }
