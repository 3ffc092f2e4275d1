package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dbctl-io/dbctl/test/testenv"
)

// The hostile input test runs the dbctl binary on the corpus of
// reconcile/load/testdata/hostile (small files, committed) and on what
// hack/gen-hostile generates in a temporary directory (big files, 5000-file
// directories, symlink loops, a FIFO, an unreadable file, evil file names), plus
// /dev/zero and standard input. For each, reconcile, plan and status must exit 1
// with exactly the expected error line(s) on stderr (naming the file, and the
// document and field when there is one), nothing on stdout, within a 20 s process
// timeout, with a peak RSS under 200 MiB (ru_maxrss, measured under a small parent:
// gen-hostile -run), and without sending a single request to the cluster:
// --kubeconfig points at a local HTTP server that records every request. Inputs
// that look hostile but are valid (a BOM, CRLF, anchors, exactly 1 MiB) are in the
// accepted table: plan --offline takes them.

const (
	// hostileTimeout bounds one dbctl process: generous, it is not a benchmark.
	hostileTimeout = 20 * time.Second
	// hostileMaxRSS bounds the peak resident memory of one dbctl process.
	hostileMaxRSS = 200 << 20
	// hostileMaxLine bounds the length of an error line.
	hostileMaxLine = 2048
	// hostileSecret is the secret some corpus files hold (a parameter value, URL
	// userinfo): no output may show it.
	hostileSecret = "hunter2"
)

// hostileCase is one bad input.
type hostileCase struct {
	// name is a file of the corpus (or of the generated set when generated is set),
	// passed as -f name from that directory.
	name      string
	generated bool
	// args replace "-f name" (paths relative to the directory).
	args []string
	// shown is the file name the error shows, when it is not name.
	shown string
	// stdin, when set, is standard input.
	stdin func() io.Reader
	// fifo, when set, is written into the generated FIFO name while dbctl runs.
	fifo []byte
	// asNobody runs dbctl as an unprivileged user when the test runs as root (root
	// reads a mode 000 file).
	asNobody bool
	// want is the first line of stderr after "Error: " and the file name.
	want string
	// lines is the number of lines on stderr; 0 means 1.
	lines int
}

