package load

//go:generate go run ../../hack/gen-hostile -set committed testdata/hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostileCorpus is the committed part of the hostile input corpus (written by
// hack/gen-hostile). test/integration's TestHostileInput runs the dbctl binary on
// it, on the part too big or too special to commit, and checks each exact error;
// here every file goes through Load in-process, fast, and seeds FuzzLoad.
const hostileCorpus = "testdata/hostile"

func hostileFiles(tb testing.TB) []string {
	tb.Helper()
	entries, err := os.ReadDir(hostileCorpus)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) < 40 {
		tb.Fatalf("%d files in %s: run go generate ./reconcile/load", len(names), hostileCorpus)
	}
	return names
}

// TestHostileCorpus loads each file of the corpus: "accepted-*" files load, every
// other file fails, each error line naming the file.
func TestHostileCorpus(t *testing.T) {
	for _, name := range hostileFiles(t) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(hostileCorpus, name)
			items, err := Load([]string{path}, Options{})
			if strings.HasPrefix(name, "accepted-") {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				for _, it := range items {
					checkItem(t, it)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %d Databases", len(items))
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, path+":") {
					t.Errorf("error line does not name the file: %q", line)
				}
			}
		})
	}
}
