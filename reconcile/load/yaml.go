package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

var (
	// yamlErrorLine matches the errors of go.yaml.in/yaml/v3's parser.
	yamlErrorLine = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)
	// plainNumber is what YAML would read as a number if it were in range.
	plainNumber = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
)

// parseYAML splits a YAML stream into documents and builds the tree of each.
// Empty documents (nothing, or only comments, or a null) are left out but keep
// their number. Parsing stops at the first syntax error: the parser cannot
// resynchronise after one.
func parseYAML(data []byte) ([]document, []*Error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var (
		docs []document
		errs []*Error
	)
	for index := 1; ; index++ {
		var root yaml.Node
		err := decodeYAMLDocument(dec, &root)
		if errors.Is(err, io.EOF) {
			return docs, errs
		}
		if index > MaxDocuments {
			return docs, append(errs, &Error{Message: fmt.Sprintf("more than %d documents in one file", MaxDocuments)})
		}
		if err != nil {
			return docs, append(errs, yamlSyntaxError(err, index))
		}
		if len(root.Content) == 0 {
			continue
		}
		top := root.Content[0]
		if top.Kind == yaml.ScalarNode && top.ShortTag() == "!!null" {
			continue
		}
		n, e := convertYAML(top, 1, &budget{})
		if e != nil {
			e.Document = index
			errs = append(errs, e)
			continue
		}
		docs = append(docs, document{index: index, line: top.Line, root: n})
	}
}

// decodeYAMLDocument reads the next document, turning a panic of the parser into
// an error: hostile input must never crash dbctl.
func decodeYAMLDocument(dec *yaml.Decoder, root *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: the YAML parser failed on this input")
		}
	}()
	return dec.Decode(root)
}

func yamlSyntaxError(err error, index int) *Error {
	msg := err.Error()
	if m := yamlErrorLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if isParserProblem(m[2]) {
			line++ // the parser (unlike the scanner) reports 0-based lines
		}
		return &Error{Document: index, Line: line, Message: "invalid YAML: " + m[2]}
	}
	return &Error{Document: index, Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// isParserProblem reports whether msg comes from yaml/v3's parser rather than its
// scanner (see parserc.go).
func isParserProblem(msg string) bool {
	switch msg {
	case "found duplicate %TAG directive", "found duplicate %YAML directive",
		"found incompatible YAML document", "found undefined tag handle":
		return true
	}
	return strings.HasPrefix(msg, "did not find expected ")
}

// convertYAML builds the tree of n, expanding aliases and merge keys within the
// budget.
func convertYAML(n *yaml.Node, depth int, b *budget) (*node, *Error) {
	if e := b.spend(n.Line, depth); e != nil {
		return nil, e
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, &Error{Line: n.Line, Message: "invalid YAML: unknown alias"}
		}
		return convertYAML(n.Alias, depth, b)
	case yaml.ScalarNode:
		if e := b.text(n.Line, len(n.Value)); e != nil {
			return nil, e
		}
		return yamlScalar(n)
	case yaml.SequenceNode:
		if tag := n.ShortTag(); tag != "!!seq" {
			return nil, unsupportedTag(n, tag)
		}
		out := &node{kind: kindList, line: n.Line, items: make([]*node, 0, len(n.Content))}
		for _, c := range n.Content {
			item, e := convertYAML(c, depth+1, b)
			if e != nil {
				return nil, e
			}
			out.items = append(out.items, item)
		}
		return out, nil
	case yaml.MappingNode:
		if tag := n.ShortTag(); tag != "!!map" {
			return nil, unsupportedTag(n, tag)
		}
		return yamlMapping(n, depth, b)
	default:
		return nil, &Error{Line: n.Line, Message: "invalid YAML: unexpected node"}
	}
}

func yamlMapping(n *yaml.Node, depth int, b *budget) (*node, *Error) {
	out := &node{kind: kindMap, line: n.Line}
	seen := map[string]bool{}
	var merges []*node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return nil, &Error{Line: n.Content[i].Line, Message: "mapping keys must be strings"}
		}
		if e := b.text(k.Line, len(k.Value)); e != nil {
			return nil, e
		}
		switch tag := k.ShortTag(); tag {
		case "!!merge":
			m, e := convertYAML(v, depth+1, b)
			if e != nil {
				return nil, e
			}
			merges = append(merges, m)
			continue
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
		case "!!null":
			return nil, &Error{Line: k.Line, Message: "mapping keys must be strings, got null"}
		default:
			return nil, unsupportedTag(k, tag)
		}
		value, e := convertYAML(v, depth+1, b)
		if e != nil {
			return nil, e
		}
		out.pairs = append(out.pairs, pair{key: k.Value, line: k.Line, value: value})
		seen[k.Value] = true
	}
	// Merge keys (<<: *base, or a list of them): keys written in the mapping win,
	// then earlier merged mappings over later ones.
	for _, m := range merges {
		sources := []*node{m}
		if m.kind == kindList {
			sources = m.items
		}
		for _, s := range sources {
			if s.kind != kindMap {
				return nil, &Error{Line: s.line, Message: "the value of a merge key (<<) must be a mapping or a list of mappings"}
			}
			for _, p := range s.pairs {
				if !seen[p.key] {
					out.pairs = append(out.pairs, p)
					seen[p.key] = true
				}
			}
		}
	}
	return out, nil
}

func yamlScalar(n *yaml.Node) (*node, *Error) {
	out := &node{line: n.Line, text: n.Value}
	switch tag := n.ShortTag(); tag {
	case "!!null":
		out.kind = kindNull
	case "!!bool":
		if err := n.Decode(&out.b); err != nil {
			return nil, &Error{Line: n.Line, Message: "invalid YAML: value is not a !!bool"}
		}
		out.kind = kindBool
	case "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, &Error{Line: n.Line, Message: "invalid YAML: value is not an !!int"}
		}
		switch v := v.(type) {
		case int:
			out.kind, out.i = kindInt, int64(v)
		case int64:
			out.kind, out.i = kindInt, v
		default: // uint64 beyond int64
			out.kind = kindBadNumber
		}
	case "!!float":
		if err := n.Decode(&out.f); err != nil {
			return nil, &Error{Line: n.Line, Message: "invalid YAML: value is not a !!float"}
		}
		out.kind = kindFloat
		if math.IsInf(out.f, 0) || math.IsNaN(out.f) {
			out.kind = kindBadNumber
		}
	case "!!str", "!!timestamp":
		out.kind = kindString
		// A plain 1e400 is a string to YAML only because it overflows a float:
		// it stays a string, but messages call it a number.
		out.numeric = n.Style == 0 && plainNumber.MatchString(strings.ReplaceAll(n.Value, "_", ""))
	case "!!binary":
		return nil, &Error{Line: n.Line, Message: "binary values (!!binary) are not supported"}
	default:
		return nil, unsupportedTag(n, tag)
	}
	return out, nil
}

func unsupportedTag(n *yaml.Node, tag string) *Error {
	return &Error{Line: n.Line, Message: "unsupported YAML tag " + quote(tag)}
}