// hostileCorpusCases are the committed files. Every file of the corpus but the
// accepted-* ones must be here, and the other way round.
var hostileCorpusCases = []hostileCase{
	{name: "300-documents.json", want: ": more than 256 documents in one file"},
	{name: "300-documents.yaml", want: ": more than 256 documents in one file"},
	{name: "alias-bomb-spec.yaml", want: ":13: document 1: more than 20000 values in one document (counting aliases as expanded)"},
	{name: "alias-recursive.yaml", want: ":11: document 1: nested more than 32 levels deep"},
	{name: "apiversion-wrong.yaml", want: ":1: document 1: apiVersion: must be dbctl.io/v1alpha1, got string \"dbctl.io/v1\""},
	{name: "billion-laughs.yaml", want: ":6: document 1: more than 20000 values in one document (counting aliases as expanded)"},
	{name: "binary-random.yaml", want: ":1: invalid UTF-8: not a text file"},
	{name: "bom-mid-stream.yaml", want: ":11: a line starts with a byte order mark (U+FEFF), allowed only at the start of the file: remove it"},
	{name: "bom-with-error.yaml", want: ":10: document 1: spec.replicas: must be an integer, got string \"three\""},
	{name: "comments-only.yaml", want: ": no Database: the file has only comments or empty documents"},
	{name: "crlf-with-error.yaml", want: ":10: document 1: spec.replicas: must be an integer, got string \"three\""},
	{name: "deep-block.yaml", want: ":37: document 1: nested more than 32 levels deep"},
	{name: "deep-flow.yaml", want: ":3: document 1: nested more than 32 levels deep"},
	{name: "deep.json", want: ":1: document 1: nested more than 32 levels deep"},
	{name: "dependency-file-scheme.yaml", want: ":12: document 1: spec.dependencies[0].url: must be an http or https URL with a host, got \"file:///etc/passwd\""},
	{name: "dependency-url-and-tcp.yaml", want: ":11: document 1: spec.dependencies[0]: exactly one of url or tcp must be set, not both"},
	{name: "document-markers-only.yaml", want: ": no Database: the file has only comments or empty documents"},
	{name: "duplicate-key-nested.yaml", want: ":11: document 1: spec.replicas: duplicate key (first at line 10)"},
	{name: "duplicate-key-top.yaml", want: ":10: document 1: spec: duplicate key (first at line 5)"},
	{name: "duplicate-key.json", want: ":1: document 1: metadata.name: duplicate key (first at line 1)"},
	{name: "elf-header.yaml", want: ":1: contains the control character U+007F: not a text file"},
	{name: "empty.yaml", want: ": no Database: the file is empty"},
	{name: "engine-unknown.yaml", want: ":6: document 1: spec.engine: must be postgres, mysql or mariadb, got \"oracle\""},
	{name: "escape-sequence.yaml", want: ":4: contains the control character U+001B: not a text file"},
	{name: "gzipped.yaml", want: ":1: is gzip-compressed data, not a text file: decompress it first"},
	{name: "huge-float.yaml", want: ":10: document 1: spec.replicas: must be an integer, got out-of-range number 1e400"},
	{name: "huge-integer.yaml", want: ":10: document 1: spec.replicas: must be a 32-bit integer, got number 99999999999999999999999999999"},
	{name: "huge-quantity.json", want: ":1: document 1: spec.storage.size: must be a quantity such as \"10Gi\" or an integer, got out-of-range number 1e400"},
	{name: "int32-overflow.yaml", want: ":10: document 1: spec.replicas: must be a 32-bit integer, got integer 4294967297"},
	{name: "invalid-utf8.yaml", want: ":4: invalid UTF-8: not a text file"},
	{name: "json-comment.json", want: ":1: document 1: invalid JSON: invalid character '/' looking for beginning of value"},
	{name: "json-single-quotes.json", want: ":1: document 1: invalid JSON: invalid character '\\''"},
	{name: "json-trailing-garbage.json", want: ":1: document 2: invalid JSON: invalid character 'a' in literal true (expecting 'u')"},
	{name: "key-bidi-override.yaml", want: ":10: document 1: spec.replicas\\u202e: unknown field"},
	{name: "kind-configmap.yaml", want: ":2: document 1: kind: must be Database, got string \"ConfigMap\" (apiVersion \"v1\"): dbctl reads only Database objects"},
	{name: "kind-lowercase.yaml", want: ":2: document 1: kind: must be Database, got string \"database\" (apiVersion \"dbctl.io/v1alpha1\"): dbctl reads only Database objects"},
	{name: "kubernetes-list.yaml", want: ":2: document 1: kind: must be Database, got string \"List\" (apiVersion \"v1\"): dbctl reads only Database objects"},
	{name: "many-errors.yaml", want: ":10: document 1: spec.unknown000: unknown field", lines: 101},
	{name: "merge-key-bomb.yaml", want: ":10: document 1: more than 20000 values in one document (counting aliases as expanded)"},
	{name: "metadata-uid.yaml", want: ":5: document 1: metadata.uid: not allowed in a Database file: metadata may only have name, namespace, labels and annotations"},
	{name: "name-bidi-override.yaml", want: ":4: document 1: metadata.name: must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit), got \"orders\\u202egpj.exe\""},
	{name: "name-empty.yaml", want: ":4: document 1: metadata.name: required"},
	{name: "name-homoglyph.yaml", want: ":4: document 1: metadata.name: must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit), got \"оrders\""},
	{name: "name-missing.yaml", want: ":3: document 1: metadata.name: required"},
	{name: "name-too-long.yaml", want: ":4: document 1: metadata.name: must be at most 51 characters so that every child name (<name>-credentials, <name>-headless, pods, PVCs data-<name>-<ordinal>) is a valid DNS label, got 60"},
	{name: "name-unicode.yaml", want: ":4: document 1: metadata.name: must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit), got \"ördérs\""},
	{name: "name-uppercase.yaml", want: ":4: document 1: metadata.name: must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit), got \"Orders\""},
	{name: "name-zero-width.yaml", want: ":4: document 1: metadata.name: must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit), got \"ord\\u200bers\""},
	{name: "namespace-invalid.yaml", want: ":5: document 1: metadata.namespace: must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters), got \"Shop_1\""},
	{name: "nan-replicas.yaml", want: ":10: document 1: spec.replicas: must be an integer, got out-of-range number .nan"},
	{name: "negative-replicas.yaml", want: ":10: document 1: spec.replicas: must be between 1 and 9, got -1"},
	{name: "nul-byte.yaml", want: ":4: contains a NUL byte: not a text file"},
	{name: "parameter-multiline.yaml", want: ":11: document 1: spec.parameters[password]: value must be on one line: it contains a line break (value redacted)"},
	{name: "replicas-too-many.yaml", want: ":10: document 1: spec.replicas: must be between 1 and 9, got 10"},
	{name: "status-set.yaml", want: ":10: document 1: status: status is set by dbctl; remove it"},
	{name: "storage-zero.yaml", want: ":9: document 1: spec.storage.size: must be a positive quantity such as \"10Gi\", got \"0\""},
	{name: "string-alias-bomb.yaml", want: ":10: document 1: more than 2097152 bytes of keys and values in one document (counting aliases as expanded)"},
	{name: "tab-indentation.yaml", want: ":4: document 1: invalid YAML: found character that cannot start any token"},
	{name: "top-level-list.yaml", want: ":1: document 1: must be a Database object, got a list"},
	{name: "top-level-scalar.yaml", want: ":1: document 1: must be a Database object, got string \"hello\""},
	{name: "truncated-flow.yaml", want: ":8: document 1: invalid YAML: did not find expected ',' or '}'"},
	{name: "truncated-quote.yaml", want: ":7: document 1: invalid YAML: found unexpected end of stream"},
	{name: "truncated.json", want: ":1: document 1: invalid JSON: unexpected end of input"},
	{name: "two-same-name.yaml", want: ":14: document 2: metadata.name: database \"default/orders\" is defined twice: also in two-same-name.yaml:1 (document 1)"},
	{name: "unknown-field.yaml", want: ":10: document 1: spec.replica: unknown field"},
	{name: "utf16le-bom.yaml", want: ":1: is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8"},
	{name: "valid-then-truncated.yaml", want: ":18: document 2: invalid YAML: did not find expected ',' or ']'"},
	{name: "verify-timeout-invalid.yaml", want: ":10: document 1: spec.verify.timeout: must be a duration such as \"5s\" or \"10m\", got string \"10years\""},
	{name: "wrong-type-metadata.yaml", want: ":3: document 1: metadata: must be an object, got string \"orders\""},
	{name: "wrong-type-name.yaml", want: ":4: document 1: metadata.name: must be a string, got integer 12345 (quote it)"},
	{name: "wrong-type-parameters.yaml", want: ":10: document 1: spec.parameters: must be an object, got a list"},
	{name: "wrong-type-replicas.yaml", want: ":10: document 1: spec.replicas: must be an integer, got string \"three\""},
	{name: "wrong-type-spec.yaml", want: ":5: document 1: spec: must be an object, got a list"},
	{name: "wrong-type-storage.yaml", want: ":8: document 1: spec.storage: must be an object, got string \"1Gi\""},
	{name: "wrong-type-version.yaml", want: ":7: document 1: spec.version: must be a string, got integer 16 (quote it)"},
	{name: "yaml-binary-tag.yaml", want: ":4: document 1: binary values (!!binary) are not supported"},
	{name: "yaml-complex-key.yaml", want: ":10: document 1: mapping keys must be strings"},
	{name: "yaml-merge-scalar.yaml", want: ":10: document 1: the value of a merge key (<<) must be a mapping or a list of mappings"},
	{name: "yaml-null-key.yaml", want: ":10: document 1: mapping keys must be strings, got null"},
	{name: "yaml-python-tag.yaml", want: ":4: document 1: unsupported YAML tag \"!!python/object/apply:os.system\""},
}

