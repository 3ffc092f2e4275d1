package phases

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/test/golden"
)

func renderChildren(t *testing.T, db *v1alpha1.Database) []byte {
	t.Helper()
	children, err := Desired(db, Inputs{Password: "test-password-not-secret"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, c := range children {
		if c.Want != Present {
			continue
		}
		y, err := yaml.Marshal(c.Desired.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("# phase: " + string(c.Phase) + "\n---\n")
		b.Write(y)
	}
	return b.Bytes()
}

func TestChildrenPerEngine(t *testing.T) {
	storageClass := "fast"
	tests := map[string]*v1alpha1.Database{
		"postgres.golden.yaml": {
			ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop", UID: "11111111-2222-3333-4444-555555555555"},
			Spec: v1alpha1.DatabaseSpec{
				Engine: v1alpha1.EnginePostgres, Version: "16", Replicas: ptr(int32(3)),
				Storage:    v1alpha1.StorageSpec{Size: resource.MustParse("10Gi"), StorageClassName: &storageClass},
				Parameters: map[string]v1alpha1.ParameterValue{"max_connections": "200", "port": "6000", "search_path": "app, 'public'"},
			},
		},
		"mariadb-backup-restore.golden.yaml": {
			ObjectMeta: metav1.ObjectMeta{Name: "reports", Namespace: "shop", UID: "22222222-2222-3333-4444-555555555555"},
			Spec: v1alpha1.DatabaseSpec{
				Engine: v1alpha1.EngineMariaDB, Version: "10.11", Replicas: ptr(int32(2)),
				Storage: v1alpha1.StorageSpec{Size: resource.MustParse("10Gi")},
				Backup: &v1alpha1.BackupSpec{Schedule: "CRON_TZ=UTC 30 2 * * *", Keep: 3,
					Storage: v1alpha1.StorageSpec{Size: resource.MustParse("20Gi"), StorageClassName: &storageClass}},
				Bootstrap:      &v1alpha1.BootstrapSpec{FromBackup: &v1alpha1.FromBackupSpec{Database: "orders"}},
				DeletionPolicy: v1alpha1.DeletionDelete,
			},
		},
		"mysql.golden.yaml": {
			ObjectMeta: metav1.ObjectMeta{Name: "ledger", Namespace: "finance", UID: "66666666-7777-8888-9999-000000000000"},
			Spec: v1alpha1.DatabaseSpec{
				Engine: v1alpha1.EngineMySQL, Version: "8.4",
				Storage:     v1alpha1.StorageSpec{Size: resource.MustParse("5Gi")},
				Credentials: v1alpha1.CredentialsSpec{Username: "ledger"},
			},
		},
	}
	for name, db := range tests {
		t.Run(name, func(t *testing.T) {
			db.Default()
			golden.Assert(t, name, string(renderChildren(t, db)))
		})
	}
}

// deletionPolicy: Delete gives the Secrets their owner reference and the data
// PVCs to the StatefulSets' garbage; Retain neither.
func TestDeletionPolicy(t *testing.T) {
	for policy, want := range map[v1alpha1.DeletionPolicy]struct {
		secretOwners int
		whenDeleted  string
	}{v1alpha1.DeletionRetain: {0, "Retain"}, v1alpha1.DeletionDelete: {1, "Delete"}} {
		db := testDB(v1alpha1.PhasePending, func(db *v1alpha1.Database) { db.Spec.DeletionPolicy = policy })
		children, err := Desired(db, Inputs{Password: "pw", ReplicationPassword: "rpw"})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range children {
			switch c.Kind {
			case KindSecret:
				if n := len(c.Desired.GetOwnerReferences()); n != want.secretOwners {
					t.Errorf("%s: %s has %d owner references", policy, c.ID(), n)
				}
			case KindStatefulSet:
				got, _, _ := unstructured.NestedString(c.Desired.Object, "spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted")
				if got != want.whenDeleted {
					t.Errorf("%s: %s whenDeleted %q", policy, c.ID(), got)
				}
			}
		}
		owned := &metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "Database", Name: db.Name, UID: db.UID, Controller: ptrTo(true)}}}
		if got := KeptOwned(db, KindSecret, owned); got != (policy == v1alpha1.DeletionRetain) {
			t.Errorf("%s: KeptOwned = %v", policy, got)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

func withBackup(db *v1alpha1.Database) {
	db.Spec.Backup = &v1alpha1.BackupSpec{Schedule: "0 3 * * *", Keep: 7, Storage: v1alpha1.StorageSpec{Size: resource.MustParse("5Gi")}}
}

func TestChildrenLabelsAndOwner(t *testing.T) {
	db := testDB(v1alpha1.PhasePending, withBackup)
	children, err := Desired(db, Inputs{Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range children {
		if c.Want != Present {
			t.Errorf("%s: want %v at 3 replicas", c.ID(), c.Want)
		}
		kinds = append(kinds, c.Kind+"/"+c.Name)
		labels := c.Desired.GetLabels()
		for k, v := range map[string]string{LabelName: "postgres", LabelInstance: "orders", LabelManagedBy: "dbctl"} {
			if labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", c.ID(), k, labels[k], v)
			}
		}
		refs := c.Desired.GetOwnerReferences()
		if c.Kind == KindSecret || c.Kind == KindPersistentVolumeClaim {
			// deletionPolicy Retain (the default): the keys outlive the Database; the
			// backups always do.
			if len(refs) != 0 {
				t.Errorf("%s: owner references %+v with deletionPolicy Retain", c.ID(), refs)
			}
			continue
		}
		if len(refs) != 1 || refs[0].UID != db.UID || refs[0].Kind != "Database" || refs[0].Controller == nil || !*refs[0].Controller {
			t.Errorf("%s: owner references %+v", c.ID(), refs)
		}
	}
	want := "Secret/orders-credentials Secret/orders-replication Service/orders-headless Service/orders Service/orders-ro " +
		"PersistentVolumeClaim/orders-backups ConfigMap/orders-config StatefulSet/orders StatefulSet/orders-replica " +
		"PodDisruptionBudget/orders CronJob/orders-backup"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("children = %s\nwant %s", got, want)
	}
	// One replica, no backups: the read-only Service and the PodDisruptionBudget
	// are pruned, the replica StatefulSet scaled to 0 if it exists, the
	// replication Secret kept; the CronJob pruned, the backups kept.
	db.Spec.Replicas = ptr(int32(1))
	db.Spec.Backup = nil
	children, _ = Desired(db, Inputs{Password: "pw"})
	wantAt1 := map[string]Want{"Service/orders-ro": Absent, "PodDisruptionBudget/orders": Absent,
		"StatefulSet/orders-replica": IfPresent, "Secret/orders-replication": Keep,
		"CronJob/orders-backup": Absent, "PersistentVolumeClaim/orders-backups": Keep}
	for _, c := range children {
		w, special := wantAt1[c.String()]
		if !special {
			w = Present
		}
		if c.Want != w || (c.Desired != nil) != w.Applied(true) {
			t.Errorf("%s at 1 replica: want %v (rendered %v), expected %v", c.ID(), c.Want, c.Desired != nil, w)
		}
		if c.Ref == (Ref{KindStatefulSet, "orders-replica"}) {
			if n, _, _ := unstructured.NestedInt64(c.Desired.Object, "spec", "replicas"); n != 0 {
				t.Errorf("the replica StatefulSet at 1 replica has %d replicas", n)
			}
		}
	}
}

func TestConfigChangeRollsPods(t *testing.T) {
	db := testDB(v1alpha1.PhasePending)
	h1, _ := ConfigHash(db)
	db.Spec.Parameters = map[string]v1alpha1.ParameterValue{"max_connections": "300"}
	h2, _ := ConfigHash(db)
	if h1 == h2 {
		t.Fatal("the config hash did not change with the parameters")
	}
	db.Spec.Replicas = ptr(int32(5))
	if h3, _ := ConfigHash(db); h3 != h2 {
		t.Error("the config hash changed with replicas")
	}
}

func TestNewPassword(t *testing.T) {
	a, err := NewPassword()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewPassword()
	if a == b || len(a) != 43 {
		t.Errorf("passwords %q %q", a, b)
	}
}

func TestDiff(t *testing.T) {
	a := map[string]any{"spec": map[string]any{"replicas": int64(3), "list": []any{"x", "y"}, "empty": map[string]any{}}}
	b := map[string]any{"spec": map[string]any{"replicas": float64(3), "list": []any{"x", "z"}, "extra": "e"}}
	var paths []string
	for _, d := range Diff(a, b) {
		paths = append(paths, d.Path)
	}
	if got, want := strings.Join(paths, " "), "spec.extra spec.list[1]"; got != want {
		t.Errorf("Diff paths = %q, want %q", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

// A scale change never touches the primary: its StatefulSet, the ConfigMap and the
// Services it is selected by render the same at 1, 2 and 9 replicas.
func TestScaleNeverTouchesThePrimary(t *testing.T) {
	render := func(replicas int32) map[Ref]string {
		db := testDB(v1alpha1.PhaseReady, func(db *v1alpha1.Database) { db.Spec.Replicas = &replicas })
		children, err := Desired(db, Inputs{Password: "pw", ReplicationPassword: "rpw"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[Ref]string{}
		for _, c := range children {
			if c.Desired != nil {
				y, _ := yaml.Marshal(c.Desired.Object)
				out[c.Ref] = string(y)
			}
		}
		return out
	}
	one := render(1)
	for _, n := range []int32{2, 9} {
		other := render(n)
		for _, ref := range []Ref{{KindStatefulSet, "orders"}, {KindConfigMap, "orders-config"}, {KindService, "orders"}, {KindService, "orders-headless"}} {
			if one[ref] != other[ref] {
				t.Errorf("%s differs between 1 and %d replicas", ref, n)
			}
		}
	}
}
