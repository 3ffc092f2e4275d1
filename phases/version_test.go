package phases

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

func TestVersionChange(t *testing.T) {
	sts := func(container, image string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		doc := "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: orders, namespace: shop}\n" +
			"spec: {template: {spec: {containers: [{name: sidecar, image: 'busybox:1'}, {name: " + container + ", image: '" + image + "'}]}}}\n"
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		return u
	}
	db := func(engine v1alpha1.Engine, version, image string) *v1alpha1.Database {
		return testDB(v1alpha1.PhaseReady, func(db *v1alpha1.Database) {
			db.Spec.Engine, db.Spec.Version, db.Spec.Image = engine, version, image
		})
	}
	pg, my := v1alpha1.EnginePostgres, v1alpha1.EngineMySQL
	tests := map[string]struct {
		db   *v1alpha1.Database
		live *unstructured.Unstructured
		want []string // substrings; none: no message
	}{
		"no StatefulSet":                   {db: db(pg, "17", ""), live: nil},
		"postgres same version":            {db: db(pg, "16", ""), live: sts("postgres", "postgres:16")},
		"postgres minor up":                {db: db(pg, "16.4", ""), live: sts("postgres", "postgres:16.2")},
		"postgres minor down":              {db: db(pg, "16.2", ""), live: sts("postgres", "postgres:16.4")},
		"postgres major to minor notation": {db: db(pg, "16.4", ""), live: sts("postgres", "postgres:16")},
		"postgres major up": {db: db(pg, "17", ""), live: sts("postgres", "postgres:16"), want: []string{
			"spec.version cannot change PostgreSQL from 16 to 17 on the existing StatefulSet shop/orders",
			"set it back to 16", "pg_upgrade"}},
		"postgres major down": {db: db(pg, "15.3", ""), live: sts("postgres", "postgres:16.1"), want: []string{
			"from 16.1 to 15.3", "set it back to 16.1"}},
		"postgres, spec.image set":         {db: db(pg, "17", "registry.internal/pg:17"), live: sts("postgres", "postgres:16")},
		"postgres, live image not dbctl's": {db: db(pg, "17", ""), live: sts("postgres", "registry.internal/pg:16")},
		"postgres, live tag not a version": {db: db(pg, "17", ""), live: sts("postgres", "postgres:16-alpine")},
		"postgres, no engine container":    {db: db(pg, "17", ""), live: sts("db", "postgres:16")},
		"mysql up":                         {db: db(my, "8.4", ""), live: sts("mysql", "mysql:8.0")},
		"mysql major up":                   {db: db(my, "9", ""), live: sts("mysql", "mysql:8.4")},
		"mysql same major, minor unknown":  {db: db(my, "8", ""), live: sts("mysql", "mysql:8.4")},
		"mysql down": {db: db(my, "8.0", ""), live: sts("mysql", "mysql:8.4"), want: []string{
			"spec.version cannot change MySQL from 8.4 to 8.0 on the existing StatefulSet shop/orders",
			"does not downgrade", "set it back to 8.4"}},
		"mysql major down": {db: db(my, "5.7", ""), live: sts("mysql", "mysql:8"), want: []string{"from 8 to 5.7"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := VersionChange(tc.db, WorkloadOf(tc.db, tc.live))
			if len(tc.want) == 0 && got != "" {
				t.Fatalf("VersionChange = %q, want none", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("VersionChange = %q\nwant it to contain %q", got, w)
				}
			}
		})
	}
}
