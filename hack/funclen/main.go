// Command funclen fails when a function in the given directories (recursively, test
// files and generated files excluded) is longer than -max lines: the code's rule that
// no function outside tests, generated code and test tables is longer than about 80
// lines (make verify runs it on cmd/, phases/ and reconcile/).
//
//	go run ./hack/funclen -max 80 cmd phases reconcile
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	limit := flag.Int("max", 80, "the longest function allowed, in lines")
	flag.Parse()
	var long []string
	for _, dir := range flag.Args() {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
				strings.HasPrefix(d.Name(), "zz_generated") {
				return err
			}
			found, err := longFuncs(path, *limit)
			long = append(long, found...)
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "funclen:", err)
			os.Exit(2)
		}
	}
	for _, l := range long {
		fmt.Println(l)
	}
	if len(long) > 0 {
		fmt.Fprintf(os.Stderr, "funclen: %d functions longer than %d lines: split them\n", len(long), *limit)
		os.Exit(1)
	}
}

// longFuncs lists the functions of a file longer than limit lines.
func longFuncs(path string, limit int) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
		if n := end.Line - start.Line + 1; n > limit {
			out = append(out, fmt.Sprintf("%s:%d: %s is %d lines", path, start.Line, fn.Name.Name, n))
		}
	}
	return out, nil
}
