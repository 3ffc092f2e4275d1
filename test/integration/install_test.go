package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/config"
	"github.com/dbctl-io/dbctl/test/testenv"
)

const crdName = "databases.dbctl.io"

func getCRD(t *testing.T, c client.Client) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: crdName}, crd); err != nil {
		t.Fatalf("getting CRD %s: %v", crdName, err)
	}
	return crd
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

// TestInstall installs the CRD into an API server that does not have it, twice.
func TestInstall(t *testing.T) {
	e := testenv.Start(t, testenv.WithoutCRD())

	stdout, stderr, code := runDbctl(t, e, "install")
	if code != 0 {
		t.Fatalf("dbctl install: exit %d, stderr:\n%s", code, stderr)
	}
	if want := "customresourcedefinition.apiextensions.k8s.io/databases.dbctl.io created\n"; stdout != want {
		t.Errorf("first dbctl install printed %q, want %q", stdout, want)
	}
	crd := getCRD(t, e.Client)
	if !established(crd) {
		t.Errorf("after dbctl install the CRD is not Established: %+v", crd.Status.Conditions)
	}
	managers := []string{}
	for _, mf := range crd.ManagedFields {
		managers = append(managers, mf.Manager+"/"+string(mf.Operation))
	}
	if !strings.Contains(strings.Join(managers, ","), "dbctl/Apply") {
		t.Errorf("CRD managed fields %v: want an Apply by field manager dbctl", managers)
	}

	stdout, stderr, code = runDbctl(t, e, "install")
	if code != 0 {
		t.Fatalf("second dbctl install: exit %d, stderr:\n%s", code, stderr)
	}
	if want := "customresourcedefinition.apiextensions.k8s.io/databases.dbctl.io unchanged\n"; stdout != want {
		t.Errorf("second dbctl install printed %q, want %q", stdout, want)
	}
	if after := getCRD(t, e.Client); after.ResourceVersion != crd.ResourceVersion {
		t.Errorf("second dbctl install changed the CRD's resourceVersion: %s -> %s", crd.ResourceVersion, after.ResourceVersion)
	}
}

// TestInstallWaitSurvivesAnExpiredWatch: the watch waiting for Established expires
// (410 Gone) instead of delivering it; install gets the current state again and
// succeeds.
func TestInstallWaitSurvivesAnExpiredWatch(t *testing.T) {
	e := testenv.Start(t, testenv.WithoutCRD())
	fault := &testenv.WatchFault{
		Path:       "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
		ErrorEvent: true,
		Expire: func(_ string, u *unstructured.Unstructured) bool {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, crd) == nil && established(crd)
		},
	}
	proxied := *e
	proxied.Config = fault.Start(t, e.Config)
	stdout, stderr, code := runDbctl(t, &proxied, "install")
	if code != 0 || stdout != "customresourcedefinition.apiextensions.k8s.io/databases.dbctl.io created\n" {
		t.Fatalf("dbctl install: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if !fault.Expired() {
		t.Fatal("the watch did not expire: the test tested nothing")
	}
	if !established(getCRD(t, e.Client)) {
		t.Error("the CRD is not Established")
	}
}

