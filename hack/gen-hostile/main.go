// Command gen-hostile writes the hostile input corpus of dbctl's spec loader: files
// that dbctl must reject with one clear line, in bounded time and memory, before it
// sends anything to a cluster (and a few hostile-looking ones it must accept).
//
//	go run ./hack/gen-hostile -set committed reconcile/load/testdata/hostile
//	go run ./hack/gen-hostile -set generated DIR
//	gen-hostile -run RUSAGE [-nobody] CMD ARGS...
//
// The committed set is small regular files, checked into
// reconcile/load/testdata/hostile (`go generate ./reconcile/load` rewrites them; a
// test fails when they are stale). The generated set is what must not be committed:
// big files (10 MB, just over and exactly at the 1 MiB limit, a string alias bomb),
// directories of 5000 files, and special files git cannot hold or that would break a
// checkout (symlink loops, a FIFO, a mode 000 file, file names with a newline or an
// escape sequence). test/integration's hostile test generates it in a temporary
// directory. The output is deterministic: the same bytes on every run.
//
// With -run, gen-hostile is the small parent through which that test runs dbctl, to
// measure dbctl's peak RSS: on Linux a child's ru_maxrss is never less than the
// peak RSS of the process that spawned it (the kernel carries the high-water mark
// of the address space left at exec into the new program, and Go spawns with vfork
// semantics), so spawned from the test process dbctl would be charged for the
// test's memory. It runs CMD with its own streams (as nobody with -nobody), writes
// "CHILD_PEAK_RSS OWN_PEAK_RSS" in bytes to RUSAGE (its own from VmHWM, which
// starts at exec: the floor under the child's), and exits with CMD's status.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unicode/utf16"
)

// base is a valid Database; most cases are one change away from it.
const base = `apiVersion: dbctl.io/v1alpha1
kind: Database
metadata:
  name: orders
spec:
  engine: postgres
  version: "16"
  storage:
    size: 1Gi
`

// valid is base with another name.
func valid(name string) string { return strings.Replace(base, "name: orders", "name: "+name, 1) }

// withSpec is base with extra lines (indented by two spaces) in spec.
func withSpec(lines ...string) string {
	return base + "  " + strings.Join(lines, "\n  ") + "\n"
}

// replace is base with old replaced by new, which must be there.
func replace(old, new string) string {
	if !strings.Contains(base, old) {
		panic("gen-hostile: base has no " + old)
	}
	return strings.Replace(base, old, new, 1)
}

