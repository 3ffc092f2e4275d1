package reconcile

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/reconcile/exitcode"
)

// parse runs `dbctl reconcile args...` up to its run, and returns the options or the
// usage error.
func parse(t *testing.T, args ...string) (*Options, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	state := ""
	f := &cmdutil.Factory{IOStreams: cmdutil.Test(nil, &out, &errOut), BreakerStatePath: &state,
		Getenv: func(string) string { return "" }}
	var got *Options
	cmd := NewCmdReconcile(f, func(_ context.Context, o *Options) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return got, err
}

func TestShardFlag(t *testing.T) {
	for args, want := range map[string]cmdutil.Shard{
		"-A --shard 0/3":             {Index: 0, Count: 3},
		"--all --shard 2/3":          {Index: 2, Count: 3},
		"orders billing --shard 0/1": {Index: 0, Count: 1},
		"-f db.yaml --shard 1/2":     {Index: 1, Count: 2},
		"-A":                         {},
	} {
		opts, err := parse(t, strings.Fields(args)...)
		if err != nil || opts.Shard != want {
			t.Errorf("%s: shard %+v, %v; want %+v", args, opts.Shard, err, want)
		}
	}
	for _, bad := range []string{"3/3", "-1/2", "a/b", "1", ""} {
		_, err := parse(t, "-A", "--shard="+bad)
		var fe *cmdutil.FlagError
		if !errors.As(err, &fe) || cmdutil.ExitCode(err) != exitcode.Error || !strings.HasPrefix(err.Error(), "--shard \""+bad+"\": ") {
			t.Errorf("--shard %q: error %v, want a usage error naming the flag", bad, err)
		}
	}
}

func TestBreakerStateFlagIsCheckedFirst(t *testing.T) {
	var out, errOut bytes.Buffer
	state := "cluster:nope"
	f := &cmdutil.Factory{IOStreams: cmdutil.Test(nil, &out, &errOut), BreakerStatePath: &state}
	cmd := NewCmdReconcile(f, func(context.Context, *Options) error { t.Fatal("ran"); return nil })
	cmd.SetArgs([]string{"-A"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "--breaker-state \"cluster:nope\": want cluster:NAMESPACE/NAME") {
		t.Fatalf("err %v", err)
	}
}