// hostileSpecialCases are generated files and other inputs.
func hostileSpecialCases() []hostileCase {
	const tooLarge = ": input is too large: more than 1048576 bytes, the limit is 1048576 bytes (1 MiB)"
	doc := "apiVersion: dbctl.io/v1alpha1\nkind: Database\nmetadata: {name: orders}\nspec: {engine: postgres, version: \"16\", storage: {size: 1Gi}}\n---\n"
	tenMB := func() []byte { return bytes.Repeat([]byte(doc), 10_000_000/len(doc)) }
	return []hostileCase{
		{name: "big-10mb.yaml", generated: true, want: ": file is too large: 10000000 bytes, the limit is 1048576 bytes (1 MiB)"},
		{name: "over-1mib.yaml", generated: true, want: ": file is too large: 1048577 bytes, the limit is 1048576 bytes (1 MiB)"},
		{name: "string-alias-bomb-big.yaml", generated: true, want: ":10: document 1: more than 2097152 bytes of keys and values in one document (counting aliases as expanded)"},
		{name: "long-line.yaml", generated: true, want: ":4: document 1: metadata.name: must be at most 51 characters so that every child name (<name>-credentials, <name>-headless, pods, PVCs data-<name>-<ordinal>) is a valid DNS label, got 1048376"},
		{name: "many-keys.yaml", generated: true, want: ":20000: document 1: more than 20000 values in one document (counting aliases as expanded)"},
		{name: "dir-evil-newline", generated: true, shown: `dir-evil-newline/evil\nError: forged line.yaml`, want: `:10: document 1: spec.replicas: must be an integer, got string "three"`},
		{name: "dir-evil-escape", generated: true, shown: `dir-evil-escape/evil\x1b[31mred.yaml`, want: `:10: document 1: spec.replicas: must be an integer, got string "three"`},
		{name: "dir-5000-last-bad", generated: true, shown: "dir-5000-last-bad/db-4999.yaml", want: `:6: document 1: spec.engine: must be postgres, mysql or mariadb, got "oracle"`},
		{name: "dir-5000-all-bad", generated: true, shown: "dir-5000-all-bad/db-0000.yaml", want: `:6: document 1: spec.engine: must be postgres, mysql or mariadb, got "oracle"`, lines: 5000},
		{name: "dir-same-name", generated: true, shown: "dir-same-name/b.yaml", want: `:4: document 1: metadata.name: database "default/orders" is defined twice: also in dir-same-name/a.yaml:1 (document 1)`},
		{name: "dir-symlink-loop", generated: true, shown: "dir-symlink-loop/a.yaml", want: ": cannot read: too many levels of symbolic links"},
		{name: "symlink-loop.yaml", generated: true, want: ": cannot read: too many levels of symbolic links"},
		{name: "dangling.yaml", generated: true, want: ": cannot read: no such file or directory"},
		{name: "dir-empty", generated: true, want: ": directory has no *.yaml, *.yml or *.json file"},
		{name: "dir-only-subdir", generated: true, want: ": directory has no *.yaml, *.yml or *.json file"},
		{name: "fifo.yaml", generated: true, fifo: tenMB(), want: tooLarge},
		{name: "unreadable.yaml", generated: true, asNobody: true, want: ": cannot read: permission denied"},
		{name: "nonexistent.yaml", want: ": cannot read: no such file or directory"},
		{name: "/dev/zero", want: tooLarge},
		{name: "stdin-10mb", args: []string{"-f", "-"}, shown: "<stdin>", want: tooLarge,
			stdin: func() io.Reader { return bytes.NewReader(tenMB()) }},
		{name: "stdin-binary", args: []string{"-f", "-"}, shown: "<stdin>", want: ":1: invalid UTF-8: not a text file",
			stdin: func() io.Reader { return bytes.NewReader(hostileRandom(4096)) }},
		{name: "stdin-twice", args: []string{"-f", "-", "-f", "-"}, shown: "<stdin>", want: `: standard input ("-") can be read only once`,
			stdin: func() io.Reader { return strings.NewReader(doc) }},
		{name: "same-file-twice", args: []string{"-f", "accepted-bom.yaml", "-f", "accepted-bom.yaml"}, shown: "accepted-bom.yaml",
			want: `:4: document 1: metadata.name: database "default/orders" is defined twice: also in accepted-bom.yaml:1 (document 1)`},
		{name: "valid-and-bad-file", args: []string{"-f", "accepted-crlf.yaml", "-f", "wrong-type-replicas.yaml"}, shown: "wrong-type-replicas.yaml",
			want: `:10: document 1: spec.replicas: must be an integer, got string "three"`},
	}
}