// committed are the small files checked into reconcile/load/testdata/hostile.
func committed() map[string][]byte {
	files := map[string]string{
		// Truncated input.
		"truncated-flow.yaml":       strings.Replace(base, "  storage:\n    size: 1Gi\n", "  storage: {size: 1Gi\n", 1),
		"truncated-quote.yaml":      base[:strings.Index(base, `"16"`)+3],
		"truncated.json":            `{"apiVersion":"dbctl.io/v1alpha1","kind":"Database","metadata":{"name":"orders"},"spec":{"engine":"postgres","ver`,
		"valid-then-truncated.yaml": base + "---\n" + strings.Replace(valid("ledger"), "  storage:\n    size: 1Gi\n", "  storage: [1Gi\n", 1),

		// Deep nesting.
		"deep-block.yaml": "apiVersion: dbctl.io/v1alpha1\nkind: Database\nmetadata:\n  name: orders\nspec:\n" + deepBlock(100),
		"deep-flow.yaml":  "apiVersion: dbctl.io/v1alpha1\nkind: Database\nspec: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n",
		"deep.json":       `{"apiVersion":"dbctl.io/v1alpha1","kind":"Database","spec":` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000) + "}\n",

		// Alias bombs.
		"billion-laughs.yaml":    billionLaughs(),
		"alias-bomb-spec.yaml":   base + "  parameters: &p {a: \"1\", b: \"2\"}\n  resources: &r {limits: *p, requests: *p}\n" + aliasBombTail(),
		"merge-key-bomb.yaml":    mergeKeyBomb(),
		"alias-recursive.yaml":   base + "  parameters: &a\n    x: *a\n",
		"string-alias-bomb.yaml": stringAliasBomb(40<<10, 60),

		// Binary data.
		"binary-random.yaml":   string(randomBytes(4096)),
		"elf-header.yaml":      "\x7fELF\x02\x01\x01\x00" + strings.Repeat("\x00", 56),
		"gzipped.yaml":         gzipped(base),
		"nul-byte.yaml":        replace("name: orders", "name: ord\x00ers"),
		"invalid-utf8.yaml":    replace("name: orders", "name: ord\xe9rs"),
		"utf16le-bom.yaml":     utf16LE(base),
		"escape-sequence.yaml": replace("name: orders", "name: \"orders\x1b[2J\x1b[31mInjected\""),

		// Syntax.
		"tab-indentation.yaml":       strings.ReplaceAll(base, "\n  ", "\n\t"),
		"json-trailing-garbage.json": `{"apiVersion":"dbctl.io/v1alpha1","kind":"Database","metadata":{"name":"orders"},"spec":{"engine":"postgres","version":"16","storage":{"size":"1Gi"}}} trailing garbage` + "\n",
		"json-comment.json":          "// a database\n" + `{"apiVersion":"dbctl.io/v1alpha1","kind":"Database"}` + "\n",
		"json-single-quotes.json":    `{'apiVersion':'dbctl.io/v1alpha1'}` + "\n",
		"yaml-python-tag.yaml":       replace("name: orders", "name: !!python/object/apply:os.system [\"echo pwned\"]"),
		"yaml-binary-tag.yaml":       replace("name: orders", "name: !!binary b3JkZXJz"),
		"yaml-merge-scalar.yaml":     base + "  <<: 5\n",
		"yaml-complex-key.yaml":      base + "  ? [a, b]\n  : c\n",
		"yaml-null-key.yaml":         base + "  ~: x\n",
		"empty.yaml":                 "",
		"comments-only.yaml":         "# nothing here\n# at all\n",
		"document-markers-only.yaml": "---\n---\n...\n---\n",
		"top-level-scalar.yaml":      "hello\n",
		"top-level-list.yaml":        "- " + strings.ReplaceAll(strings.TrimSuffix(base, "\n"), "\n", "\n  ") + "\n",

		// Duplicate keys.
		"duplicate-key-top.yaml":    base + "spec:\n  engine: mysql\n",
		"duplicate-key-nested.yaml": withSpec("replicas: 1", "replicas: 3"),
		"duplicate-key.json":        `{"apiVersion":"dbctl.io/v1alpha1","kind":"Database","metadata":{"name":"orders","name":"other"},"spec":{"engine":"postgres","version":"16","storage":{"size":"1Gi"}}}` + "\n",

		// Wrong types.
		"wrong-type-replicas.yaml":   withSpec("replicas: three"),
		"wrong-type-version.yaml":    replace(`version: "16"`, "version: 16"),
		"wrong-type-spec.yaml":       "apiVersion: dbctl.io/v1alpha1\nkind: Database\nmetadata:\n  name: orders\nspec: [postgres, \"16\"]\n",
		"wrong-type-storage.yaml":    replace("storage:\n    size: 1Gi", "storage: 1Gi"),
		"wrong-type-metadata.yaml":   replace("metadata:\n  name: orders", "metadata: orders"),
		"wrong-type-name.yaml":       replace("name: orders", "name: 12345"),
		"wrong-type-parameters.yaml": withSpec("parameters: [max_connections, \"200\"]"),

		// Numbers out of range.
		"huge-integer.yaml":      withSpec("replicas: 99999999999999999999999999999"),
		"huge-float.yaml":        withSpec("replicas: 1e400"),
		"huge-quantity.json":     `{"apiVersion":"dbctl.io/v1alpha1","kind":"Database","metadata":{"name":"orders"},"spec":{"engine":"postgres","version":"16","storage":{"size":1e400}}}` + "\n",
		"negative-replicas.yaml": withSpec("replicas: -1"),
		"nan-replicas.yaml":      withSpec("replicas: .nan"),
		"int32-overflow.yaml":    withSpec("replicas: 4294967297"),

		// Names.
		"name-uppercase.yaml":     replace("name: orders", "name: Orders"),
		"name-unicode.yaml":       replace("name: orders", "name: ördérs"),
		"name-homoglyph.yaml":     replace("name: orders", "name: \u043erders"), // Cyrillic о
		"name-bidi-override.yaml": replace("name: orders", "name: \"orders\u202egpj.exe\""),
		"name-zero-width.yaml":    replace("name: orders", "name: \"ord\u200bers\""),
		"name-too-long.yaml":      replace("name: orders", "name: "+strings.Repeat("a", 60)),
		"name-empty.yaml":         replace("name: orders", `name: ""`),
		"name-missing.yaml":       replace("metadata:\n  name: orders\n", "metadata:\n  labels: {team: shop}\n"),
		"namespace-invalid.yaml":  replace("name: orders", "name: orders\n  namespace: Shop_1"),
		"key-bidi-override.yaml":  withSpec("\"replicas\u202e\": 3"),

		// Shape.
		"unknown-field.yaml":    withSpec("replica: 3"),
		"status-set.yaml":       base + "status:\n  phase: Ready\n",
		"metadata-uid.yaml":     replace("name: orders", "name: orders\n  uid: 0b9f1c2e-7f0a-4d5e-9a3b-1c2d3e4f5a6b"),
		"kind-configmap.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: orders\ndata:\n  a: b\n",
		"kind-lowercase.yaml":   replace("kind: Database", "kind: database"),
		"apiversion-wrong.yaml": replace("dbctl.io/v1alpha1", "dbctl.io/v1"),
		"kubernetes-list.yaml":  "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSuffix(base, "\n"), "\n", "\n  ") + "\n",
		"two-same-name.yaml":    base + "---\n" + strings.Replace(base, "version: \"16\"", "version: \"17\"", 1),
		"many-errors.yaml":      manyErrors(150),

		// Rules.
		"engine-unknown.yaml":         replace("engine: postgres", "engine: oracle"),
		"replicas-too-many.yaml":      withSpec("replicas: 10"),
		"storage-zero.yaml":           replace("size: 1Gi", "size: \"0\""),
		"verify-timeout-invalid.yaml": withSpec("verify: {timeout: 10years}"),
		"parameter-multiline.yaml":    withSpec("parameters:", "  password: \"hunter2\\nsecond line\""),
		"dependency-url-and-tcp.yaml": withSpec("dependencies:", "- name: backup", "  url: https://admin:hunter2@backup.internal/healthz", "  tcp: backup.internal:9000"),
		"dependency-file-scheme.yaml": withSpec("dependencies:", "- name: local", "  url: file:///etc/passwd"),
		"crlf-with-error.yaml":        strings.ReplaceAll(withSpec("replicas: three"), "\n", "\r\n"),
		"bom-with-error.yaml":         "\ufeff" + withSpec("replicas: three"),
		"bom-mid-stream.yaml":         base + "---\n\ufeff" + valid("ledger"),

		// Many documents.
		"300-documents.yaml": manyDocuments(300, false),
		"300-documents.json": manyDocuments(300, true),

		// Hostile-looking but valid (the "accepted" table).
		"accepted-crlf.yaml":           strings.ReplaceAll(base, "\n", "\r\n"),
		"accepted-bom.yaml":            "\ufeff" + base,
		"accepted-bom-crlf.yaml":       "\ufeff" + strings.ReplaceAll(base, "\n", "\r\n"),
		"accepted-bom.json":            "\ufeff" + `{"apiVersion":"dbctl.io/v1alpha1","kind":"Database","metadata":{"name":"orders"},"spec":{"engine":"postgres","version":"16","storage":{"size":"1Gi"}}}` + "\n",
		"accepted-anchors.yaml":        base + "  parameters: &p {max_connections: \"200\"}\n---\n" + valid("ledger") + "  parameters: {<<: {max_connections: \"100\"}}\n",
		"accepted-256-documents.yaml":  manyDocuments(256, false),
		"accepted-trailing-space.yaml": strings.ReplaceAll(base, "\n", " \t\n"),
	}
	out := make(map[string][]byte, len(files))
	for name, content := range files {
		out[name] = []byte(content)
	}
	return out
}

