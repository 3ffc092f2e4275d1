package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// StdinName is the file name of standard input in errors and sources.
const StdinName = "<stdin>"

// isSpecFile reports whether a directory's file is read: *.yaml, *.yml, *.json.
func isSpecFile(name string) bool {
	switch filepath.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// input is one file to read: its name for errors and how to open it.
type input struct {
	name  string
	stdin bool
}

// expand turns a path into its inputs: itself, the files of a directory, or stdin.
func expand(path string) ([]input, *Error) {
	if path == "-" {
		return []input{{name: StdinName, stdin: true}}, nil
	}
	if path == "" {
		return nil, &Error{File: `""`, Message: "empty file name"}
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, &Error{File: path, Message: "cannot read: " + pathErr(err)}
	}
	if !info.IsDir() {
		return []input{{name: path}}, nil
	}
	entries, err := os.ReadDir(path) // sorted by name
	if err != nil {
		return nil, &Error{File: path, Message: "cannot read directory: " + pathErr(err)}
	}
	var inputs []input
	for _, e := range entries {
		if !isSpecFile(e.Name()) {
			continue
		}
		name := filepath.Join(path, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(name)
			if err != nil {
				// A dangling link or a loop is a spec file that cannot be read: an
				// error, not a file silently left out of an all-or-nothing load.
				return nil, &Error{File: name, Message: "cannot read: " + pathErr(err)}
			}
			if !fi.Mode().IsRegular() {
				continue
			}
		} else if !e.Type().IsRegular() {
			continue
		}
		inputs = append(inputs, input{name: name})
	}
	if len(inputs) == 0 {
		return nil, &Error{File: path, Message: "directory has no *.yaml, *.yml or *.json file"}
	}
	return inputs, nil
}

// read reads a file or stdin, refusing more than MaxFileSize bytes without reading
// them all.
func read(in input, stdin io.Reader) ([]byte, *Error) {
	var r io.Reader
	if in.stdin {
		if stdin == nil {
			return nil, &Error{File: in.name, Message: "cannot read: no standard input"}
		}
		r = stdin
	} else {
		f, err := os.Open(in.name)
		if err != nil {
			return nil, &Error{File: in.name, Message: "cannot read: " + pathErr(err)}
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxFileSize {
			return nil, &Error{File: in.name, Message: fmt.Sprintf(
				"file is too large: %d bytes, the limit is %d bytes (1 MiB)", fi.Size(), MaxFileSize)}
		}
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, &Error{File: in.name, Message: "cannot read: " + pathErr(err)}
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: in.name, Message: fmt.Sprintf(
			"input is too large: more than %d bytes, the limit is %d bytes (1 MiB)", MaxFileSize, MaxFileSize)}
	}
	return data, nil
}

// pathErr is err without the path, which the Error names already.
func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// checkText strips a UTF-8 byte order mark and rejects what is not text: NUL
// bytes, other control characters than tab, CR and LF, invalid UTF-8 (UTF-16 and
// gzip named as such) and a byte order mark starting a line after the first. YAML and JSON allow
// none of them, and a message naming the line is clearer than the parser's.
func checkText(data []byte) ([]byte, *Error) {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xfe")), bytes.HasPrefix(data, []byte("\xfe\xff")):
		return nil, &Error{Line: 1, Message: "is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8"}
	case bytes.HasPrefix(data, []byte("\x1f\x8b")):
		return nil, &Error{Line: 1, Message: "is gzip-compressed data, not a text file: decompress it first"}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 BOM
	line := 1
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == '\n':
			line++
		case c == 0:
			return nil, &Error{Line: line, Message: "contains a NUL byte: not a text file"}
		case c < 0x20 && c != '\t' && c != '\r', c == 0x7f:
			return nil, &Error{Line: line, Message: fmt.Sprintf("contains the control character U+%04X: not a text file", c)}
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				return nil, &Error{Line: line, Message: "invalid UTF-8: not a text file"}
			}
			if r == '\ufeff' && (i == 0 || data[i-1] == '\n') {
				// Where files joined with a BOM each have one: invisible, it would
				// make "apiVersion" another key and the error a riddle.
				return nil, &Error{Line: line, Message: "a line starts with a byte order mark (U+FEFF), allowed only at the start of the file: remove it"}
			}
			i += size
			continue
		}
		i++
	}
	return data, nil
}
