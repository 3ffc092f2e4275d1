package render_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"github.com/dbctl-io/dbctl/test/golden"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/reconcile/render"
)

const password = "pa55-w0rd-that-must-never-show-up-anywhere"

func obj(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func sts(t *testing.T, replicas int, hash string) *unstructured.Unstructured {
	return obj(t, `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: orders
  namespace: shop
  resourceVersion: "42"
  uid: 0b7f
  managedFields: [{manager: dbctl, operation: Apply}]
spec:
  replicas: `+itoa(replicas)+`
  serviceName: orders-headless
  template:
    metadata:
      annotations: {dbctl.io/config-hash: `+hash+`}
    spec:
      containers: [{name: postgres, image: "postgres:16"}]
status: {readyReplicas: 3}
`)
}

func itoa(i int) string { return string(rune('0' + i)) }

func secret(t *testing.T, user string) *unstructured.Unstructured {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	return obj(t, `apiVersion: v1
kind: Secret
metadata: {name: orders-credentials, namespace: shop}
type: Opaque
data:
  username: `+b64(user)+`
  password: `+b64(password)+`
  uri: `+b64("postgresql://"+user+":"+password+"@orders.shop.svc:5432/"+user)+`
`)
}

func TestChangeLinesUpdateWithDiff(t *testing.T) {
	c := reconcile.NewChange(v1alpha1.PhaseDeploying, "StatefulSet", sts(t, 3, "6690d82baad2700d"), sts(t, 1, "1a2b3c4d5e6f7a8b"))
	got := strings.Join(render.ChangeLines(c, render.ChangeOptions{Diff: true}), "\n")
	want := `~ StatefulSet shop/orders
    spec.replicas: 3 → 1
    spec.template.metadata.annotations.dbctl.io/config-hash: 6690d82baad2700d → 1a2b3c4d5e6f7a8b
  --- StatefulSet shop/orders (live)
  +++ StatefulSet shop/orders (planned)
  @@ -4,12 +4,12 @@
     name: orders
     namespace: shop
   spec:
  -  replicas: 3
  +  replicas: 1
     serviceName: orders-headless
     template:
       metadata:
         annotations:
  -        dbctl.io/config-hash: 6690d82baad2700d
  +        dbctl.io/config-hash: 1a2b3c4d5e6f7a8b
       spec:
         containers:
         - image: postgres:16`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestChangeLinesSecretNeverShowsAValue(t *testing.T) {
	c := reconcile.NewChange(v1alpha1.PhaseProvisioning, "Secret", secret(t, "app"), secret(t, "shop"))
	got := strings.Join(render.ChangeLines(c, render.ChangeOptions{Diff: true}), "\n")
	want := `~ Secret shop/orders-credentials
    data.uri: (sensitive value changed)
    data.username: (sensitive value changed)
  --- Secret shop/orders-credentials (live)
  +++ Secret shop/orders-credentials (planned)
  @@ -1,8 +1,8 @@
   apiVersion: v1
   data:
     password: (sensitive value)
  -  uri: (sensitive value)
  -  username: (sensitive value)
  +  uri: (sensitive value changed)
  +  username: (sensitive value changed)
   kind: Secret
   metadata:
     name: orders-credentials`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// A create: keys and placeholders, no length.
	c = reconcile.NewChange(v1alpha1.PhaseProvisioning, "Secret", nil, secret(t, "app"), "password", "uri")
	got = strings.Join(render.ChangeLines(c, render.ChangeOptions{}), "\n")
	want = `+ Secret shop/orders-credentials
    type: Opaque
    data.password: (generated at apply)
    data.uri: (generated at apply)
    data.username: (sensitive value)`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// Even a change whose masking was skipped at the source shows no value.
	raw := reconcile.Change{Action: reconcile.ActionUpdate, Kind: "Secret", Namespace: "shop", Name: "orders-credentials",
		Before: secret(t, "app"), After: secret(t, "shop"),
		Fields: []reconcile.FieldChange{{Path: "data.username", Old: "YXBw", New: "c2hvcA=="}}}
	for _, objects := range []bool{false, true} {
		out := strings.Join(render.ChangeLines(raw, render.ChangeOptions{Diff: true, Objects: objects}), "\n")
		raw.Action = reconcile.ActionCreate
		out += strings.Join(render.ChangeLines(raw, render.ChangeOptions{Objects: objects}), "\n")
		var js bytes.Buffer
		_ = render.WriteJSON(&js, render.NewPlanDocument([]*reconcile.Plan{{Namespace: "shop", Name: "orders", Changes: []reconcile.Change{raw}}}, nil, false))
		out += js.String()
		for _, form := range []string{password, base64.StdEncoding.EncodeToString([]byte(password)), "YXBw", "c2hvcA"} {
			if strings.Contains(out, form) {
				t.Errorf("a secret value %q shows:\n%s", form, out)
			}
		}
		raw.Action = reconcile.ActionUpdate
	}
}

func TestChangeLinesConflictAndColour(t *testing.T) {
	c := reconcile.NewChange(v1alpha1.PhaseDeploying, "StatefulSet", sts(t, 2, "h"), sts(t, 3, "h"))
	c.Conflict = "argocd-controller: .spec.replicas"
	got := strings.Join(render.ChangeLines(c, render.ChangeOptions{}), "\n")
	want := `! StatefulSet shop/orders: conflict with another applier
    owned by another applier: argocd-controller: .spec.replicas
    reconcile stops here: remove these fields from that tool's manifests, or rerun with --force-conflicts to take them
    spec.replicas: 2 → 3`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	plain := reconcile.NewChange(v1alpha1.PhaseDeploying, "StatefulSet", sts(t, 2, "h"), nil)
	if got := render.ChangeLines(plain, render.ChangeOptions{Style: render.NewStyle(true)})[0]; got != "\x1b[31m- StatefulSet shop/orders\x1b[0m" {
		t.Errorf("coloured delete: %q", got)
	}
	if got := render.ChangeLines(plain, render.ChangeOptions{Style: render.NewStyle(false)})[0]; got != "- StatefulSet shop/orders" {
		t.Errorf("plain delete: %q", got)
	}
}

func database(name string, replicas int32) *v1alpha1.Database {
	return &v1alpha1.Database{
		TypeMeta:   metav1.TypeMeta{APIVersion: "dbctl.io/v1alpha1", Kind: "Database"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Spec: v1alpha1.DatabaseSpec{Engine: v1alpha1.EnginePostgres, Version: "16", Replicas: &replicas,
			Storage:    v1alpha1.StorageSpec{Size: resource.MustParse("10Gi")},
			Parameters: map[string]v1alpha1.ParameterValue{"max_connections": "200"}},
	}
}

func offlinePlans(t *testing.T) []*reconcile.Plan {
	t.Helper()
	var plans []*reconcile.Plan
	for i, db := range []*v1alpha1.Database{database("orders", 3), database("ledger", 1)} {
		db.Default()
		p, err := reconcile.PlanOffline(db, "databases.yaml: document "+itoa(i+1))
		if err != nil {
			t.Fatal(err)
		}
		plans = append(plans, p)
	}
	return plans
}

func TestPlanGoldenOffline(t *testing.T) {
	plans := offlinePlans(t)
	var b bytes.Buffer
	if err := render.WritePlans(&b, plans[:1], render.PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "plan-offline.txt", b.String())
	b.Reset()
	if err := render.WritePlans(&b, plans, render.PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "plan-offline-several.txt", b.String())
	if !strings.HasSuffix(b.String(), "\nTotal: 14 to add, 0 to change, 0 to delete, 0 unchanged.\n") {
		t.Errorf("no total line:\n%s", b.String())
	}
	if strings.Contains(b.String(), "\x1b[") {
		t.Error("colour codes with colour off")
	}
}

func TestPlanJSONValidatesAgainstTheSchema(t *testing.T) {
	plans := offlinePlans(t)
	// An update with a conflict, a Secret change and a delete, from the cluster.
	upd := &reconcile.Plan{Namespace: "shop", Name: "orders", Phase: v1alpha1.PhaseReady,
		Path:     []v1alpha1.Phase{v1alpha1.PhaseReady, v1alpha1.PhaseUpdating, v1alpha1.PhaseVerifying, v1alpha1.PhaseReady},
		Database: reconcile.Change{Action: reconcile.ActionUnchanged, Kind: "Database", Namespace: "shop", Name: "orders"}}
	c := reconcile.NewChange(v1alpha1.PhaseDeploying, "StatefulSet", sts(t, 2, "h"), sts(t, 3, "h"))
	c.Conflict = "argocd-controller: .spec.replicas"
	upd.Changes = []reconcile.Change{
		reconcile.NewChange(v1alpha1.PhaseProvisioning, "Secret", secret(t, "app"), secret(t, "shop")),
		c,
		reconcile.NewChange(v1alpha1.PhaseDeploying, "PodDisruptionBudget", obj(t, "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: orders, namespace: shop}\n"), nil),
	}
	plans = append(plans, upd)
	var b bytes.Buffer
	doc := render.NewPlanDocument(plans, []render.PlanError{{Namespace: "shop", Name: "x", Source: "f.yaml: document 3", Message: "boom"}}, false)
	if err := render.WriteJSON(&b, doc); err != nil {
		t.Fatal(err)
	}
	if err := golden.ValidateJSON(t, golden.PlanSchemaPath, b.Bytes()); err != nil {
		t.Fatalf("the JSON plan does not validate: %v\n%s", err, b.String())
	}
	if strings.Contains(b.String(), password) || strings.Contains(b.String(), base64.StdEncoding.EncodeToString([]byte(password))) {
		t.Error("the password shows in the JSON plan")
	}
	var back render.PlanDocument
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Counts != (render.Counts{Add: 14, Change: 2, Delete: 1, Conflicts: 1}) || !back.HasChanges {
		t.Errorf("counts %+v", back.Counts)
	}
	f := back.Databases[2].Changes[0].Fields
	if len(f) != 2 || f[1].Path != "data.username" || !f[1].Sensitive || *f[1].Old != reconcile.SensitiveChanged {
		t.Errorf("secret fields %+v", f)
	}

	// The schema is strict about what matters: a sensitive field with a value, a
	// missing formatVersion.
	bad := strings.Replace(b.String(), `"(sensitive value changed)"`, `"YXBw"`, 1)
	if err := golden.ValidateJSON(t, golden.PlanSchemaPath, []byte(bad)); err == nil {
		t.Error("the schema accepts a sensitive field with a value")
	}
	bad = strings.Replace(b.String(), `"formatVersion": 2`, `"formatVersion": 1`, 1)
	if err := golden.ValidateJSON(t, golden.PlanSchemaPath, []byte(bad)); err == nil {
		t.Error("the schema accepts formatVersion 1")
	}
	bad = strings.Replace(b.String(), `"cost": []`, `"cost": [{"class": "explodes"}]`, 1)
	if err := golden.ValidateJSON(t, golden.PlanSchemaPath, []byte(bad)); err == nil {
		t.Error("the schema accepts an unknown cost class")
	}
}
