package phases

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

func TestStorageChange(t *testing.T) {
	sts := func(template string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		doc := "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: orders, namespace: shop}\nspec:\n  volumeClaimTemplates:\n" + template
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		return u
	}
	const tenGi = `  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 10Gi}}}
`
	const fastTenGi = `  - metadata: {name: data}
    spec: {storageClassName: fast, resources: {requests: {storage: 10Gi}}}
`
	class := func(c string) func(*v1alpha1.Database) {
		return func(db *v1alpha1.Database) { db.Spec.Storage.StorageClassName = &c }
	}
	size := func(s string) func(*v1alpha1.Database) {
		return func(db *v1alpha1.Database) { db.Spec.Storage.Size = resource.MustParse(s) }
	}
	tests := map[string]struct {
		live   *unstructured.Unstructured
		mutate []func(*v1alpha1.Database)
		want   []string // substrings; none: no message
	}{
		"no StatefulSet":                  {live: nil, mutate: []func(*v1alpha1.Database){size("20Gi")}},
		"same size":                       {live: sts(tenGi)},
		"same size, another notation":     {live: sts(tenGi), mutate: []func(*v1alpha1.Database){size("10240Mi")}},
		"same class":                      {live: sts(fastTenGi), mutate: []func(*v1alpha1.Database){class("fast")}},
		"no data template":                {live: sts("  - metadata: {name: logs}\n    spec: {resources: {requests: {storage: 1Gi}}}\n"), mutate: []func(*v1alpha1.Database){size("20Gi")}},
		"grown (a growth, not a refusal)": {live: sts(tenGi), mutate: []func(*v1alpha1.Database){size("20Gi")}},
		"shrunk": {live: sts(tenGi), mutate: []func(*v1alpha1.Database){size("5Gi")}, want: []string{
			"spec.storage.size cannot shrink from 10Gi to 5Gi on the existing StatefulSet shop/orders: volumes only grow; set it back to 10Gi"}},
		"class set": {live: sts(tenGi), mutate: []func(*v1alpha1.Database){class("fast")}, want: []string{
			`spec.storage.storageClassName cannot change from none (the cluster's default class) to "fast"`, "remove it"}},
		"class changed": {live: sts(fastTenGi), mutate: []func(*v1alpha1.Database){class("slow")}, want: []string{
			`from "fast" to "slow" on the existing StatefulSet shop/orders`, `set it back to "fast"`}},
		"class removed": {live: sts(fastTenGi), want: []string{
			`from "fast" to none (the cluster's default class)`, `set it back to "fast"`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db := testDB(v1alpha1.PhaseReady, tc.mutate...)
			got := StorageChange(db, WorkloadOf(db, tc.live))
			if len(tc.want) == 0 && got != "" {
				t.Fatalf("StorageChange = %q, want none", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("StorageChange = %q\nwant it to contain %q", got, w)
				}
			}
		})
	}
}