func deepBlock(levels int) string {
	var b strings.Builder
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "%sa:\n", strings.Repeat("  ", i))
	}
	fmt.Fprintf(&b, "%sx\n", strings.Repeat("  ", levels+1))
	return b.String()
}

// billionLaughs is the classic: ten levels of ten aliases, 10^9 values expanded.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("apiVersion: dbctl.io/v1alpha1\nkind: Database\nmetadata:\n  name: orders\n")
	b.WriteString("l0: &l0 \"lol\"\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("spec: *l9\n")
	return b.String()
}

// aliasBombTail doubles an alias twenty times inside spec.
func aliasBombTail() string {
	var b strings.Builder
	b.WriteString("  image: x\n")
	b.WriteString("x0: &x0 [*r, *r]\n")
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&b, "x%d: &x%d [*x%d, *x%d]\n", i, i, i-1, i-1)
	}
	return b.String()
}

// mergeKeyBomb merges a mapping into itself through twenty levels of merge keys.
func mergeKeyBomb() string {
	var b strings.Builder
	b.WriteString(base)
	b.WriteString("m0: &m0 {a: \"1\", b: \"2\"}\n")
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&b, "m%d: &m%d {<<: [*m%d, *m%d, *m%d, *m%d]}\n", i, i, i-1, i-1, i-1, i-1)
	}
	return b.String()
}

