package breaker

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/reconcile/exitcode"
	"github.com/dbctl-io/dbctl/resilience"
)

var opened = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type env struct {
	path     string
	f        *cmdutil.Factory
	out, err bytes.Buffer
}

func newEnv(t *testing.T) *env {
	e := &env{path: filepath.Join(t.TempDir(), "breakers.json")}
	e.f = &cmdutil.Factory{IOStreams: cmdutil.Test(nil, &e.out, &e.err), BreakerStatePath: &e.path}
	return e
}

// seed writes three breakers: open, half-open and closed.
func (e *env) seed(t *testing.T) {
	t.Helper()
	probe := opened.Add(90 * time.Second)
	last := opened.Add(-time.Hour)
	err := resilience.NewStore(e.path, nil).Update(func(sf *resilience.StateFile) error {
		sf.Breakers["postgres"] = &resilience.Record{State: resilience.StateOpen, Failures: 5, OpenedAt: &opened,
			LastError: "dial tcp 10.0.0.7:5432: connect: connection refused", LastFailure: &opened, Target: "10.0.0.7:5432"}
		sf.Breakers["vault"] = &resilience.Record{State: resilience.StateHalfOpen, Failures: 7, OpenedAt: &opened,
			ProbeUntil: &probe, LastError: "GET https://vault.example.com/v1/sys/health: unexpected status 503 Service Unavailable",
			LastFailure: &opened}
		sf.Breakers["minio"] = &resilience.Record{State: resilience.StateClosed, LastSuccess: &last}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) run(args ...string) error {
	e.out.Reset()
	e.err.Reset()
	cmd := NewCmdBreaker(e.f)
	cmd.SetArgs(args)
	cmd.SetOut(&e.out)
	cmd.SetErr(&e.err)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return cmd.Execute()
}

func (e *env) names(t *testing.T) []string {
	t.Helper()
	sf, err := resilience.NewStore(e.path, func(msg string) { t.Errorf("warning: %s", msg) }).Load()
	if err != nil {
		t.Fatal(err)
	}
	return sf.Names()
}

func TestListTable(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	if err := e.run("list"); err != nil {
		t.Fatal(err)
	}
	want := `NAME       STATE       FAILURES   OPENED-AT              NEXT-PROBE             LAST-ERROR
minio      closed      0          -                      -                      -
postgres   open        5          2026-03-04T05:06:07Z   2026-03-04T05:07:07Z   dial tcp 10.0.0.7:5432: connect: connection refused
vault      half-open   7          2026-03-04T05:06:07Z   2026-03-04T05:07:37Z   GET https://vault.example.com/v1/sys/health: unexpected sta…
`
	if got := e.out.String(); got != want {
		t.Fatalf("list:\n%s\nwant:\n%s", got, want)
	}
	if e.err.Len() != 0 {
		t.Fatalf("stderr: %s", e.err.String())
	}

	// NEXT-PROBE follows the cooldown reconcile uses.
	if err := e.run("list", "--breaker-cooldown", "5m"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.out.String(), "postgres   open        5          2026-03-04T05:06:07Z   2026-03-04T05:11:07Z") {
		t.Fatalf("list --breaker-cooldown 5m:\n%s", e.out.String())
	}
}

func TestListJSON(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	if err := e.run("list", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	if err := json.Unmarshal(e.out.Bytes(), &items); err != nil {
		t.Fatalf("%v:\n%s", err, e.out.String())
	}
	if len(items) != 3 || items[1]["name"] != "postgres" || items[1]["state"] != "open" ||
		items[1]["failures"] != 5.0 || items[1]["nextProbe"] != "2026-03-04T05:07:07Z" ||
		items[1]["lastError"] != "dial tcp 10.0.0.7:5432: connect: connection refused" || items[1]["target"] != "10.0.0.7:5432" {
		t.Fatalf("items %v", items)
	}
	if _, ok := items[0]["nextProbe"]; ok {
		t.Fatal("a closed breaker has no nextProbe")
	}
}

func TestListEmptyAndMissing(t *testing.T) {
	e := newEnv(t)
	if err := e.run("list"); err != nil {
		t.Fatal(err)
	}
	if e.out.Len() != 0 || e.err.String() != "No circuit breakers recorded in "+e.path+": every dependency is closed.\n" {
		t.Fatalf("out %q err %q", e.out.String(), e.err.String())
	}
	if err := e.run("list", "-o", "json"); err != nil || e.out.String() != "[]\n" {
		t.Fatalf("json %q, %v", e.out.String(), err)
	}
}

func TestListCorruptFileWarns(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(e.path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.run("list"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.err.String(), "Warning: breaker state file "+e.path+" is corrupt (invalid JSON") {
		t.Fatalf("stderr %q", e.err.String())
	}
}

func TestListBadOutput(t *testing.T) {
	e := newEnv(t)
	err := e.run("list", "-o", "yaml")
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) {
		t.Fatalf("err %v", err)
	}
}

func TestReset(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	if err := e.run("reset", "vault", "postgres"); err != nil {
		t.Fatal(err)
	}
	if want := "circuit breaker \"vault\" reset\ncircuit breaker \"postgres\" reset\n"; e.out.String() != want {
		t.Fatalf("out %q", e.out.String())
	}
	if got := e.names(t); len(got) != 1 || got[0] != "minio" {
		t.Fatalf("left %v", got)
	}
}

func TestResetAll(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	if err := e.run("reset", "--all"); err != nil {
		t.Fatal(err)
	}
	want := "circuit breaker \"minio\" reset\ncircuit breaker \"postgres\" reset\ncircuit breaker \"vault\" reset\n"
	if e.out.String() != want {
		t.Fatalf("out %q", e.out.String())
	}
	if got := e.names(t); len(got) != 0 {
		t.Fatalf("left %v", got)
	}
	if err := e.run("reset", "--all"); err != nil || e.out.Len() != 0 ||
		e.err.String() != "No circuit breakers to reset in "+e.path+".\n" {
		t.Fatalf("err %v out %q stderr %q", err, e.out.String(), e.err.String())
	}
}

func TestResetUnknownNameFails(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	err := e.run("reset", "postgres", "redis")
	if err == nil || cmdutil.ExitCode(err) != exitcode.Error || !errors.Is(err, resilience.ErrUnknownBreaker) {
		t.Fatalf("err %v (exit %d)", err, cmdutil.ExitCode(err))
	}
	want := `unknown circuit breaker "redis" in ` + e.path + ` (known: minio, postgres, vault)`
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if e.out.Len() != 0 || len(e.names(t)) != 3 {
		t.Fatalf("nothing may be reset: out %q, left %v", e.out.String(), e.names(t))
	}
}

func TestResetArgs(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{{"reset"}, {"reset", "--all", "postgres"}} {
		err := e.run(args...)
		var fe *cmdutil.FlagError
		if !errors.As(err, &fe) || cmdutil.ExitCode(err) != exitcode.Error {
			t.Errorf("%v: err %v", args, err)
		}
	}
	var got *ResetOptions
	cmd := NewCmdReset(e.f, func(o *ResetOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"a", "b"})
	if err := cmd.Execute(); err != nil || got.All || strings.Join(got.Names, ",") != "a,b" {
		t.Fatalf("opts %+v, %v", got, err)
	}
}

func TestStatePathFallsBackToTheDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env.json")
	t.Setenv(resilience.EnvStatePath, path)
	empty := ""
	var out, errOut bytes.Buffer
	f := &cmdutil.Factory{IOStreams: cmdutil.Test(nil, &out, &errOut), BreakerStatePath: &empty}
	var got string
	cmd := NewCmdList(f, func(o *ListOptions) error {
		store, err := o.Store()
		if err == nil {
			got = store.Location()
		}
		return err
	})
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil || got != path {
		t.Fatalf("state path %q, %v", got, err)
	}
	f.BreakerStatePath = nil
	if err := cmd.Execute(); err != nil || got != path {
		t.Fatalf("state path %q, %v", got, err)
	}
}

func TestUnknownSubcommandFails(t *testing.T) {
	e := newEnv(t)
	err := e.run("lsit")
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) || err.Error() != `unknown command "lsit" for "breaker"` {
		t.Fatalf("err %v", err)
	}
	if err := e.run(); err != nil || !strings.Contains(e.out.String(), "Available Commands:") {
		t.Fatalf("err %v, out %q", err, e.out.String())
	}
}
