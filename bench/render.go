package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/load"
	"github.com/dbctl-io/dbctl/test/testdb"
)

// twinPassword is the password of the kubectl twin's credentials Secret: the twin
// has no generator, so its Secret is a fixed object (the same shape as dbctl's).
const twinPassword = "bench-twin-password-0123456789abcdef0123"

// dbSpec is one Database of a scenario.
type dbSpec struct {
	Name      string
	Namespace string
	Replicas  int
}

// databaseYAML is the Database document dbctl reconciles.
func databaseYAML(d dbSpec) string {
	return testdb.YAML(testdb.Spec{Name: d.Name, Namespace: d.Namespace, Replicas: d.Replicas,
		Extra: "  parameters:\n    max_connections: \"200\""})
}

// writeDatabases writes one file per Database into dir (created) and returns the
// file paths.
func writeDatabases(dir string, dbs []dbSpec) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, d := range dbs {
		p := filepath.Join(dir, d.Name+".yaml")
		if err := os.WriteFile(p, []byte(databaseYAML(d)), 0o644); err != nil {
			return nil, err
		}
		files = append(files, p)
	}
	return files, nil
}

// twinObjects renders, with dbctl's own renderer (phases.Desired), the children dbctl
// would write for the Database d, as a multi-document YAML for `kubectl apply
// --server-side`: the same objects, without the owner reference (the twin has no
// Database object), and with a fixed password.
func twinObjects(d dbSpec) ([]byte, error) {
	// Load the Database the way dbctl does (strict decoding, defaults).
	tmp, err := os.CreateTemp("", "dbctl-bench-*.yaml")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(databaseYAML(d)); err != nil {
		return nil, err
	}
	tmp.Close()
	items, err := load.Load([]string{tmp.Name()}, load.Options{})
	if err != nil {
		return nil, err
	}
	children, err := phases.Desired(items[0].Database, phases.Inputs{Password: twinPassword})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, c := range children {
		if c.Desired == nil { // a child this Database does not have (e.g. a backup's)
			continue
		}
		u := c.Desired.DeepCopy()
		u.SetOwnerReferences(nil)
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			return nil, err
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// writeTwins writes the twin objects of each Database into dir, one file per
// Database, and returns the file paths.
func writeTwins(dir string, dbs []dbSpec) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, d := range dbs {
		b, err := twinObjects(d)
		if err != nil {
			return nil, fmt.Errorf("rendering the kubectl twin of %s/%s: %w", d.Namespace, d.Name, err)
		}
		p := filepath.Join(dir, d.Name+".yaml")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, err
		}
		files = append(files, p)
	}
	return files, nil
}

// databases returns n Databases named prefix-000… in namespace.
func databases(prefix, namespace string, n, replicas int) []dbSpec {
	out := make([]dbSpec, n)
	for i := range out {
		out[i] = dbSpec{Name: fmt.Sprintf("%s-%03d", prefix, i), Namespace: namespace, Replicas: replicas}
	}
	return out
}
