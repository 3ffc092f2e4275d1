package engine_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/phases/engine"
)

// TestMySQLConfigUnchanged: the mysql engine's my.cnf is byte for byte what the
// phases package renders into the ConfigMap today (mysql keeps the official
// image's entrypoint; changing its config would restart existing Databases).
func TestMySQLConfigUnchanged(t *testing.T) {
	for name, params := range map[string]map[string]string{
		"defaults":        nil,
		"override":        {"max_connections": "500", "innodb_buffer_pool_size": "1G"},
		"fixed ignored":   {"port": "1", "datadir": "/tmp"},
		"default spelled": {"bind-address": "127.0.0.1", "skip-name-resolve": "OFF"},
	} {
		t.Run(name, func(t *testing.T) {
			db := &v1alpha1.Database{
				ObjectMeta: metav1.ObjectMeta{Name: "ledger", Namespace: "finance"},
				Spec: v1alpha1.DatabaseSpec{Engine: v1alpha1.EngineMySQL, Version: "8.4",
					Storage: v1alpha1.StorageSpec{Size: resource.MustParse("5Gi")}},
			}
			if params != nil {
				db.Spec.Parameters = map[string]v1alpha1.ParameterValue{}
				for k, v := range params {
					db.Spec.Parameters[k] = v1alpha1.ParameterValue(v)
				}
			}
			children, err := phases.Desired(db, phases.Inputs{Password: "x"})
			if err != nil {
				t.Fatal(err)
			}
			var want string
			for _, c := range children {
				if c.Kind == phases.KindConfigMap {
					want, _, _ = unstructuredString(c.Desired.Object, "data", "my.cnf")
				}
			}
			files, err := engine.Files(engine.Input{Engine: engine.MySQL, Parameters: params, StorageSize: db.Spec.Storage.Size})
			if err != nil {
				t.Fatal(err)
			}
			if want == "" || files["my.cnf"] != want {
				t.Fatalf("my.cnf differs from phases'\n--- engine\n%s\n--- phases\n%s", files["my.cnf"], want)
			}
		})
	}
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[f]
	}
	s, ok := cur.(string)
	return s, ok, nil
}
