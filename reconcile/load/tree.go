package load

import (
	"fmt"
	"math"
)

// kind is the type of a value in a parsed document.
type kind int

const (
	kindNull kind = iota
	kindBool
	kindInt       // fits an int64: node.i
	kindFloat     // a finite float64: node.f
	kindBadNumber // a number no JSON value can hold (1e400, .inf, 2^64): text only
	kindString
	kindMap
	kindList
)

// node is a value of a parsed YAML or JSON document, with the line it starts on.
// Aliases and merge keys are already expanded; duplicate keys are kept so that
// the strict decoder can report them with their paths.
type node struct {
	kind kind
	line int
	text string // a string's value; for other scalars the text as written
	// numeric marks a plain YAML string that is a number out of range (1e400).
	numeric bool
	b       bool
	i       int64
	f       float64
	pairs   []pair  // kindMap, in document order
	items   []*node // kindList
}

// pair is one key of a mapping.
type pair struct {
	key   string
	line  int
	value *node
}

// document is one document of a file: its 1-based index, its first line, its root.
type document struct {
	index int
	line  int
	root  *node
}

// budget bounds the work of building one document: its depth, its number of
// values and the bytes of its scalars and keys, counting every expansion of an
// alias (so an alias bomb fails fast, be it many values or a few long strings).
type budget struct {
	nodes int
	bytes int
}

func (b *budget) spend(line, depth int) *Error {
	if depth > MaxDepth {
		return &Error{Line: line, Message: fmt.Sprintf("nested more than %d levels deep", MaxDepth)}
	}
	b.nodes++
	if b.nodes > MaxNodes {
		return &Error{Line: line, Message: fmt.Sprintf("more than %d values in one document (counting aliases as expanded)", MaxNodes)}
	}
	return nil
}

// text spends the n bytes of a scalar or key.
func (b *budget) text(line, n int) *Error {
	b.bytes += n
	if b.bytes > MaxValueBytes {
		return &Error{Line: line, Message: fmt.Sprintf("more than %d bytes of keys and values in one document (counting aliases as expanded)", MaxValueBytes)}
	}
	return nil
}

// integer returns n as an int64 when it is an integer: an int, or a float with an
// integral value that a float64 holds exactly.
func (n *node) integer() (int64, bool) {
	switch n.kind {
	case kindInt:
		return n.i, true
	case kindFloat:
		if n.f == math.Trunc(n.f) && math.Abs(n.f) <= 1<<53 {
			return int64(n.f), true
		}
	}
	return 0, false
}

// describe says what n is, for "must be X, got Y" messages; with redact it leaves
// out the value.
func (n *node) describe(redact bool) string {
	var what, value string
	switch n.kind {
	case kindNull:
		return "null"
	case kindBool:
		what, value = "boolean", n.text
	case kindInt:
		what, value = "integer", n.text
	case kindFloat:
		what, value = "number", n.text
	case kindBadNumber:
		what, value = "out-of-range number", n.text
	case kindString:
		what, value = "string", quote(n.text)
		if n.numeric {
			what, value = "out-of-range number", n.text
		}
	case kindMap:
		return "an object"
	case kindList:
		return "a list"
	}
	if redact {
		return what
	}
	if len(value) > 70 {
		value = value[:64] + "..."
	}
	return what + " " + value
}
