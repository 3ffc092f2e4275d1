package load

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// Limits on hostile input: dbctl runs on files from pull requests.
const (
	// MaxFileSize is the largest file (or standard input) read, in bytes.
	MaxFileSize = 1 << 20
	// MaxDocuments is the most documents in one file, empty ones included.
	MaxDocuments = 256
	// MaxDepth is the deepest nesting of objects and lists in a document; a
	// Database needs 6.
	MaxDepth = 32
	// MaxNodes is the most values (keys included) in one document, counting each
	// expansion of a YAML alias, so that an alias bomb fails fast.
	MaxNodes = 20000
	// MaxValueBytes is the most bytes of scalars and keys in one document, counting
	// each expansion of a YAML alias, so that a few aliases of a long string fail
	// fast too. Without aliases a document holds less than MaxFileSize.
	MaxValueBytes = 2 * MaxFileSize
	// MaxErrorsPerFile is the most errors reported for one file.
	MaxErrorsPerFile = 100
)

// Options are the flags that affect loading.
type Options struct {
	// Stdin is read for the path "-".
	Stdin io.Reader
	// Namespace is the namespace of a document that has none; "" means "default".
	Namespace string
	// NamespaceExplicit is set when -n was given: a document with another
	// namespace is then an error, as with kubectl.
	NamespaceExplicit bool
}

// Source is where a Database was read.
type Source struct {
	// File is the path as given (joined with its directory), or "<stdin>".
	File string
	// Document is the 1-based index of the document in the file.
	Document int
	// Line is the 1-based line where the document starts, 0 when unknown.
	Line int
}

func (s Source) String() string {
	if s.Line > 0 {
		return fmt.Sprintf("%s:%d (document %d)", s.File, s.Line, s.Document)
	}
	return fmt.Sprintf("%s (document %d)", s.File, s.Document)
}

// Item is one Database read from the input.
type Item struct {
	// Database is the decoded document with defaults applied (Default) and
	// validated (Validate), its namespace filled in.
	Database *v1alpha1.Database
	// Object is the document as written, without defaults, its namespace filled
	// in: what is server-side applied. Fields written as null are left out (the
	// API server would prune them) and integral numbers are int64, as in any
	// unstructured object.
	Object *unstructured.Unstructured
	// Source is where it was read.
	Source Source
}

// Load reads the Databases in paths: files, directories (their *.yaml, *.yml and
// *.json files, not recursively, by name) and "-" for opts.Stdin. Files may hold
// several YAML documents (---) or JSON values.
//
// Loading is strict and all-or-nothing: when anything is wrong in any input, Load
// returns no items and every problem found, as an *Error when there is one and
// as Errors when there are several, in input order.
func Load(paths []string, opts Options) ([]Item, error) {
	namespace := opts.Namespace
	if namespace == "" {
		namespace = "default"
	}
	if len(paths) == 0 {
		return nil, errors.New("no input: give a file, a directory, or - for standard input")
	}
	var (
		items     []Item
		errs      Errors
		stdinRead bool
		seen      = map[string]*Item{}
	)
	for _, path := range paths {
		inputs, e := expand(path)
		if e != nil {
			errs = append(errs, e)
			continue
		}
		for _, in := range inputs {
			if in.stdin {
				if stdinRead {
					errs = append(errs, &Error{File: in.name, Message: `standard input ("-") can be read only once`})
					continue
				}
				stdinRead = true
			}
			fileItems, fileErrs := loadFile(in, opts.Stdin, namespace, opts.NamespaceExplicit)
			for i := range fileItems {
				it := &fileItems[i]
				key := it.Database.Namespace + "/" + it.Database.Name
				if prev, dup := seen[key]; dup {
					fileErrs = append(fileErrs, &Error{
						File: it.Source.File, Document: it.Source.Document, Line: it.lines.at("metadata.name", it.Source.Line),
						Field:   "metadata.name",
						Message: fmt.Sprintf("database %q is defined twice: also in %s", key, prev.Source),
					})
					continue
				}
				seen[key] = &it.Item
				items = append(items, it.Item)
			}
			errs = append(errs, sortErrors(in.name, fileErrs)...)
		}
	}
	switch len(errs) {
	case 0:
		return items, nil
	case 1:
		return nil, errs[0]
	default:
		return nil, errs
	}
}

// sortErrors orders a file's errors by document then line, names the file in
// each, and keeps the first MaxErrorsPerFile.
func sortErrors(file string, errs []*Error) []*Error {
	for _, e := range errs {
		e.File = file
	}
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Document != errs[j].Document {
			return errs[i].Document < errs[j].Document
		}
		return errs[i].Line < errs[j].Line
	})
	if len(errs) > MaxErrorsPerFile {
		more := len(errs) - MaxErrorsPerFile
		errs = append(errs[:MaxErrorsPerFile:MaxErrorsPerFile], &Error{File: file,
			Message: fmt.Sprintf("%d more errors not shown", more)})
	}
	return errs
}
