package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// apiVersion is the only apiVersion dbctl reads.
var apiVersion = v1alpha1.GroupVersion.String()

// file is the shape of a Database document that the strict decoder checks:
// metadata is limited to what a user may set.
type file struct {
	APIVersion string                `json:"apiVersion"`
	Kind       string                `json:"kind"`
	Metadata   metadata              `json:"metadata,omitempty"`
	Spec       v1alpha1.DatabaseSpec `json:"spec"`
}

type metadata struct {
	Name        string            `json:"name,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// loaded is an Item with the lines of its fields, for later errors.
type loaded struct {
	Item
	lines lineMap
}

// lineMap maps a field path ("spec.dependencies[0].url") to its line.
type lineMap map[string]int

// at is the line of path, else of its closest parent, else fallback.
func (m lineMap) at(path string, fallback int) int {
	for path != "" {
		if line, ok := m[path]; ok {
			return line
		}
		path = parentPath(path)
	}
	return fallback
}

// parentPath strips the last element of a field path: ".name", "[0]" or "[key]".
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

// loadFile reads one input and decodes its documents. The returned errors are
// not yet named after the file.
func loadFile(in input, stdin io.Reader, namespace string, explicit bool) ([]loaded, []*Error) {
	data, e := read(in, stdin)
	if e != nil {
		return nil, []*Error{e}
	}
	docs, errs := parseFile(in.name, data)
	var items []loaded
	for _, doc := range docs {
		it, docErrs := decodeDocument(doc, namespace, explicit)
		for _, e := range docErrs {
			e.Document = doc.index
		}
		errs = append(errs, docErrs...)
		if it != nil {
			it.Source = Source{File: in.name, Document: doc.index, Line: doc.line}
			items = append(items, *it)
		}
	}
	if len(docs) == 0 && len(errs) == 0 {
		msg := "no Database: the file is empty"
		if len(bytes.TrimSpace(data)) > 0 {
			msg = "no Database: the file has only comments or empty documents"
		}
		errs = append(errs, &Error{Message: msg})
	}
	return items, errs
}

// parseFile checks that data is text and splits it into documents, as JSON for a
// .json file or input that starts with '{' or '[' and parses as JSON, else as YAML.
func parseFile(name string, data []byte) ([]document, []*Error) {
	data, e := checkText(data)
	if e != nil {
		return nil, []*Error{e}
	}
	switch filepath.Ext(name) {
	case ".json":
		return parseJSON(data)
	case ".yaml", ".yml":
		return parseYAML(data)
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		if docs, errs := parseJSON(data); len(errs) == 0 || !strings.HasPrefix(errs[len(errs)-1].Message, "invalid JSON") {
			return docs, errs
		}
	}
	return parseYAML(data)
}

// decodeDocument decodes, checks and validates one document. It returns nil and
// the errors when there is any.
func decodeDocument(doc document, namespace string, explicit bool) (*loaded, []*Error) {
	root := doc.root
	if root.kind != kindMap {
		return nil, []*Error{{Line: doc.line, Message: "must be a Database object, got " + root.describe(false)}}
	}
	if e := checkKind(root); e != nil {
		return nil, []*Error{e}
	}
	w := newWalker()
	obj, _ := w.object(root, reflect.TypeOf(file{}), nil).(map[string]any)
	lines := lineMap(w.lines)
	// Errors about a field the walker already reported, or about its parents or
	// children (a field it dropped), would only repeat the walker's.
	fail := func(errs []*Error, path, msg string) []*Error {
		for _, e := range w.errs {
			if isPathPrefix(e.Field, path) || isPathPrefix(path, e.Field) {
				return errs
			}
		}
		return append(errs, &Error{Line: lines.at(path, doc.line), Field: path, Message: msg})
	}

	errs := append(w.errs, explicitEmpty(obj, fail)...)
	db := &v1alpha1.Database{}
	raw, err := json.Marshal(obj)
	if err == nil {
		err = sigsjson.UnmarshalCaseSensitivePreserveInts(raw, db)
	}
	if err != nil { // not expected: the walker checked every type
		return nil, fail(errs, "", "cannot decode: "+err.Error())
	}

	u := &unstructured.Unstructured{Object: obj}
	switch {
	case db.Namespace == "":
		db.Namespace = namespace
		u.SetNamespace(namespace)
	case explicit && db.Namespace != namespace:
		errs = fail(errs, "metadata.namespace", fmt.Sprintf(
			"the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation.",
			db.Namespace, namespace, db.Namespace))
	}
	db.Default()
	for _, fe := range db.Validate() {
		errs = fail(errs, fe.Field, message(fe))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &loaded{Item: Item{Database: db, Object: u}, lines: lines}, nil
}

// isPathPrefix reports whether the field path a is b or one of its parents.
func isPathPrefix(a, b string) bool {
	return a != "" && (a == b || strings.HasPrefix(b, a+".") || strings.HasPrefix(b, a+"["))
}

// checkKind rejects a document that is not a dbctl.io/v1alpha1 Database with one
// error, before its fields are checked against a schema it does not have.
func checkKind(root *node) *Error {
	get := func(key string) (*node, int) {
		for _, p := range root.pairs {
			if p.key == key {
				return p.value, p.line
			}
		}
		return nil, root.line
	}
	kind, kindLine := get("kind")
	av, avLine := get("apiVersion")
	switch {
	case kind == nil || kind.kind == kindNull:
		return &Error{Line: kindLine, Field: "kind", Message: "required: Database"}
	case kind.kind != kindString || kind.text != v1alpha1.Kind:
		msg := "must be Database, got " + kind.describe(false)
		if av != nil && av.kind == kindString {
			msg += " (apiVersion " + quote(av.text) + ")"
		}
		return &Error{Line: kindLine, Field: "kind", Message: msg + ": dbctl reads only Database objects"}
	case av == nil || av.kind == kindNull:
		return &Error{Line: avLine, Field: "apiVersion", Message: "required: " + apiVersion}
	case av.kind != kindString || av.text != apiVersion:
		return &Error{Line: avLine, Field: "apiVersion", Message: "must be " + apiVersion + ", got " + av.describe(false)}
	}
	return nil
}

// explicitEmpty rejects empty strings written for fields that Go cannot tell from
// absent ones but the CRD can: the API server rejects them.
func explicitEmpty(obj map[string]any, fail func([]*Error, string, string) []*Error) []*Error {
	var errs []*Error
	spec, _ := obj["spec"].(map[string]any)
	if creds, ok := spec["credentials"].(map[string]any); ok {
		if u, ok := creds["username"].(string); ok && u == "" {
			errs = fail(errs, "spec.credentials.username",
				fmt.Sprintf("must not be empty: remove it to get the default %q", v1alpha1.DefaultUsername))
		}
	}
	deps, _ := spec["dependencies"].([]any)
	for i, d := range deps {
		dep, _ := d.(map[string]any)
		for _, key := range []string{"url", "tcp"} {
			if v, ok := dep[key].(string); ok && v == "" {
				errs = fail(errs, field.NewPath("spec", "dependencies").Index(i).Child(key).String(),
					"must not be empty: set exactly one of url or tcp")
			}
		}
	}
	return errs
}

// message is a field error's text without its field: the detail, which the API
// package writes as a whole message.
func message(fe *field.Error) string {
	if fe.Detail != "" {
		return fe.Detail
	}
	return fe.ErrorBody()
}