// hostileRandom is n bytes from a fixed seed.
func hostileRandom(n int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(r.Uint32())
	}
	return out
}

// hostileEnv is the built binaries, the corpus, the generated files and the
// recording API server.
type hostileEnv struct {
	dbctl, gen string // binaries
	corpus     string // reconcile/load/testdata/hostile
	generated  string // the generated set
	kubeconfig string
	breakers   string
	home       string
	recorder   *hostileRecorder

	mu        sync.Mutex
	worstRSS  int64
	worstTime time.Duration
	worstWhat [2]string // of worstRSS, of worstTime
	processes int
}

// hostileRecorder is an API server that records every request and forbids it.
type hostileRecorder struct {
	mu       sync.Mutex
	requests []string
}

func (r *hostileRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, req.Method+" "+req.URL.String())
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"recorded"}`)
}

func (r *hostileRecorder) taken() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// newHostileEnv builds dbctl and gen-hostile and generates the big and special
// files, in a directory that an unprivileged user can read (the mode 000 case runs
// dbctl as nobody when the test runs as root).
func newHostileEnv(t *testing.T) *hostileEnv {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "dbctl-hostile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	h := &hostileEnv{
		dbctl: filepath.Join(bin, "dbctl"), gen: filepath.Join(bin, "gen-hostile"),
		corpus:    filepath.Join(root, "reconcile", "load", "testdata", "hostile"),
		generated: filepath.Join(dir, "generated"), kubeconfig: filepath.Join(dir, "kubeconfig"),
		breakers: filepath.Join(dir, "breakers.json"), home: dir, recorder: &hostileRecorder{},
	}
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/dbctl", "./hack/gen-hostile")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(h.gen, "-set", "generated", h.generated).CombinedOutput(); err != nil {
		t.Fatalf("gen-hostile: %v\n%s", err, out)
	}
	srv := httptest.NewServer(h.recorder)
	t.Cleanup(srv.Close)
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: recorder, cluster: {server: %q}}]
users: [{name: anyone, user: {}}]
contexts: [{name: recorder, context: {cluster: recorder, user: anyone}}]
current-context: recorder
`, srv.URL)
	if err := os.WriteFile(h.kubeconfig, []byte(kc), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// hostileResult is what one dbctl process did.
type hostileResult struct {
	code           int
	stdout, stderr string
	rss            int64 // peak resident set size, bytes
	took           time.Duration
	timedOut       bool
}

// run runs dbctl ARGS... in dir as case c, with a process timeout.
func (h *hostileEnv) run(t *testing.T, dir string, c hostileCase, args ...string) hostileResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hostileTimeout)
	defer cancel()
	usage, err := os.CreateTemp(h.home, "rusage-")
	if err != nil {
		t.Fatal(err)
	}
	_ = usage.Close()
	defer os.Remove(usage.Name())
	// dbctl runs under gen-hostile -run, a small parent: on Linux a child's peak RSS
	// (ru_maxrss) is never less than its parent's at spawn, and this test process is
	// big (see hack/gen-hostile).
	launch := []string{"-run", usage.Name()}
	if c.asNobody && os.Geteuid() == 0 {
		launch = append(launch, "-nobody")
	}
	launch = append(launch, h.dbctl, "--kubeconfig", h.kubeconfig, "--breaker-state", h.breakers)
	cmd := exec.CommandContext(ctx, h.gen, append(launch, args...)...)
	cmd.Dir = dir
	// Nothing from the environment (KUBECONFIG above all): only the recorder may be
	// reached.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + h.home, "XDG_STATE_HOME=" + h.home, "NO_COLOR=1"}
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if c.stdin != nil {
		cmd.Stdin = c.stdin()
	}
	var writer sync.WaitGroup
	if c.fifo != nil {
		fifo := filepath.Join(dir, c.name)
		writer.Add(1)
		go func() {
			defer writer.Done()
			f, err := os.OpenFile(fifo, os.O_WRONLY, 0) // blocks until a reader opens it
			if err != nil {
				return
			}
			_, _ = f.Write(c.fifo) // EPIPE once dbctl has read enough: expected
			_ = f.Close()
		}()
	}
	start := time.Now()
	err = cmd.Run()
	r := hostileResult{stdout: out.String(), stderr: errOut.String(), took: time.Since(start), timedOut: ctx.Err() != nil}
	if c.fifo != nil {
		// Release the writer if dbctl never opened the FIFO.
		if f, err := os.OpenFile(filepath.Join(dir, c.name), os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
		writer.Wait()
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running dbctl: %v", err)
	}
	r.code = cmd.ProcessState.ExitCode()
	if !r.timedOut {
		var floor int64
		b, err := os.ReadFile(usage.Name())
		if _, serr := fmt.Sscan(string(b), &r.rss, &floor); err != nil || serr != nil || r.code == 125 {
			t.Fatalf("gen-hostile -run did not report dbctl's rusage (%v, %v): exit %d, stderr:\n%s", err, serr, r.code, r.stderr)
		}
		if floor < 0 || floor >= 32<<20 {
			t.Fatalf("gen-hostile -run has a peak RSS of %d bytes: dbctl's cannot be measured under it", floor)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.processes++
	what := fmt.Sprintf("%q, %s", c.name, args[0])
	if r.rss > h.worstRSS {
		h.worstRSS, h.worstWhat[0] = r.rss, what
	}
	if r.took > h.worstTime {
		h.worstTime, h.worstWhat[1] = r.took, what
	}
	return r
}

// check runs reconcile, plan and status on c and checks each.
func (h *hostileEnv) check(t *testing.T, c hostileCase) {
	dir := h.corpus
	if c.generated {
		dir = h.generated
	}
	args := c.args
	if args == nil {
		args = []string{"-f", c.name}
	}
	shown := c.shown
	if shown == "" {
		shown = c.name
	}
	lines := c.lines
	if lines == 0 {
		lines = 1
	}
	want := "Error: " + shown + c.want
	for _, command := range []string{"reconcile", "plan", "status"} {
		r := h.run(t, dir, c, append([]string{command}, args...)...)
		what := fmt.Sprintf("dbctl %s %q", command, args)
		switch {
		case r.timedOut:
			t.Errorf("%s: still running after %s", what, hostileTimeout)
			continue
		case r.code != 1:
			t.Errorf("%s: exit %d, want 1", what, r.code)
		}
		if r.stdout != "" {
			t.Errorf("%s: printed on stdout:\n%.2000s", what, r.stdout)
		}
		got := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		if len(got) != lines {
			t.Errorf("%s: %d lines on stderr, want %d:\n%.3000s", what, len(got), lines, r.stderr)
		}
		if got[0] != want {
			t.Errorf("%s: error\n got: %.2000s\nwant: %s", what, got[0], want)
		}
		for _, l := range got {
			if len(l) > hostileMaxLine {
				t.Errorf("%s: a line of %d bytes on stderr", what, len(l))
				break
			}
		}
		if r.rss >= hostileMaxRSS {
			t.Errorf("%s: peak RSS %d MiB, the bound is %d MiB", what, r.rss>>20, hostileMaxRSS>>20)
		}
		assertNoSecret(t, r.stdout+r.stderr, hostileSecret)
	}
}

// TestHostileInput checks every hostile input (see the top of this file) and every
// accepted one, then that the recording API server got no request at all, then
// that it does record the requests of a valid input (so that zero means something).
func TestHostileInput(t *testing.T) {
	t.Parallel()
	h := newHostileEnv(t)
	hostileCheckCorpusFresh(t, h)

	// Every bad file of the corpus has a case, and every case a file.
	entries, err := os.ReadDir(h.corpus)
	if err != nil {
		t.Fatal(err)
	}
	var files, accepted []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "accepted-") {
			accepted = append(accepted, e.Name())
		} else {
			files = append(files, e.Name())
		}
	}
	var named []string
	for _, c := range hostileCorpusCases {
		named = append(named, c.name)
		if !slices.Contains(files, c.name) {
			t.Errorf("case %s: no such file in %s", c.name, h.corpus)
		}
	}
	for _, f := range files {
		if !slices.Contains(named, f) {
			t.Errorf("%s: no case in hostileCorpusCases for this file", f)
		}
	}
	cases := append(slices.Clone(hostileCorpusCases), hostileSpecialCases()...)
	if len(cases) < 40 {
		t.Fatalf("%d hostile cases, want at least 40", len(cases))
	}

	t.Run("rejected", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				h.check(t, c)
			})
		}
	})
	t.Run("accepted", func(t *testing.T) {
		paths := []string{filepath.Join(h.generated, "accepted-exactly-1mib.yaml")}
		for _, f := range accepted {
			paths = append(paths, filepath.Join(h.corpus, f))
		}
		for _, p := range paths {
			t.Run(filepath.Base(p), func(t *testing.T) {
				t.Parallel()
				c := hostileCase{name: filepath.Base(p)}
				r := h.run(t, filepath.Dir(p), c, "plan", "--offline", "-f", c.name)
				if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Plan: ") {
					t.Errorf("plan --offline: exit %d, stderr:\n%s\nstdout:\n%.1000s", r.code, r.stderr, r.stdout)
				}
				if r.rss >= hostileMaxRSS {
					t.Errorf("peak RSS %d MiB, the bound is %d MiB", r.rss>>20, hostileMaxRSS>>20)
				}
			})
		}
	})
	if reqs := h.recorder.taken(); len(reqs) > 0 {
		t.Errorf("%d requests reached the API server, want none:\n%s", len(reqs), strings.Join(reqs, "\n"))
	}
	t.Logf("%d bad inputs and %d accepted ones in %d processes; worst peak RSS %.1f MiB (%s); longest %s (%s)",
		len(cases), len(accepted)+1, h.processes, float64(h.worstRSS)/(1<<20), h.worstWhat[0],
		h.worstTime.Round(time.Millisecond), h.worstWhat[1])

	// The recorder sees the requests of a valid input: the zero above is a real zero.
	r := h.run(t, h.corpus, hostileCase{name: "accepted-bom.yaml"}, "reconcile", "-f", "accepted-bom.yaml", "--timeout", "10s")
	if reqs := h.recorder.taken(); len(reqs) == 0 || r.code != 1 {
		t.Errorf("a valid input: %d requests recorded, exit %d, stderr:\n%s", len(reqs), r.code, r.stderr)
	}
}

// hostileCheckCorpusFresh fails when the committed corpus is not exactly what
// hack/gen-hostile writes.
func hostileCheckCorpusFresh(t *testing.T, h *hostileEnv) {
	t.Helper()
	fresh := t.TempDir()
	if out, err := exec.Command(h.gen, "-set", "committed", fresh).CombinedOutput(); err != nil {
		t.Fatalf("gen-hostile: %v\n%s", err, out)
	}
	read := func(dir string) map[string][]byte {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]byte{}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = b
		}
		return out
	}
	want, got := read(fresh), read(h.corpus)
	for name, b := range want {
		if g, ok := got[name]; !ok || !bytes.Equal(g, b) {
			t.Errorf("%s is missing or stale in %s: run go generate ./reconcile/load", name, h.corpus)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s in %s is not written by hack/gen-hostile: run go generate ./reconcile/load", name, h.corpus)
		}
	}
}