// randomBytes are n bytes from a fixed seed.
func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(r.Uint32())
	}
	return out
}

// gzipped compresses s without compression (stored blocks: the bytes do not depend
// on the deflate implementation) and without a modification time.
func gzipped(s string) string {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.NoCompression)
	if err != nil {
		panic(err)
	}
	if _, err := w.Write([]byte(s)); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.String()
}

// utf16LE is s in UTF-16 little endian with a byte order mark, as Windows
// PowerShell 5 writes redirected output.
func utf16LE(s string) string {
	var buf bytes.Buffer
	buf.Write([]byte{0xff, 0xfe})
	for _, u := range utf16.Encode([]rune(s)) {
		_ = binary.Write(&buf, binary.LittleEndian, u)
	}
	return buf.String()
}

func manyErrors(n int) string {
	var b strings.Builder
	b.WriteString(base)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  unknown%03d: x\n", i)
	}
	return b.String()
}

// manyDocuments is n valid Databases with different names, in YAML or as a
// stream of JSON values.
func manyDocuments(n int, asJSON bool) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("db-%03d", i)
		if asJSON {
			fmt.Fprintf(&b, `{"apiVersion":"dbctl.io/v1alpha1","kind":"Database","metadata":{"name":%q},"spec":{"engine":"postgres","version":"16","storage":{"size":"1Gi"}}}`+"\n", name)
			continue
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.WriteString(valid(name))
	}
	return b.String()
}

// fillTo pads a document with comment lines to exactly size bytes.
func fillTo(doc string, size int) []byte {
	out := []byte(doc)
	line := "# " + strings.Repeat("padding ", 9) + "\n"
	for len(out)+len(line) <= size {
		out = append(out, line...)
	}
	if n := size - len(out); n > 0 {
		pad := []byte("#" + strings.Repeat(" ", n-1))
		if n >= 2 {
			pad[n-1] = '\n'
		}
		out = append(out, pad...)
	}
	return out
}

// generated writes the set that is not committed into dir.
func generated(dir string) error {
	const mib = 1 << 20
	files := map[string][]byte{
		// 10 MB of well-formed documents: rejected for its size before it is read.
		"big-10mb.yaml": bytes.Repeat([]byte(base+"---\n"), 10_000_000/len(base+"---\n")+1)[:10_000_000],
		// One byte over the limit, and exactly at it (accepted).
		"over-1mib.yaml":             fillTo(base, mib+1),
		"accepted-exactly-1mib.yaml": fillTo(base, mib),
		// A 512 KiB string referenced 9000 times: few values, 4.5 GiB expanded.
		"string-alias-bomb-big.yaml": []byte(stringAliasBomb(512<<10, 9000)),
		// A name of almost 1 MiB on one line.
		"long-line.yaml": []byte(replace("name: orders", "name: "+strings.Repeat("a", mib-200))),
		// Many keys, up to the size limit.
		"many-keys.yaml": manyKeys(mib - 100),
		// A newline and an escape sequence in file names, in directories (-f splits
		// its value at newlines and commas): the error must stay one line.
		"dir-evil-newline/evil\nError: forged line.yaml": []byte(withSpec("replicas: three")),
		"dir-evil-escape/evil\x1b[31mred.yaml":           []byte(withSpec("replicas: three")),
	}
	for name, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}

	// 5000 small files: all valid but the last (all-or-nothing: nothing is sent),
	// and all bad (one error line per file, no more).
	for _, set := range []struct {
		dir string
		bad func(i int) bool
	}{
		{"dir-5000-last-bad", func(i int) bool { return i == 4999 }},
		{"dir-5000-all-bad", func(int) bool { return true }},
	} {
		d := filepath.Join(dir, set.dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for i := 0; i < 5000; i++ {
			content := valid(fmt.Sprintf("db-%04d", i))
			if set.bad(i) {
				content = strings.Replace(content, "engine: postgres", "engine: oracle", 1)
			}
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("db-%04d.yaml", i)), []byte(content), 0o644); err != nil {
				return err
			}
		}
	}

	// Two files defining the same Database.
	same := filepath.Join(dir, "dir-same-name")
	if err := os.MkdirAll(same, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"a.yaml", "b.yaml"} {
		if err := os.WriteFile(filepath.Join(same, f), []byte(base), 0o644); err != nil {
			return err
		}
	}

	// Symbolic links: a loop inside a directory next to a valid file, a loop and a
	// dangling link named directly.
	loops := filepath.Join(dir, "dir-symlink-loop")
	if err := os.MkdirAll(loops, 0o755); err != nil {
		return err
	}
	links := [][2]string{ // link, target
		{filepath.Join(loops, "a.yaml"), "b.yaml"},
		{filepath.Join(loops, "b.yaml"), "a.yaml"},
		{filepath.Join(dir, "symlink-loop.yaml"), "symlink-loop.yaml"},
		{filepath.Join(dir, "dangling.yaml"), "does-not-exist.yaml"},
	}
	if err := os.WriteFile(filepath.Join(loops, "valid.yaml"), []byte(base), 0o644); err != nil {
		return err
	}
	for _, l := range links {
		if err := os.Symlink(l[1], l[0]); err != nil {
			return err
		}
	}

	// A directory with no spec file, and one whose only *.yaml is a directory.
	for _, d := range []string{"dir-empty", filepath.Join("dir-only-subdir", "sub.yaml")} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "dir-empty", "README.md"), []byte("# not a spec\n"), 0o644); err != nil {
		return err
	}

	// A FIFO (the test writes into it) and a file nobody may read.
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o644); err != nil {
		return fmt.Errorf("mkfifo: %w", err)
	}
	unreadable := filepath.Join(dir, "unreadable.yaml")
	if err := os.WriteFile(unreadable, []byte(base), 0o000); err != nil {
		return err
	}
	return os.Chmod(unreadable, 0o000)
}

