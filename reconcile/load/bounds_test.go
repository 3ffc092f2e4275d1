package load

import (
	"fmt"
	"strings"
	"testing"
)

// TestHostileInputIsBounded loads inputs of about MaxFileSize built to be slow
// or big, and checks that each fails with a one-line error per problem: the
// budgets (size, documents, depth, values) stop the work early; the time it takes is
// measured by BenchmarkHostileInput, not asserted here.
func TestHostileInputIsBounded(t *testing.T) {
	fill := func(unit string) string { return strings.Repeat(unit, (MaxFileSize-200)/len(unit)) }
	var uniqueKeys strings.Builder
	for i := 0; uniqueKeys.Len() < MaxFileSize-200; i++ {
		fmt.Fprintf(&uniqueKeys, "k%d: v\n", i)
	}
	doc := "apiVersion: dbctl.io/v1alpha1\nkind: Database\nmetadata: {name: x}\nspec: {parameters: {" + strings.Repeat("a: b, ", 500) + "}}\n---\n"
	tests := map[string]struct {
		input string
		want  string // the first line of the error
	}{
		"a long block list":      {fill("- a\n"), "<stdin>:20000: document 1: more than 20000 values in one document (counting aliases as expanded)"},
		"a long flow list":       {"[" + fill("a,") + "a]", "<stdin>:1: document 1: more than 20000 values in one document (counting aliases as expanded)"},
		"one key repeated":       {fill("k: v\n"), "<stdin>:20000: document 1: more than 20000 values in one document (counting aliases as expanded)"},
		"many keys":              {uniqueKeys.String(), "<stdin>:20000: document 1: more than 20000 values in one document (counting aliases as expanded)"},
		"deep flow nesting":      {fill("["), "<stdin>:1: document 1: nested more than 32 levels deep"},
		"deep flow maps":         {fill("{a: "), "<stdin>: document 1: invalid YAML: exceeded max depth of 10000"},
		"deep JSON":              {fill(`{"a":`), "<stdin>:1: document 1: nested more than 32 levels deep"},
		"a long JSON list":       {"[" + fill("1,") + "1]", "<stdin>:1: document 1: more than 20000 values in one document (counting aliases as expanded)"},
		"many anchors":           {fill("- &a x\n"), "<stdin>:20000: document 1: more than 20000 values in one document (counting aliases as expanded)"},
		"a long string aliased":  {"a: &s " + strings.Repeat("x", 512<<10) + "\nb: [" + strings.Repeat("*s, ", 3000) + "]\n", "<stdin>:1: document 1: more than 2097152 bytes of keys and values in one document (counting aliases as expanded)"},
		"many empty documents":   {fill("---\n"), "<stdin>: more than 256 documents in one file"},
		"many bad documents":     {strings.Repeat(doc, 256), "<stdin>: more than 256 documents in one file"},
		"a long string":          {"a: " + fill("x") + "\n", "<stdin>:1: document 1: kind: required: Database"},
		"a long escaped string":  {"a: \"" + fill("\\u00e9") + "\"\n", "<stdin>:1: document 1: kind: required: Database"},
		"only comments, 1 MiB":   {fill("# comment\n"), "<stdin>: no Database: the file has only comments or empty documents"},
		"one byte over the size": {strings.Repeat("#", MaxFileSize+1), "<stdin>: input is too large: more than 1048576 bytes, the limit is 1048576 bytes (1 MiB)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Load([]string{"-"}, Options{Stdin: strings.NewReader(tc.input)})
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if lines[0] != tc.want {
				t.Errorf("error:\n got: %s\nwant: %s", lines[0], tc.want)
			}
			if len(lines) > MaxErrorsPerFile+1 {
				t.Errorf("%d error lines", len(lines))
			}
		})
	}
}

// BenchmarkHostileInput measures the slowest bounded inputs: the budgets keep each
// at most a few times the cost of parsing 1 MiB.
func BenchmarkHostileInput(b *testing.B) {
	doc := "apiVersion: dbctl.io/v1alpha1\nkind: Database\nmetadata: {name: x}\nspec: {parameters: {" + strings.Repeat("a: b, ", 500) + "}}\n---\n"
	for name, input := range map[string]string{
		"many bad documents": strings.Repeat(doc, 256),
		"a long block list":  strings.Repeat("- a\n", (MaxFileSize-200)/4),
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(input)))
			for b.Loop() {
				_, _ = Load([]string{"-"}, Options{Stdin: strings.NewReader(input)})
			}
		})
	}
}
