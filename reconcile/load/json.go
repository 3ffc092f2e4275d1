package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
)

// parseJSON splits a stream of JSON values into documents and builds the tree of
// each. A top-level null is an empty document. Parsing stops at the first syntax
// error.
func parseJSON(data []byte) ([]document, []*Error) {
	p := &jsonParser{dec: json.NewDecoder(bytes.NewReader(data)), lines: newLineIndex(data)}
	p.dec.UseNumber()
	var (
		docs []document
		errs []*Error
	)
	for index := 1; ; index++ {
		tok, err := p.dec.Token()
		if errors.Is(err, io.EOF) {
			return docs, errs
		}
		if index > MaxDocuments {
			return docs, append(errs, &Error{Message: fmt.Sprintf("more than %d documents in one file", MaxDocuments)})
		}
		if err != nil {
			e := p.syntaxError(err)
			e.Document = index
			return docs, append(errs, e)
		}
		line := p.line()
		n, e := p.value(tok, 1, &budget{})
		if e != nil {
			e.Document = index
			if e.fatal {
				return docs, append(errs, e.Error)
			}
			errs = append(errs, e.Error)
			continue
		}
		if n.kind == kindNull {
			continue
		}
		docs = append(docs, document{index: index, line: line, root: n})
	}
}

type jsonParser struct {
	dec   *json.Decoder
	lines lineIndex
}

// jsonError is an error in a document; fatal when the stream cannot be read on.
type jsonError struct {
	*Error
	fatal bool
}

// line is the line of the last byte of the token just read.
func (p *jsonParser) line() int {
	return p.lines.at(p.dec.InputOffset() - 1)
}

func (p *jsonParser) syntaxError(err error) *Error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &Error{Line: p.lines.at(se.Offset - 1), Message: "invalid JSON: " + se.Error()}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Line: p.lines.at(p.dec.InputOffset() - 1), Message: "invalid JSON: unexpected end of input"}
	}
	return &Error{Line: p.line(), Message: "invalid JSON: " + err.Error()}
}

func (p *jsonParser) next() (json.Token, *jsonError) {
	tok, err := p.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, &jsonError{Error: p.syntaxError(err), fatal: true}
	}
	return tok, nil
}

// value builds the tree of the value that starts with tok. Errors past the
// budget are fatal too: the rest of the value is not read.
func (p *jsonParser) value(tok json.Token, depth int, b *budget) (*node, *jsonError) {
	line := p.line()
	if e := b.spend(line, depth); e != nil {
		return nil, &jsonError{Error: e, fatal: true}
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			out := &node{kind: kindList, line: line}
			for p.dec.More() {
				tok, e := p.next()
				if e != nil {
					return nil, e
				}
				item, e := p.value(tok, depth+1, b)
				if e != nil {
					return nil, e
				}
				out.items = append(out.items, item)
			}
			_, e := p.next() // ]
			return out, e
		}
		out := &node{kind: kindMap, line: line}
		for p.dec.More() {
			tok, e := p.next()
			if e != nil {
				return nil, e
			}
			key, _ := tok.(string)
			keyLine := p.line()
			if e := b.spend(keyLine, depth+1); e != nil {
				return nil, &jsonError{Error: e, fatal: true}
			}
			if tok, e = p.next(); e != nil {
				return nil, e
			}
			v, e := p.value(tok, depth+1, b)
			if e != nil {
				return nil, e
			}
			out.pairs = append(out.pairs, pair{key: key, line: keyLine, value: v})
		}
		_, e := p.next() // }
		return out, e
	case string:
		return &node{kind: kindString, line: line, text: t}, nil
	case bool:
		return &node{kind: kindBool, line: line, b: t, text: strconv.FormatBool(t)}, nil
	case nil:
		return &node{kind: kindNull, line: line, text: "null"}, nil
	case json.Number:
		return jsonNumber(t, line), nil
	default:
		return nil, &jsonError{Error: &Error{Line: line, Message: fmt.Sprintf("invalid JSON: unexpected token %v", tok)}, fatal: true}
	}
}

func jsonNumber(t json.Number, line int) *node {
	n := &node{line: line, text: t.String()}
	if i, err := strconv.ParseInt(n.text, 10, 64); err == nil {
		n.kind, n.i = kindInt, i
		return n
	}
	f, err := strconv.ParseFloat(n.text, 64)
	if err != nil || math.IsInf(f, 0) {
		n.kind = kindBadNumber
		return n
	}
	n.kind, n.f = kindFloat, f
	return n
}

// lineIndex maps a byte offset to its 1-based line.
type lineIndex []int64 // offsets of the '\n' bytes

func newLineIndex(data []byte) lineIndex {
	var idx lineIndex
	for i, c := range data {
		if c == '\n' {
			idx = append(idx, int64(i))
		}
	}
	return idx
}

func (idx lineIndex) at(offset int64) int {
	if offset < 0 {
		offset = 0
	}
	return sort.Search(len(idx), func(i int) bool { return idx[i] >= offset }) + 1
}
