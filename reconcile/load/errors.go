package load

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is one problem with the input, located as precisely as it can be.
//
// Its text is "FILE:LINE: document N: FIELD: MESSAGE": ":LINE" is left out when the
// line is unknown (0), "document N: " for a problem with the file as a whole
// (Document 0), "FIELD: " when the problem is not about one field. The text is one
// line and never holds a parameter value or the userinfo of a URL.
type Error struct {
	// File is the path as given (joined with its directory), or "<stdin>".
	File string
	// Document is the 1-based index of the document in the file, 0 for the file.
	Document int
	// Line is the 1-based line in the file, 0 when unknown.
	Line int
	// Field is the path of the field, e.g. "spec.dependencies[0].url".
	Field string
	// Message says what is wrong, lower-case.
	Message string
}

// Maximum lengths of the field and message in an error's text.
const (
	maxFieldText   = 200
	maxMessageText = 1000
)

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(oneLine(e.File, maxFieldText))
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Document > 0 {
		b.WriteString("document ")
		b.WriteString(strconv.Itoa(e.Document))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(oneLine(e.Field, maxFieldText))
		b.WriteString(": ")
	}
	b.WriteString(oneLine(e.Message, maxMessageText))
	return b.String()
}

// Errors are all the problems found in the input, in input order: by file (in the
// order the paths were given, a directory's files by name), then document, then line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// oneLine escapes control characters (so that a message cannot span lines or
// forge an annotation) and other characters that do not print, such as bidi
// overrides and zero-width spaces (so that what the message shows is what the
// file holds), and cuts s to max bytes.
func oneLine(s string, max int) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			clean = false
			break
		}
	}
	if !clean {
		q := strconv.Quote(s)
		s = q[1 : len(q)-1]
	}
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// quote renders a bad value for a message: quoted, escaped, cut short.
func quote(s string) string {
	const maxShown = 64
	if utf8.RuneCountInString(s) > maxShown {
		r := []rune(s)
		return strconv.Quote(string(r[:maxShown])) + "..."
	}
	return strconv.Quote(s)
}