// TestInstallNamesNotAccepted: another CRD of group dbctl.io already uses the kind
// Database, so the API server does not accept the names and never establishes the
// CRD: install says so instead of waiting until --timeout.
func TestInstallNamesNotAccepted(t *testing.T) {
	e := testenv.Start(t, testenv.WithoutCRD())
	other := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "dbs.dbctl.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "dbctl.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "dbs", Singular: "db", Kind: "Database", ListKind: "DatabaseList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object"}}}},
		},
	}
	if err := e.Client.Create(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runDbctl(t, e, "install", "--timeout", "30s")
	if code != 1 || !strings.Contains(stderr, "CustomResourceDefinition databases.dbctl.io names not accepted") {
		t.Fatalf("dbctl install: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestInstallOverExisting runs install where the CRD is already there, created by
// someone else (envtest) from the same file.
func TestInstallOverExisting(t *testing.T) {
	_, stderr, code := runDbctl(t, nil, "install")
	if code != 0 {
		t.Fatalf("dbctl install: exit %d, stderr:\n%s", code, stderr)
	}
	rv := getCRD(t, env.Client).ResourceVersion
	stdout, stderr, code := runDbctl(t, nil, "install")
	if code != 0 || !strings.HasSuffix(stdout, " unchanged\n") {
		t.Fatalf("second dbctl install: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if after := getCRD(t, env.Client).ResourceVersion; after != rv {
		t.Errorf("second dbctl install changed the CRD's resourceVersion: %s -> %s", rv, after)
	}
}

func TestInstallPrint(t *testing.T) {
	stdout, stderr, code := runDbctl(t, nil, "install", "--print")
	if code != 0 {
		t.Fatalf("dbctl install --print: exit %d, stderr:\n%s", code, stderr)
	}
	if stdout != string(config.CRD) {
		t.Errorf("dbctl install --print did not print config/crd/bases/dbctl.io_databases.yaml")
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict([]byte(stdout), crd); err != nil || crd.Name != crdName {
		t.Errorf("dbctl install --print output is not the CRD %s: name %q, err %v", crdName, crd.Name, err)
	}
}

// validDatabase is the smallest valid Database.
func validDatabase(ns, name string) *v1alpha1.Database {
	return &v1alpha1.Database{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.DatabaseSpec{
			Engine:  v1alpha1.EnginePostgres,
			Version: "16",
			Storage: v1alpha1.StorageSpec{Size: resource.MustParse("1Gi")},
		},
	}
}

// TestCRDValidation checks that the API server itself (the CRD's OpenAPI schema and
// CEL rules) rejects invalid Databases, with messages that say what is wrong.
func TestCRDValidation(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	minus5s := &metav1.Duration{Duration: -5 * time.Second}

	tests := []struct {
		name   string
		dbName string
		mutate func(*v1alpha1.Database)
		// want are substrings of the error message.
		want []string
	}{
		{"replicas 0", "", func(db *v1alpha1.Database) { db.Spec.Replicas = new(int32(0)) },
			[]string{"spec.replicas", "should be greater than or equal to 1"}},
		{"replicas 10", "", func(db *v1alpha1.Database) { db.Spec.Replicas = new(int32(10)) },
			[]string{"spec.replicas", "should be less than or equal to 9"}},
		{"engine oracle", "", func(db *v1alpha1.Database) { db.Spec.Engine = "oracle" },
			[]string{"spec.engine", `Unsupported value: "oracle"`, `"postgres", "mysql"`}},
		{"version latest", "", func(db *v1alpha1.Database) { db.Spec.Version = "latest" },
			[]string{"spec.version", `"latest"`, "should match"}},
		{"name of 52 characters", strings.Repeat("a", 52), func(*v1alpha1.Database) {},
			[]string{"metadata.name must be at most 51 characters"}},
		{"name not a DNS-1035 label", "1db", func(*v1alpha1.Database) {},
			[]string{"metadata.name must be a DNS-1035 label"}},
		{"url and tcp", "", func(db *v1alpha1.Database) {
			db.Spec.Dependencies = []v1alpha1.Dependency{{Name: "store", URL: "https://store.example/healthz", TCP: "store.example:9000"}}
		}, []string{"spec.dependencies[0]", "exactly one of url or tcp must be set"}},
		{"neither url nor tcp", "", func(db *v1alpha1.Database) {
			db.Spec.Dependencies = []v1alpha1.Dependency{{Name: "store"}}
		}, []string{"spec.dependencies[0]", "exactly one of url or tcp must be set"}},
		{"ftp url", "", func(db *v1alpha1.Database) {
			db.Spec.Dependencies = []v1alpha1.Dependency{{Name: "store", URL: "ftp://store.example/file"}}
		}, []string{"spec.dependencies[0].url", "must be an http or https URL with a host"}},
		{"size 0", "", func(db *v1alpha1.Database) { db.Spec.Storage.Size = resource.MustParse("0") },
			[]string{"spec.storage.size", "must be a positive quantity"}},
		{"verify timeout -5s", "", func(db *v1alpha1.Database) { db.Spec.Verify.Timeout = minus5s },
			[]string{"spec.verify.timeout", "must be a positive duration"}},
		{"dependency timeout -5s", "", func(db *v1alpha1.Database) {
			db.Spec.Dependencies = []v1alpha1.Dependency{{Name: "store", TCP: "store.example:9000", Timeout: minus5s}}
		}, []string{"spec.dependencies[0].timeout", "must be a positive duration"}},
		{"parameter name", "", func(db *v1alpha1.Database) { db.Spec.Parameters = map[string]v1alpha1.ParameterValue{"bad key": "1"} },
			[]string{"spec.parameters", "parameter names must match"}},
		{"parameter value too long", "", func(db *v1alpha1.Database) {
			db.Spec.Parameters = map[string]v1alpha1.ParameterValue{"shared_preload_libraries": v1alpha1.ParameterValue(strings.Repeat("x", 1025))}
		}, []string{"spec.parameters.shared_preload_libraries", "Too long"}},
		{"parameter value with a line break", "", func(db *v1alpha1.Database) {
			db.Spec.Parameters = map[string]v1alpha1.ParameterValue{"search_path": "public\nfsync = off"}
		}, []string{"spec.parameters.search_path", "should match"}},
		{"username", "", func(db *v1alpha1.Database) { db.Spec.Credentials.Username = "App-User" },
			[]string{"spec.credentials.username", "should match"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.dbName
			if name == "" {
				name = "invalid-" + string(rune('a'+i))
			}
			db := validDatabase(ns, name)
			tt.mutate(db)
			err := env.Client.Create(ctx, db)
			if err == nil {
				t.Fatalf("the API server accepted the Database; want it rejected with %q", tt.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Errorf("got %v, want an Invalid error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestCRDEngineImmutable(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	db := validDatabase(ns, "orders")
	if err := env.Client.Create(ctx, db); err != nil {
		t.Fatalf("creating a valid Database: %v", err)
	}

	changed := db.DeepCopy()
	changed.Spec.Engine = v1alpha1.EngineMySQL
	changed.Spec.Version = "8.4"
	err := env.Client.Update(ctx, changed)
	if err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.engine") || !strings.Contains(err.Error(), "engine is immutable") {
		t.Fatalf("changing the engine: got %v, want Invalid: spec.engine: engine is immutable", err)
	}

	// Other fields can change.
	db.Spec.Replicas = new(int32(3))
	db.Spec.Version = "17"
	if err := env.Client.Update(ctx, db); err != nil {
		t.Errorf("changing replicas and version: %v", err)
	}
}

// TestCRDDefaults creates the smallest Database from YAML (no credentials, verify,
// replicas keys) and checks the defaults the API server fills in.
func TestCRDDefaults(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	u := &unstructured.Unstructured{}
	manifest := `
apiVersion: dbctl.io/v1alpha1
kind: Database
metadata:
  name: orders
  namespace: ` + ns + `
spec:
  engine: postgres
  version: "16"
  storage:
    size: 10Gi
  dependencies:
  - name: backup-store
    url: https://backup.internal/healthz
  - name: queue
    tcp: queue.internal:9000
`
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatalf("creating a valid Database: %v", err)
	}
	db := &v1alpha1.Database{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, db); err != nil {
		t.Fatal(err)
	}
	if db.Spec.Replicas == nil || *db.Spec.Replicas != 1 {
		t.Errorf("spec.replicas = %v, want the default 1", db.Spec.Replicas)
	}
	if db.Spec.Credentials.Username != "app" {
		t.Errorf("spec.credentials.username = %q, want the default app", db.Spec.Credentials.Username)
	}
	if db.Spec.Verify.Timeout == nil || db.Spec.Verify.Timeout.Duration != 10*time.Minute {
		t.Errorf("spec.verify.timeout = %v, want the default 10m", db.Spec.Verify.Timeout)
	}
	for _, d := range db.Spec.Dependencies {
		if d.Timeout == nil || d.Timeout.Duration != 5*time.Second {
			t.Errorf("spec.dependencies[%s].timeout = %v, want the default 5s", d.Name, d.Timeout)
		}
	}
	if got := db.Spec.Storage.Size.String(); got != "10Gi" {
		t.Errorf("spec.storage.size = %s, want 10Gi", got)
	}
}