// stringAliasBomb is a string of size bytes and n aliases of it: few values (under
// MaxNodes), many bytes expanded.
func stringAliasBomb(size, n int) string {
	var b strings.Builder
	b.WriteString(base)
	b.WriteString("  image: &s \"")
	b.WriteString(strings.Repeat("x", size))
	b.WriteString("\"\n  parameters:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "    p%d: *s\n", i)
	}
	return b.String()
}

func manyKeys(size int) []byte {
	var b bytes.Buffer
	b.WriteString(base + "  parameters:\n")
	for i := 0; b.Len() < size-40; i++ {
		fmt.Fprintf(&b, "    p%d: \"1\"\n", i)
	}
	return b.Bytes()
}

func main() {
	set := flag.String("set", "committed", "which files: committed (small, checked in) or generated (big and special, for a temporary directory)")
	run := flag.String("run", "", "run the command ARGS and write its peak RSS to this file")
	nobody := flag.Bool("nobody", false, "with -run: run the command as user and group 65534")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: gen-hostile [-set committed|generated] DIR\n       gen-hostile -run RUSAGE [-nobody] CMD ARGS...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *run != "" && flag.NArg() > 0 {
		os.Exit(runMeasured(*run, *nobody, flag.Args()))
	}
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	dir := flag.Arg(0)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "gen-hostile:", err)
		os.Exit(1)
	}
	var err error
	switch *set {
	case "committed":
		err = writeCommitted(dir)
	case "generated":
		err = generated(dir)
	default:
		err = fmt.Errorf("unknown set %q: committed or generated", *set)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-hostile:", err)
		os.Exit(1)
	}
}

// writeCommitted writes the committed set into dir and removes the files of dir
// that are not in it, so that the directory is exactly the set.
func writeCommitted(dir string) error {
	files := committed()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, ok := files[e.Name()]; !ok {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// runMeasured runs args with this process's streams and environment, writes its peak
// RSS and this process's own (bytes) to out, and returns its exit status.
func runMeasured(out string, nobody bool, args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The command dies with this process (the test kills it on its timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if nobody {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	self := vmHWM()
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "gen-hostile -run:", err)
		return 125
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss * 1024 // kilobytes on Linux
	}
	if err := os.WriteFile(out, fmt.Appendf(nil, "%d %d\n", rss, self), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen-hostile -run:", err)
		return 125
	}
	return cmd.ProcessState.ExitCode()
}

// vmHWM is the peak RSS of this program image, in bytes (not RUSAGE_SELF's, which
// includes the peak of the process that spawned it), or -1 when unknown.
func vmHWM() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb * 1024
			}
		}
	}
	return -1
}
