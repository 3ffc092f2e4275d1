// Package golden compares test output with files under testdata/ (rewritten by
// `go test -update`), and validates JSON against the documented schemas.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Update reports whether the test binary runs with -update.
func Update() bool { return *update }

// Assert compares got with testdata/name, or writes it there with -update.
func Assert(tb testing.TB, name, got string) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (go test -update creates it)", err)
	}
	if got != string(want) {
		tb.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// PlanSchemaPath is the JSON Schema of `dbctl plan -o json`, from the repository root.
const PlanSchemaPath = "docs/plan-format.schema.json"

var (
	schemasMu sync.Mutex
	schemas   = map[string]*jsonschema.Schema{}
)

// Schema compiles the JSON Schema at path (relative to the repository root,
// found from the test's directory), once per test binary.
func Schema(tb testing.TB, path string) *jsonschema.Schema {
	tb.Helper()
	schemasMu.Lock()
	defer schemasMu.Unlock()
	if s, ok := schemas[path]; ok {
		return s
	}
	full := path
	for i := 0; i < 5; i++ {
		if _, err := os.Stat(full); err == nil {
			break
		}
		full = filepath.Join("..", full)
	}
	data, err := os.ReadFile(full)
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(path, doc); err != nil {
		tb.Fatal(err)
	}
	s, err := c.Compile(path)
	if err != nil {
		tb.Fatal(err)
	}
	schemas[path] = s
	return s
}

// ValidateJSON validates data against the schema at path; it fails the test when
// data is not JSON and returns the validation error.
func ValidateJSON(tb testing.TB, path string, data []byte) error {
	tb.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("not JSON: %v\n%s", err, data)
	}
	return Schema(tb, path).Validate(inst)
}
