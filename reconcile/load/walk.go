package load

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	quantityType = reflect.TypeOf(resource.Quantity{})
	durationType = reflect.TypeOf(metav1.Duration{})
	// quantityPattern is the pattern the CRD puts on quantity strings.
	quantityPattern = regexp.MustCompile(`^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`)
)

// isRedactedMap reports whether the map at path holds values that may be secret,
// which are never shown.
func isRedactedMap(path string) bool {
	return path == "spec.parameters" || path == "metadata.annotations"
}

// walker is the strict decoder: it checks a tree against a Go type the way the
// API server checks a document against the CRD's structural schema (unknown
// fields, duplicate keys, types, required fields), records the line of every
// field, and builds the JSON value of the document.
type walker struct {
	errs  []*Error
	lines map[string]int // field path -> line
}

func newWalker() *walker { return &walker{lines: map[string]int{}} }

func (w *walker) fail(line int, path *field.Path, format string, args ...any) {
	w.errs = append(w.errs, &Error{Line: line, Field: path.String(), Message: fmt.Sprintf(format, args...)})
}

// value checks n against t and returns its JSON value (nil when invalid). A null
// is allowed where nullable (an object's field: the API server drops it as if
// absent), not as an item of a list or a value of a map.
func (w *walker) value(n *node, t reflect.Type, path *field.Path, nullable, redact bool) any {
	if n.kind == kindNull {
		if !nullable {
			w.fail(n.line, path, "must not be null")
		}
		return nil
	}
	switch t {
	case quantityType:
		return w.quantity(n, path)
	case durationType:
		return w.duration(n, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.value(n, t.Elem(), path, nullable, redact)
	case reflect.Struct:
		return w.object(n, t, path)
	case reflect.Map:
		return w.mapping(n, t.Elem(), path)
	case reflect.Slice:
		return w.list(n, t.Elem(), path)
	case reflect.String:
		if n.kind != kindString {
			w.fail(n.line, path, "must be a string, got %s%s", n.describe(redact), quoteHint(n, redact))
			return nil
		}
		return n.text
	case reflect.Int32, reflect.Int64:
		return w.integer(n, path, t.Bits(), redact)
	case reflect.Bool:
		if n.kind != kindBool {
			w.fail(n.line, path, "must be a boolean, got %s%s", n.describe(redact), redacted(redact))
			return nil
		}
		return n.b
	default:
		w.fail(n.line, path, "cannot be decoded (unsupported type %s)", t)
		return nil
	}
}

func redacted(redact bool) string {
	if redact {
		return " (value redacted)"
	}
	return ""
}

// quoteHint suggests quoting a scalar written where a string belongs.
func quoteHint(n *node, redact bool) string {
	switch n.kind {
	case kindBool, kindInt, kindFloat, kindBadNumber:
		if redact {
			return " (quote it; value redacted)"
		}
		return " (quote it)"
	}
	return ""
}

func (w *walker) integer(n *node, path *field.Path, bits int, redact bool) any {
	i, ok := n.integer()
	integral := ok || n.kind == kindFloat && n.f == math.Trunc(n.f)
	switch {
	case integral && (!ok || bits < 64 && (i < math.MinInt32 || i > math.MaxInt32)):
		w.fail(n.line, path, "must be a %d-bit integer, got %s%s", bits, n.describe(redact), redacted(redact))
		return nil
	case !ok:
		w.fail(n.line, path, "must be an integer, got %s%s", n.describe(redact), redacted(redact))
		return nil
	}
	return i
}

func (w *walker) quantity(n *node, path *field.Path) any {
	const want = `must be a quantity such as "10Gi"`
	if n.kind == kindString {
		if !quantityPattern.MatchString(n.text) {
			w.fail(n.line, path, "%s, got %s", want, n.describe(false))
			return nil
		}
		if _, err := resource.ParseQuantity(n.text); err != nil {
			w.fail(n.line, path, "%s, got %s", want, n.describe(false))
			return nil
		}
		return n.text
	}
	if i, ok := n.integer(); ok {
		return i
	}
	w.fail(n.line, path, "%s or an integer, got %s", want, n.describe(false))
	return nil
}

func (w *walker) duration(n *node, path *field.Path) any {
	const want = `must be a duration such as "5s" or "10m"`
	if n.kind != kindString {
		w.fail(n.line, path, "%s, got %s", want, n.describe(false))
		return nil
	}
	if _, err := time.ParseDuration(n.text); err != nil {
		w.fail(n.line, path, "%s, got %s", want, n.describe(false))
		return nil
	}
	return n.text
}

func (w *walker) list(n *node, elem reflect.Type, path *field.Path) any {
	if n.kind != kindList {
		w.fail(n.line, path, "must be a list, got %s", n.describe(false))
		return nil
	}
	out := make([]any, 0, len(n.items))
	for i, item := range n.items {
		p := path.Index(i)
		w.lines[p.String()] = item.line
		out = append(out, w.value(item, elem, p, false, false))
	}
	return out
}

func (w *walker) mapping(n *node, elem reflect.Type, path *field.Path) any {
	if n.kind != kindMap {
		w.fail(n.line, path, "must be an object, got %s", n.describe(false))
		return nil
	}
	redact := isRedactedMap(path.String())
	out := make(map[string]any, len(n.pairs))
	first := map[string]int{}
	for _, p := range n.pairs {
		fp := path.Key(p.key)
		if line, dup := first[p.key]; dup {
			w.fail(p.line, fp, "duplicate key (first at line %d)", line)
			continue
		}
		first[p.key] = p.line
		w.lines[fp.String()] = p.line
		out[p.key] = w.value(p.value, elem, fp, false, redact)
	}
	return out
}

// object checks a mapping against a struct: its fields by JSON name, exactly
// (case-sensitive); a field without omitempty is required, as controller-gen
// makes it in the CRD.
func (w *walker) object(n *node, t reflect.Type, path *field.Path) any {
	if n.kind != kindMap {
		w.fail(n.line, path, "must be an object, got %s", n.describe(false))
		return nil
	}
	child := func(key string) *field.Path {
		if path == nil { // the document's root
			return field.NewPath(key)
		}
		return path.Child(key)
	}
	fields := jsonFields(t)
	out := make(map[string]any, len(n.pairs))
	first := map[string]int{}
	for _, p := range n.pairs {
		fp := child(p.key)
		if line, dup := first[p.key]; dup {
			w.fail(p.line, fp, "duplicate key (first at line %d)", line)
			continue
		}
		first[p.key] = p.line
		f, known := fields[p.key]
		if !known {
			w.fail(p.line, fp, "%s", unknownField(fp, p.key))
			continue
		}
		w.lines[fp.String()] = p.line
		if p.value.kind == kindNull {
			continue // absent, as the API server prunes it
		}
		out[p.key] = w.value(p.value, f.typ, fp, true, false)
	}
	for _, name := range sortedFieldNames(fields) {
		if fields[name].required && !present(n, name) {
			w.fail(n.line, child(name), "required")
		}
	}
	return out
}

// unknownField is the message for a field the type does not have.
func unknownField(path *field.Path, key string) string {
	switch {
	case path.String() == "status":
		return "status is set by dbctl; remove it"
	case path.String() == "metadata."+key:
		if _, ok := jsonFields(reflect.TypeOf(metav1.ObjectMeta{}))[key]; ok {
			return "not allowed in a Database file: metadata may only have name, namespace, labels and annotations"
		}
	}
	return "unknown field"
}

// present reports whether the mapping n has key with a value other than null.
func present(n *node, key string) bool {
	for _, p := range n.pairs {
		if p.key == key && p.value.kind != kindNull {
			return true
		}
	}
	return false
}

func sortedFieldNames(fields map[string]jsonField) []string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

type jsonField struct {
	typ      reflect.Type
	required bool
}

// jsonFields are the fields of a struct by JSON name, inlined structs flattened.
func jsonFields(t reflect.Type) map[string]jsonField {
	fields := map[string]jsonField{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !sf.IsExported() {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") || (sf.Anonymous && name == "") {
			for k, v := range jsonFields(sf.Type) {
				fields[k] = v
			}
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fields[name] = jsonField{typ: sf.Type, required: !strings.Contains(","+opts+",", ",omitempty,")}
	}
	return fields
}
