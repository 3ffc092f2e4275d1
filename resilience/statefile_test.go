package resilience

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// warnings collects the warnings of a Store.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) add(msg string) { w.mu.Lock(); w.msgs = append(w.msgs, msg); w.mu.Unlock() }
func (w *warnings) list() []string { w.mu.Lock(); defer w.mu.Unlock(); return slices.Clone(w.msgs) }

func noWarnings(t *testing.T) func(string) {
	return func(msg string) { t.Errorf("unexpected warning: %s", msg) }
}

// readValid reads the state file and fails unless it is a complete, valid one.
func readValid(t *testing.T, path string) StateFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sf, problem := decode(raw)
	if problem != "" {
		t.Fatalf("state file is invalid (%s):\n%s", problem, raw)
	}
	return sf
}

func recordFailure(name string, now time.Time, msg string) func(*StateFile) error {
	return func(sf *StateFile) error {
		Settings{Threshold: math.MaxInt}.Failure(record(sf, name), now, msg)
		return nil
	}
}

func TestStoreMissingFileIsAllClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none", "breakers.json")
	sf, err := NewStore(path, noWarnings(t)).Load()
	if err != nil {
		t.Fatal(err)
	}
	if sf.Version != StateFileVersion || len(sf.Breakers) != 0 {
		t.Fatalf("state %+v", sf)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Load must not create anything")
	}
	g := &Guard{Store: NewStore(path, noWarnings(t))}
	if _, ok := stateOf(g, "postgres"); ok {
		t.Fatal("no record expected")
	}
}

func TestStoreCorruptFileIsReportedTreatedClosedAndRewritten(t *testing.T) {
	valid, _ := encode(StateFile{Version: 1, Breakers: map[string]*Record{
		"postgres": {State: StateOpen, Failures: 5, OpenedAt: &t0, LastError: "connection refused"},
	}})
	for _, tc := range []struct {
		name, content, problem string
	}{
		{"empty file", "", "the file is empty"},
		{"bad JSON", "{not json", "invalid JSON"},
		{"truncated", string(valid[:len(valid)/2]), "invalid JSON: unexpected end of JSON input"},
		{"unknown version", `{"version": 2, "breakers": {}}`, "unsupported version 2, this dbctl reads version 1"},
		{"no version", `{"breakers": {}}`, "no version field"},
		{"wrong type", `{"version": "1"}`, "invalid JSON"},
		{"unknown state", `{"version": 1, "breakers": {"db": {"state": "ajar", "failures": 1}}}`, `breaker "db" has an unknown state "ajar"`},
		{"trailing garbage", string(valid) + "}", "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "breakers.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var w warnings
			store := NewStore(path, w.add)
			sf, err := store.Load()
			if err != nil {
				t.Fatalf("Load = %v: a corrupt file is not an error", err)
			}
			if len(sf.Breakers) != 0 || sf.Version != StateFileVersion {
				t.Fatalf("a corrupt file must read as all closed, got %+v", sf)
			}
			msgs := w.list()
			if len(msgs) != 1 {
				t.Fatalf("warnings %q, want one", msgs)
			}
			wantPrefix := "breaker state file " + path + " is corrupt ("
			if !strings.HasPrefix(msgs[0], wantPrefix) || !strings.Contains(msgs[0], tc.problem) ||
				!strings.HasSuffix(msgs[0], "); treating every breaker as closed; it will be rewritten") {
				t.Fatalf("warning %q", msgs[0])
			}
			// The same problem is reported once per Store.
			if _, err := store.Load(); err != nil || len(w.list()) != 1 {
				t.Fatalf("warnings %q", w.list())
			}
			if err := store.Update(recordFailure("vault", t0, "timeout")); err != nil {
				t.Fatal(err)
			}
			got := readValid(t, path)
			if len(got.Breakers) != 1 || got.Breakers["vault"].Failures != 1 {
				t.Fatalf("rewritten state %+v", got)
			}
			if _, err := NewStore(path, noWarnings(t)).Load(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestStoreUpdateOfUnchangedCorruptFileStillRewrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	var w warnings
	if err := NewStore(path, w.add).Update(func(*StateFile) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if sf := readValid(t, path); len(sf.Breakers) != 0 {
		t.Fatalf("state %+v", sf)
	}
}

func TestStoreFileModeAndDirectoryMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "dbctl")
	path := filepath.Join(dir, "breakers.json")
	store := NewStore(path, noWarnings(t))
	if err := store.Update(recordFailure("db", t0, "x")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{path, 0o600}, {path + ".lock", 0o600}, {dir, 0o700}, {filepath.Dir(dir), 0o700}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != c.mode {
			t.Errorf("%s has mode %v, want %v", c.path, fi.Mode().Perm(), c.mode)
		}
	}
	// A file made world-readable by hand becomes 0600 again on the next write.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := store.Update(recordFailure("db", t0, "y")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v after a rewrite", fi.Mode().Perm())
	}
}

func TestStoreKeepsNoSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	store := NewStore(path, noWarnings(t))
	g := &Guard{Store: store, Settings: Settings{Threshold: 1}}
	target := "https://admin:s3cr3t@vault.example.com:8200/v1/sys/health?token=t0ps3cret"
	err := g.Check(context.Background(), Dependency{Name: "vault", Target: target}, func(context.Context) error {
		return fmt.Errorf(`Get "%s": dial tcp: connection refused (dsn postgres://app:hunter2@db:5432/app?sslpassword=x password=pw1)`, target)
	})
	if err == nil {
		t.Fatal("the check failed")
	}
	// Even a record written around Guard is redacted.
	if err := store.Update(func(sf *StateFile) error {
		sf.Breakers["raw"] = &Record{Target: "user:pa55@db.internal:5432", LastError: "token=abc123 at https://u:pw2@h/x?q=1"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, secret := range []string{"s3cr3t", "t0ps3cret", "hunter2", "pw1", "pa55", "abc123", "pw2", "admin:", "token=t", "q=1", "sslpassword=x"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the state file holds %q:\n%s", secret, raw)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error holds %q: %s", secret, err)
		}
	}
	sf := readValid(t, path)
	if got := sf.Breakers["vault"].Target; got != "https://vault.example.com:8200/v1/sys/health" {
		t.Fatalf("target %q", got)
	}
	if got := sf.Breakers["raw"].Target; got != "db.internal:5432" {
		t.Fatalf("target %q", got)
	}
}

func TestStoreUpdateErrorWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	store := NewStore(path, noWarnings(t))
	if err := store.Update(recordFailure("db", t0, "x")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	errStop := errors.New("stop")
	err := store.Update(func(sf *StateFile) error {
		sf.Breakers = map[string]*Record{}
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Update = %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("a failed Update must not write")
	}
}

func TestStoreUpdateWithoutChangeDoesNotRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	store := NewStore(path, noWarnings(t))
	if err := store.Update(recordFailure("db", t0, "x")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	if err := store.Update(func(*StateFile) error { return nil }); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Fatal("an Update that changes nothing must not replace the file")
	}
}

func TestStoreUpdateContextGivesUpOnAHeldLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	store := NewStore(path, noWarnings(t))
	entered, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		_ = store.Update(func(*StateFile) error { close(entered); <-release; return nil })
	}()
	<-entered
	// Let the holder finish writing before t.TempDir's cleanup removes the directory
	// (cleanups run last registered first).
	t.Cleanup(func() { close(release); <-done })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := NewStore(path, noWarnings(t)).UpdateContext(ctx, func(*StateFile) error {
		t.Error("fn ran without the lock")
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("UpdateContext = %v", err)
	}
}

func TestStoreReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	store := NewStore(path, noWarnings(t))
	for _, n := range []string{"postgres", "vault", "s3"} {
		if err := store.Update(recordFailure(n, t0, "x")); err != nil {
			t.Fatal(err)
		}
	}
	_, err := store.Reset("postgres", "nope", "nada")
	if !errors.Is(err, ErrUnknownBreaker) {
		t.Fatalf("Reset = %v", err)
	}
	want := `unknown circuit breaker "nope", "nada" in ` + path + ` (known: postgres, s3, vault)`
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if sf := readValid(t, path); len(sf.Breakers) != 3 {
		t.Fatal("an unknown name must reset nothing")
	}
	got, err := store.Reset("vault", "postgres", "vault")
	if err != nil || !slices.Equal(got, []string{"vault", "postgres"}) {
		t.Fatalf("Reset = %v, %v", got, err)
	}
	if sf := readValid(t, path); !slices.Equal(sf.Names(), []string{"s3"}) {
		t.Fatalf("left %v", sf.Names())
	}
	got, err = store.ResetAll()
	if err != nil || !slices.Equal(got, []string{"s3"}) {
		t.Fatalf("ResetAll = %v, %v", got, err)
	}
	if sf := readValid(t, path); len(sf.Breakers) != 0 {
		t.Fatalf("left %v", sf.Names())
	}
}

func TestStoreRemovesStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "breakers.json")
	stale := filepath.Join(dir, ".breakers.json123456")
	fresh := filepath.Join(dir, ".breakers.json654321")
	other := filepath.Join(dir, ".breakers.jsonx1")
	for _, p := range []string{stale, fresh, other} {
		if err := os.WriteFile(p, []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{stale, other} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := NewStore(path, noWarnings(t)).Update(recordFailure("db", t0, "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Error("the stale temp file is still there")
	}
	for _, p := range []string{fresh, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}

func TestDefaultStatePath(t *testing.T) {
	t.Setenv(EnvStatePath, "/custom/b.json")
	t.Setenv("XDG_STATE_HOME", "/xdg")
	t.Setenv("HOME", "/home/ci")
	check := func(want string) {
		t.Helper()
		got, err := DefaultStatePath()
		if err != nil || got != want {
			t.Fatalf("DefaultStatePath = %q, %v; want %q", got, err, want)
		}
	}
	check("/custom/b.json")
	t.Setenv(EnvStatePath, "")
	check("/xdg/dbctl/breakers.json")
	t.Setenv("XDG_STATE_HOME", "relative/ignored")
	check("/home/ci/.local/state/dbctl/breakers.json")
	t.Setenv("XDG_STATE_HOME", "")
	check("/home/ci/.local/state/dbctl/breakers.json")
}

func TestStoreConcurrentGoroutinesNeverLoseAnUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			store := NewStore(path, noWarnings(t)) // a Store each, like separate callers
			for range 50 {
				if err := store.Update(recordFailure("db", t0, "x")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := readValid(t, path).Breakers["db"].Failures; got != 400 {
		t.Fatalf("failures = %d, want 400", got)
	}
}

// Cross-process tests: the test binary re-executes itself as helper processes.

const (
	helperModeEnv = "DBCTL_RESILIENCE_HELPER"
	helperPathEnv = "DBCTL_RESILIENCE_HELPER_STATE"
)

// TestHelperProcess is not a test: it is the body of the helper processes.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperModeEnv)
	if mode == "" {
		return
	}
	store := NewStore(os.Getenv(helperPathEnv), func(msg string) { fmt.Fprintln(os.Stderr, msg) })
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	switch mode {
	case "failures": // record 100 failures of "db", one Update each
		for i := range 100 {
			if err := store.Update(recordFailure("db", time.Now(), fmt.Sprintf("failure %d of process %d", i, os.Getpid()))); err != nil {
				fail(err)
			}
		}
		os.Exit(0)
	case "loop": // rewrite the file forever, with contents of varying size
		for i := 0; ; i++ {
			err := store.Update(func(sf *StateFile) error {
				sf.Breakers = map[string]*Record{}
				for j := range i%40 + 1 {
					msg := fmt.Sprintf("update %d: %s", i, strings.Repeat("x", (i*131+j*17)%4096))
					Settings{}.Failure(record(sf, fmt.Sprintf("dep-%02d", j)), time.Now(), msg)
				}
				return nil
			})
			if err != nil {
				fail(err)
			}
			if i == 0 {
				fmt.Println("ready")
			}
		}
	default:
		fail(fmt.Errorf("unknown helper mode %q", mode))
	}
}

func helperCommand(t *testing.T, mode, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperModeEnv+"="+mode, helperPathEnv+"="+path)
	return cmd
}

func TestConcurrentProcessesNeverLoseAnUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 8 processes")
	}
	path := filepath.Join(t.TempDir(), "breakers.json")
	const procs = 8
	cmds := make([]*exec.Cmd, procs)
	outs := make([]strings.Builder, procs)
	for i := range cmds {
		cmds[i] = helperCommand(t, "failures", path)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper %d: %v\n%s", i, err, outs[i].String())
		}
	}
	sf := readValid(t, path)
	r := sf.Breakers["db"]
	if r == nil || r.Failures != procs*100 || r.CurrentState() != StateClosed {
		t.Fatalf("record %+v, want %d failures, closed", r, procs*100)
	}
	if _, err := NewStore(path, noWarnings(t)).Load(); err != nil {
		t.Fatal(err)
	}
}

func TestKilledWriterNeverLeavesAPartialFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	path := filepath.Join(t.TempDir(), "breakers.json")
	for round := range 20 {
		cmd := helperCommand(t, "loop", path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("round %d: helper did not start: %q %v\n%s", round, line, err, stderr.String())
		}
		// Read the file while the helper rewrites it, a random number of times:
		// every read is a complete version; then kill -9 at that random moment.
		for range rand.IntN(200) {
			readValid(t, path)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: helper ended with %v, not by SIGKILL\n%s", round, err, stderr.String())
		}
		readValid(t, path)
		if _, err := NewStore(path, noWarnings(t)).Load(); err != nil {
			t.Fatal(err)
		}
	}
	if temps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".breakers.json*")); len(temps) > 0 {
		t.Logf("%d writers were killed mid-write (their temp files are left)", len(temps))
	}
	// The dead writers' locks died with them.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := NewStore(path, noWarnings(t)).UpdateContext(ctx, recordFailure("after", t0, "x")); err != nil {
		t.Fatalf("the lock is wedged: %v", err)
	}
	if sf := readValid(t, path); sf.Breakers["after"] == nil {
		t.Fatal("the last update is missing")
	}
}

// The state file is plain JSON with the documented field names.
func TestStateFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.json")
	opened, probe := t0, t0.Add(time.Minute)
	if err := NewStore(path, noWarnings(t)).Update(func(sf *StateFile) error {
		sf.Breakers["postgres"] = &Record{State: StateHalfOpen, Failures: 5, OpenedAt: &opened, ProbeUntil: &probe,
			LastError: "connection refused", LastFailure: &opened, Target: "db:5432"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	want := `{
  "version": 1,
  "breakers": {
    "postgres": {
      "state": "half-open",
      "failures": 5,
      "openedAt": "2100-01-02T03:04:05Z",
      "probeUntil": "2100-01-02T03:05:05Z",
      "lastError": "connection refused",
      "lastFailure": "2100-01-02T03:04:05Z",
      "target": "db:5432"
    }
  }
}
`
	if string(raw) != want {
		t.Fatalf("state file:\n%s\nwant:\n%s", raw, want)
	}
}
