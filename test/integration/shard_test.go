package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/test/testdb"
	"github.com/dbctl-io/dbctl/test/testenv"
)

// shardResults is what `reconcile -o json` says about each Database.
type shardResults struct {
	ExitCode int `json:"exitCode"`
	Results  []struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		Outcome   string `json:"outcome"`
	} `json:"results"`
}

// runShards runs `dbctl reconcile args... --shard i/count -o json` for every i at
// once, as the pods of an Indexed Job do, and returns which shard reconciled each
// Database ("namespace/name"), failing when one was reconciled twice or not Ready.
func runShards(t *testing.T, e *testenv.Env, count int, args ...string) map[string]int {
	t.Helper()
	outs := make([]string, count)
	errs := make([]string, count)
	codes := make([]int, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			a := append(append([]string{}, args...), "--shard", fmt.Sprintf("%d/%d", i, count), "-o", "json", "--timeout", "1m")
			outs[i], errs[i], codes[i] = runDbctl(t, e, a...)
		})
	}
	wg.Wait()
	by := map[string]int{}
	for i := range count {
		if codes[i] != 0 {
			t.Fatalf("shard %d/%d: exit %d\nstdout:\n%s\nstderr:\n%s", i, count, codes[i], outs[i], errs[i])
		}
		var res shardResults
		if err := json.Unmarshal([]byte(outs[i]), &res); err != nil {
			t.Fatalf("shard %d/%d: %v\n%s", i, count, err, outs[i])
		}
		if want := fmt.Sprintf("shard %d/%d: %d of ", i, count, len(res.Results)); !strings.Contains(errs[i], want) {
			t.Errorf("shard %d/%d: stderr does not say %q:\n%s", i, count, want, errs[i])
		}
		for _, r := range res.Results {
			key := r.Namespace + "/" + r.Name
			if prev, dup := by[key]; dup {
				t.Errorf("%s reconciled by shards %d and %d", key, prev, i)
			}
			by[key] = i
			if r.Outcome != "Ready" {
				t.Errorf("shard %d: %s is %s", i, key, r.Outcome)
			}
			if want := cmdutil.ShardOf(r.Namespace, r.Name, count); want != i {
				t.Errorf("%s reconciled by shard %d, its shard is %d", key, i, want)
			}
		}
	}
	return by
}

// TestReconcileShards: 12 Databases in 3 namespaces, reconciled by 3 shards at once,
// first from one file (each shard applies only its share), then with -A: each
// Database is reconciled by exactly one shard, the same one both times, and all of
// them are Ready. A shard that gets no Database exits 0 saying so.
func TestReconcileShards(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t) // its own API server: -A must see only this test's Databases
	var docs []string
	var all []string
	for range 3 {
		ns := e.Namespace(t)
		e.SimulateRollouts(t, ns)
		for i := range 4 {
			docs = append(docs, testdb.Postgres(ns, fmt.Sprintf("db-%d", i), 1, ""))
			all = append(all, ns+"/"+fmt.Sprintf("db-%d", i))
		}
	}
	file := filepath.Join(t.TempDir(), "databases.yaml")
	if err := os.WriteFile(file, []byte(strings.Join(docs, "---\n")), 0o600); err != nil {
		t.Fatal(err)
	}

	fromFile := runShards(t, e, 3, "reconcile", "-f", file)
	if len(fromFile) != len(all) {
		t.Fatalf("the shards reconciled %d of %d Databases: %v", len(fromFile), len(all), fromFile)
	}
	per := map[int]int{}
	for _, key := range all {
		ns, name, _ := strings.Cut(key, "/")
		db := &v1alpha1.Database{}
		if err := e.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, db); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if db.Status.Phase != v1alpha1.PhaseReady {
			t.Errorf("%s is %s", key, db.Status.Phase)
		}
		per[fromFile[key]]++
	}
	t.Logf("Databases per shard: %v", per)

	listed := runShards(t, e, 3, "reconcile", "-A")
	for _, key := range all {
		if listed[key] != fromFile[key] {
			t.Errorf("%s: shard %d from the file, %d from -A", key, fromFile[key], listed[key])
		}
	}

	// A shard of 40 that holds none of the 12.
	used := map[int]bool{}
	for _, key := range all {
		ns, name, _ := strings.Cut(key, "/")
		used[cmdutil.ShardOf(ns, name, 40)] = true
	}
	empty := 0
	for used[empty] {
		empty++
	}
	out, errOut, code := runDbctl(t, e, "reconcile", "-A", "--shard", fmt.Sprintf("%d/40", empty), "-o", "json")
	if code != 0 || !strings.Contains(errOut, fmt.Sprintf("shard %d/40: none of the 12 Database(s) selected falls in this shard: nothing to do", empty)) {
		t.Fatalf("empty shard: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var res shardResults
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.ExitCode != 0 || res.Results == nil || len(res.Results) != 0 {
		t.Fatalf("empty shard: %+v, %v\n%s", res, err, out)
	}
	if strings.Contains(out, "null") {
		t.Fatalf("empty shard: results must be [], not null:\n%s", out)
	}
}
