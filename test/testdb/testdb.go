// Package testdb builds Database documents for tests and benchmarks: the one
// builder, so that a change to what a minimal Database needs is made once.
package testdb

import (
	"cmp"
	"fmt"
	"strings"
)

// Spec describes a Database document; zero fields take the defaults.
type Spec struct {
	// Name of the Database; Namespace "" leaves metadata.namespace out (dbctl then
	// takes -n or the kubeconfig's namespace).
	Name, Namespace string
	// Engine (default postgres) and Version (default "16").
	Engine, Version string
	// Replicas, written as given: 0 is invalid, for tests of bad input.
	Replicas int
	// Size of the volumes (default 1Gi).
	Size string
	// Extra are more lines of the spec, each indented by two spaces, e.g.
	// "  parameters: {max_connections: \"200\"}".
	Extra string
}

// YAML renders the Database document.
func YAML(s Spec) string {
	var b strings.Builder
	b.WriteString("apiVersion: dbctl.io/v1alpha1\nkind: Database\nmetadata:\n")
	fmt.Fprintf(&b, "  name: %s\n", s.Name)
	if s.Namespace != "" {
		fmt.Fprintf(&b, "  namespace: %s\n", s.Namespace)
	}
	fmt.Fprintf(&b, "spec:\n  engine: %s\n  version: %q\n  replicas: %d\n  storage: {size: %s}\n",
		cmp.Or(s.Engine, "postgres"), cmp.Or(s.Version, "16"), s.Replicas, cmp.Or(s.Size, "1Gi"))
	if s.Extra != "" {
		b.WriteString(strings.TrimRight(s.Extra, "\n") + "\n")
	}
	return b.String()
}

// Postgres is a PostgreSQL 16 Database of 1Gi volumes.
func Postgres(namespace, name string, replicas int, extra string) string {
	return YAML(Spec{Name: name, Namespace: namespace, Replicas: replicas, Extra: extra})
}
