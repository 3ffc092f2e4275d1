package load

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

const postgresFull = `# everything set
apiVersion: dbctl.io/v1alpha1
kind: Database
metadata:
  name: orders
  namespace: shop
  labels: {team: payments}
  annotations: {note: "hello"}
spec:
  engine: postgres
  version: "16"
  image: registry.example.com/postgres:16.4
  replicas: 3
  storage:
    size: 10Gi
    storageClassName: fast
  resources:
    requests: {cpu: 250m, memory: 256Mi}
    limits: {memory: 512Mi}
  parameters:
    max_connections: "200"
    shared_buffers: 256MB
  credentials:
    username: orders_app
  dependencies:
  - name: backup-store
    url: https://backup.internal/healthz
    timeout: 2s
  - name: kafka
    tcp: kafka.internal:9092
  verify:
    timeout: 15m
`

const mysqlMinimal = `apiVersion: dbctl.io/v1alpha1
kind: Database
metadata:
  name: ledger
spec:
  engine: mysql
  version: "8.4"
  storage:
    size: 1Gi
`

// writeFiles creates files (name -> content) in a new directory and makes it the
// working directory, so that errors name the files as written here.
func writeFiles(t *testing.T, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
}

func TestLoadGood(t *testing.T) {
	tests := map[string]struct {
		files map[string]string
		paths []string
		stdin string
		opts  Options
		check func(t *testing.T, items []Item)
	}{
		"postgres with everything": {
			files: map[string]string{"pg.yaml": postgresFull},
			paths: []string{"pg.yaml"},
			check: func(t *testing.T, items []Item) {
				db := one(t, items)
				s := db.Spec
				if db.Namespace != "shop" || db.Name != "orders" || s.Engine != v1alpha1.EnginePostgres || *s.Replicas != 3 ||
					s.Storage.Size.Cmp(resource.MustParse("10Gi")) != 0 || *s.Storage.StorageClassName != "fast" ||
					s.Parameters["shared_buffers"] != "256MB" || s.Credentials.Username != "orders_app" ||
					s.Dependencies[0].Timeout.Duration != 2*time.Second || s.Dependencies[1].TCP != "kafka.internal:9092" ||
					s.Dependencies[1].Timeout.Duration != v1alpha1.DefaultDependencyTimeout ||
					s.Verify.Timeout.Duration != 15*time.Minute || db.Labels["team"] != "payments" ||
					s.Resources.Limits.Memory().String() != "512Mi" {
					t.Errorf("decoded wrong: %+v", db)
				}
				if got := items[0].Source; got != (Source{File: "pg.yaml", Document: 1, Line: 2}) {
					t.Errorf("source = %+v", got)
				}
			},
		},
		"mysql minimal gets the defaults": {
			files: map[string]string{"my.yaml": mysqlMinimal},
			paths: []string{"my.yaml"},
			check: func(t *testing.T, items []Item) {
				db := one(t, items)
				if *db.Spec.Replicas != 1 || db.Spec.Credentials.Username != "app" ||
					db.Spec.Verify.Timeout.Duration != 10*time.Minute || db.Namespace != "default" {
					t.Errorf("defaults not applied: %+v", db.Spec)
				}
				spec := items[0].Object.Object["spec"].(map[string]any)
				for _, key := range []string{"replicas", "credentials", "verify"} {
					if _, ok := spec[key]; ok {
						t.Errorf("Object has a default %s: %v", key, spec)
					}
				}
				if ns := items[0].Object.GetNamespace(); ns != "default" {
					t.Errorf("Object namespace = %q", ns)
				}
			},
		},
		"dependency timeout defaults to 5s": {
			stdin: mysqlMinimal + "  dependencies: [{name: s3, url: 'https://s3.internal'}]\n",
			paths: []string{"-"},
			check: func(t *testing.T, items []Item) {
				if d := one(t, items).Spec.Dependencies[0].Timeout.Duration; d != 5*time.Second {
					t.Errorf("timeout = %v", d)
				}
			},
		},
		"namespace from options": {
			files: map[string]string{"my.yaml": mysqlMinimal},
			paths: []string{"my.yaml"},
			opts:  Options{Namespace: "team-a"},
			check: func(t *testing.T, items []Item) {
				if ns := one(t, items).Namespace; ns != "team-a" || items[0].Object.GetNamespace() != "team-a" {
					t.Errorf("namespace = %q", ns)
				}
			},
		},
		"explicit namespace matching the document": {
			files: map[string]string{"pg.yaml": postgresFull},
			paths: []string{"pg.yaml"},
			opts:  Options{Namespace: "shop", NamespaceExplicit: true},
			check: func(t *testing.T, items []Item) { one(t, items) },
		},
		"namespace of the document wins without -n": {
			files: map[string]string{"pg.yaml": postgresFull},
			paths: []string{"pg.yaml"},
			opts:  Options{Namespace: "other"},
			check: func(t *testing.T, items []Item) {
				if ns := one(t, items).Namespace; ns != "shop" {
					t.Errorf("namespace = %q", ns)
				}
			},
		},
		"JSON input": {
			files: map[string]string{"db.json": `{"apiVersion": "dbctl.io/v1alpha1", "kind": "Database",
 "metadata": {"name": "j"},
 "spec": {"engine": "mariadb", "version": "11.4", "replicas": 2, "storage": {"size": 5368709120}}}
{"apiVersion": "dbctl.io/v1alpha1", "kind": "Database", "metadata": {"name": "k"},
 "spec": {"engine": "postgres", "version": "15", "storage": {"size": "1Gi"}}}`},
			paths: []string{"db.json"},
			check: func(t *testing.T, items []Item) {
				if len(items) != 2 || *items[0].Database.Spec.Replicas != 2 || items[0].Database.Spec.Storage.Size.Cmp(resource.MustParse("5Gi")) != 0 ||
					items[1].Source != (Source{File: "db.json", Document: 2, Line: 4}) {
					t.Errorf("items = %+v", items)
				}
			},
		},
		"multi-document with empty documents and comments": {
			files: map[string]string{"all.yaml": "---\n# nothing here\n---\n" + postgresFull + "---\n" + mysqlMinimal + "---\n"},
			paths: []string{"all.yaml"},
			check: func(t *testing.T, items []Item) {
				if len(items) != 2 || items[0].Source != (Source{File: "all.yaml", Document: 2, Line: 5}) ||
					items[1].Source != (Source{File: "all.yaml", Document: 3, Line: 37}) {
					t.Errorf("sources = %+v, %+v", items[0].Source, items[len(items)-1].Source)
				}
			},
		},
		"stdin": {
			stdin: mysqlMinimal,
			paths: []string{"-"},
			check: func(t *testing.T, items []Item) {
				if one(t, items); items[0].Source.File != "<stdin>" {
					t.Errorf("source = %+v", items[0].Source)
				}
			},
		},
		"a directory, sorted by name, other files ignored": {
			files: map[string]string{
				"dbs/b.yml":       mysqlMinimal,
				"dbs/a.yaml":      postgresFull,
				"dbs/c.json":      `{"apiVersion":"dbctl.io/v1alpha1","kind":"Database","metadata":{"name":"c"},"spec":{"engine":"mysql","version":"8","storage":{"size":"1Gi"}}}`,
				"dbs/README.md":   "# not a spec",
				"dbs/sub/x.yaml":  "not: read",
				"dbs/notes.txt":   "hello",
				"dbs/.hidden.bak": "x",
			},
			paths: []string{"dbs"},
			check: func(t *testing.T, items []Item) {
				var files []string
				for _, it := range items {
					files = append(files, it.Source.File)
				}
				if got := strings.Join(files, ","); got != filepath.Join("dbs", "a.yaml")+","+filepath.Join("dbs", "b.yml")+","+filepath.Join("dbs", "c.json") {
					t.Errorf("files = %s", got)
				}
			},
		},
		"BOM and CRLF accepted": {
			files: map[string]string{"win.yaml": "\xef\xbb\xbf" + strings.ReplaceAll(postgresFull, "\n", "\r\n")},
			paths: []string{"win.yaml"},
			check: func(t *testing.T, items []Item) {
				if db := one(t, items); db.Name != "orders" || db.Spec.Parameters["shared_buffers"] != "256MB" {
					t.Errorf("decoded wrong: %+v", db)
				}
			},
		},
		"YAML anchors and merge keys": {
			stdin: "apiVersion: dbctl.io/v1alpha1\nkind: Database\nmetadata: {name: m, labels: &l {a: b}, annotations: *l}\n" +
				"spec:\n  engine: mysql\n  version: '8'\n  storage: {size: 1Gi}\n" +
				"  dependencies:\n  - &d {name: one, tcp: 'h:1'}\n  - <<: *d\n    name: two\n",
			paths: []string{"-"},
			check: func(t *testing.T, items []Item) {
				db := one(t, items)
				if db.Annotations["a"] != "b" || db.Spec.Dependencies[1].Name != "two" || db.Spec.Dependencies[1].TCP != "h:1" {
					t.Errorf("decoded wrong: %+v", db)
				}
			},
		},
		"null fields are absent": {
			stdin: mysqlMinimal + "  replicas: null\n  image:\n  verify: {timeout: ~}\n",
			paths: []string{"-"},
			check: func(t *testing.T, items []Item) {
				if db := one(t, items); *db.Spec.Replicas != 1 || db.Spec.Verify.Timeout.Duration != 10*time.Minute {
					t.Errorf("decoded wrong: %+v", db.Spec)
				}
				if spec := items[0].Object.Object["spec"].(map[string]any); spec["replicas"] != nil || spec["image"] != nil ||
					len(spec["verify"].(map[string]any)) != 0 {
					t.Errorf("Object keeps nulls: %v", spec)
				}
			},
		},
		"the same name in two namespaces": {
			files: map[string]string{"a.yaml": mysqlMinimal, "b.yaml": strings.Replace(mysqlMinimal, "name: ledger", "name: ledger\n  namespace: other", 1)},
			paths: []string{"a.yaml", "b.yaml"},
			check: func(t *testing.T, items []Item) {
				if len(items) != 2 {
					t.Errorf("items = %d", len(items))
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			writeFiles(t, tc.files)
			opts := tc.opts
			opts.Stdin = strings.NewReader(tc.stdin)
			items, err := Load(tc.paths, opts)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			for _, it := range items {
				if errs := it.Database.Validate(); len(errs) > 0 {
					t.Errorf("item does not validate: %v", errs)
				}
			}
			tc.check(t, items)
		})
	}
}

func one(t *testing.T, items []Item) *v1alpha1.Database {
	t.Helper()
	if len(items) != 1 {
		t.Fatalf("got %d items, want 1", len(items))
	}
	return items[0].Database
}
