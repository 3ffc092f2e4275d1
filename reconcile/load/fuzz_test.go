package load

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// fuzzSeeds are documents near the valid ones and the hostile ones.
func fuzzSeeds(t testing.TB) []string {
	seeds := []string{
		postgresFull, mysqlMinimal, withSpec("replicas: 1e400"), withSpec("parameters: {a: 'x'}"),
		"\xef\xbb\xbf" + strings.ReplaceAll(mysqlMinimal, "\n", "\r\n"),
		mysqlMinimal + "---\n" + postgresFull,
		`{"apiVersion":"dbctl.io/v1alpha1","kind":"Database","metadata":{"name":"j"},"spec":{"engine":"mysql","version":"8","storage":{"size":1}}}`,
		"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n",
		"a: &a [*a]\n",
		"spec:\n  <<: {engine: mysql}\n",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		"--- !!map\n? [a]\n: b\n", "\x00", "\xff", "",
	}
	for _, c := range CRDAgreementCases {
		seeds = append(seeds, c.YAML)
	}
	examples, _ := filepath.Glob("../../examples/*.yaml")
	for _, path := range examples {
		if b, err := os.ReadFile(path); err == nil {
			seeds = append(seeds, string(b))
		}
	}
	// The small files of the hostile corpus (the big ones would slow every
	// mutation down and TestHostileCorpus loads them anyway).
	hostile, _ := filepath.Glob(filepath.Join(hostileCorpus, "*"))
	for _, path := range hostile {
		if b, err := os.ReadFile(path); err == nil && len(b) <= 4096 {
			seeds = append(seeds, string(b))
		}
	}
	return seeds
}

// FuzzLoad checks that Load never panics, that every error names the input, and
// that every item is valid, namespaced, and what its Object says: decoding the
// Object again, and loading it again, give the same Database.
func FuzzLoad(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := Load([]string{"-"}, Options{Stdin: bytes.NewReader(data)})
		if err != nil {
			if items != nil {
				t.Fatalf("items with an error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, StdinName+":") {
					t.Fatalf("error line does not name the input: %q", line)
				}
			}
			return
		}
		if len(items) == 0 {
			t.Fatalf("no items and no error")
		}
		for _, it := range items {
			checkItem(t, it)
		}
	})
}

func checkItem(t *testing.T, it Item) {
	t.Helper()
	db := it.Database
	if errs := db.Validate(); len(errs) > 0 {
		t.Fatalf("item does not validate: %v", errs)
	}
	if db.Namespace == "" || it.Object.GetNamespace() != db.Namespace {
		t.Fatalf("namespace: database %q, object %q", db.Namespace, it.Object.GetNamespace())
	}
	var back v1alpha1.Database
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(it.Object.Object, &back); err != nil {
		t.Fatalf("Object does not decode: %v", err)
	}
	back.Default()
	if !apiequality.Semantic.DeepEqual(back.Spec, db.Spec) || back.Name != db.Name || back.Namespace != db.Namespace {
		t.Fatalf("Object decodes to another spec:\n%+v\n%+v", back.Spec, db.Spec)
	}
	raw, err := json.Marshal(it.Object.Object)
	if err != nil {
		t.Fatalf("Object does not marshal: %v", err)
	}
	again, err := Load([]string{"-"}, Options{Stdin: bytes.NewReader(raw)})
	if err != nil {
		t.Fatalf("Object does not load again: %v\n%s", err, raw)
	}
	if !apiequality.Semantic.DeepEqual(again[0].Database.Spec, db.Spec) {
		t.Fatalf("Object loads to another spec:\n%+v\n%+v", again[0].Database.Spec, db.Spec)
	}
}

// TestFuzzSeeds runs the fuzz checks on the seeds in every go test run.
func TestFuzzSeeds(t *testing.T) {
	for _, s := range fuzzSeeds(t) {
		items, err := Load([]string{"-"}, Options{Stdin: strings.NewReader(s)})
		if err != nil {
			continue
		}
		for _, it := range items {
			checkItem(t, it)
		}
	}
}

// TestErrorsNeverShowSecrets loads specs with a secret in every place an error
// could repeat it.
func TestErrorsNeverShowSecrets(t *testing.T) {
	const secret = "hunter2"
	specs := []string{
		withSpec(`parameters: {password: "hunter2\nx"}`),
		withSpec("parameters: {password: " + strings.Repeat(secret, 200) + "}"),
		withSpec("parameters: {password: 12345}") + "  # hunter2\n",
		withSpec("parameters: {password: [hunter2]}"),
		withSpec("parameters: {password: {hunter2: 1}}"),
		withSpec("parameters: {password: true}"),
		withSpec("dependencies: [{name: a, url: 'ftp://hunter2@h'}]"),
		withSpec("dependencies: [{name: a, url: 'ftp://u:hunter2@h'}]"),
		withSpec("dependencies: [{name: a, url: 'https://u:hunter2@'}]"),
		withSpec("dependencies: [{name: a, url: 'http://h?token=hunter2#hunter2', tcp: 'h:1'}]"),
		withSpec("dependencies: [{name: a, url: 'http://u:hunter2@h h'}]"),
		withSpec("dependencies: [{name: a, url: '%zzhunter2'}]"),
		strings.Replace(base, "  name: ledger\n", "  name: ledger\n  annotations: {token: 12345, a: [hunter2]}\n", 1),
	}
	for i, s := range specs {
		_, err := Load([]string{"-"}, Options{Stdin: strings.NewReader(s)})
		if err == nil {
			t.Errorf("spec %d: no error", i)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "12345") {
			t.Errorf("spec %d: the error shows a secret: %s", i, err)
		}
	}
}
