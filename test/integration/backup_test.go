package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/test/testenv"
)

const backupSpec = "  backup: {schedule: '0 3 * * *', keep: 5, storage: {size: 2Gi}}\n"

// backupMessage is what backup.sh writes as its termination message.
func backupMessage(file string, at time.Time) string {
	return fmt.Sprintf(`{"file":%q,"sizeBytes":4096,"sha256":"%s","completedAt":%q}`, file, strings.Repeat("ab", 32), at.UTC().Format(time.RFC3339))
}

func TestBackupChildren(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	ctx := context.Background()
	file := f.file("orders.yaml", f.postgres("orders", 1, backupSpec))
	out, _ := f.plan(2, "-f", file, "--detailed-exitcode")
	for _, want := range []string{"+ PersistentVolumeClaim " + f.ns + "/orders-backups", "+ CronJob " + f.ns + "/orders-backup",
		"spec.schedule: 0 3 * * *"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	f.reconcile(file)
	pvc := &corev1.PersistentVolumeClaim{}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "orders-backups"}, pvc); err != nil {
		t.Fatal(err)
	}
	if len(pvc.OwnerReferences) != 0 || pvc.Spec.Resources.Requests.Storage().String() != "2Gi" {
		t.Errorf("backups PVC: owners %v, size %s", pvc.OwnerReferences, pvc.Spec.Resources.Requests.Storage())
	}
	cj := &batchv1.CronJob{}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "orders-backup"}, cj); err != nil {
		t.Fatal(err)
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || cj.Spec.JobTemplate.Spec.Template.Labels["app.kubernetes.io/name"] != "" {
		t.Errorf("CronJob %+v", cj.Spec)
	}
	// Nothing flaps: a second plan has no change.
	before := inventory(t)
	out, _ = f.plan(0, "-f", file, "--detailed-exitcode")
	f.reconcile(file)
	requireSameInventory(t, "a second reconcile", before, inventory(t))
	if db := getDatabase(t, f.ns, "orders"); db.Condition(v1alpha1.ConditionBackedUp) == nil ||
		db.Condition(v1alpha1.ConditionBackedUp).Reason != v1alpha1.ReasonNoBackupYet {
		t.Errorf("BackedUp condition %+v", db.Condition(v1alpha1.ConditionBackedUp))
	}

	// Without spec.backup: the CronJob is pruned, the backups stay.
	f.reconcile(f.file("orders.yaml", f.postgres("orders", 1, "")))
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "orders-backup"}, cj); !apierrors.IsNotFound(err) {
		t.Errorf("the CronJob is still there: %v", err)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "orders-backups"}, pvc); err != nil {
		t.Errorf("the backups PVC is gone: %v", err)
	}
	if db := getDatabase(t, f.ns, "orders"); db.Condition(v1alpha1.ConditionBackedUp) != nil {
		t.Error("BackedUp condition without spec.backup")
	}
}

func TestBackupCommand(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	file := f.file("orders.yaml", f.postgres("orders", 1, backupSpec))
	if _, errOut, code := runDbctl(t, nil, "backup", "orders", "-n", f.ns); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("backup of a missing Database: exit %d\n%s", code, errOut)
	}
	f.reconcile(file)
	outcome := testenv.JobOutcome{Message: backupMessage("20261130T030000.000Z.pgdump", time.Now())}
	env.SimulateJobs(t, f.ns, func(*batchv1.Job) testenv.JobOutcome { return outcome })

	out, errOut, code := runDbctl(t, nil, "backup", "orders", "-n", f.ns, "-o", "json")
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	var rec struct {
		File      string `json:"file"`
		SizeBytes int64  `json:"sizeBytes"`
		Job       string `json:"job"`
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.File != "20261130T030000.000Z.pgdump" || rec.SizeBytes != 4096 ||
		!strings.HasPrefix(rec.Job, "orders-backup-") {
		t.Errorf("backup -o json: %v\n%s", err, out)
	}
	if !strings.Contains(errOut, "started backup Job "+f.ns+"/"+rec.Job) {
		t.Errorf("progress:\n%s", errOut)
	}
	db := getDatabase(t, f.ns, "orders")
	if db.Status.LastBackup == nil || db.Status.LastBackup.File != rec.File {
		t.Errorf("status.lastBackup %+v", db.Status.LastBackup)
	}
	st, _, _ := runDbctl(t, nil, "status", "orders", "-n", f.ns)
	if !strings.Contains(st, "backups:    last 20261130T030000.000Z.pgdump") {
		t.Errorf("status:\n%s", st)
	}

	// A failed backup: exit 1, naming the Job and the script's error.
	outcome = testenv.JobOutcome{ExitCode: 1, Message: "pg_dump: error: connection refused\nbackup failed: pg_dump exited 1"}
	_, errOut, code = runDbctl(t, nil, "backup", "orders", "-n", f.ns)
	if code != 1 || !strings.Contains(errOut, "failed: backup failed: pg_dump exited 1") || !strings.Contains(errOut, "kubectl logs -n "+f.ns+" job/orders-backup-") {
		t.Errorf("failed backup: exit %d\n%s", code, errOut)
	}
	// One that never finishes: exit 3 at --timeout.
	outcome = testenv.JobOutcome{Hold: true}
	_, errOut, code = runDbctl(t, nil, "backup", "orders", "-n", f.ns, "--timeout", "3s")
	if code != 3 || !strings.Contains(errOut, "still running") {
		t.Errorf("a backup that never finishes: exit %d\n%s", code, errOut)
	}
	// Without spec.backup: exit 1.
	f.reconcile(f.file("plain.yaml", f.postgres("plain", 1, "")))
	if _, errOut, code := runDbctl(t, nil, "backup", "plain", "-n", f.ns); code != 1 || !strings.Contains(errOut, "has no spec.backup") {
		t.Errorf("backup without spec.backup: exit %d\n%s", code, errOut)
	}
}

// --backup-first: the backup completes before the StatefulSet changes; a failed
// one stops the run (exit 1) with the StatefulSet untouched.
func TestBackupFirst(t *testing.T) {
	f := newPlanFixture(t)
	f.simulateRollouts()
	ctx := context.Background()
	f.reconcile(f.file("orders.yaml", f.postgres("orders", 1, backupSpec)))
	upgraded := f.file("upgraded.yaml", strings.Replace(f.postgres("orders", 1, backupSpec), `version: "16"`, `version: "16.4"`, 1))
	out, _ := f.plan(2, "-f", upgraded, "--backup-first", "--detailed-exitcode")
	if !strings.Contains(out, "--backup-first: a backup is taken, and must complete, before StatefulSet "+f.ns+"/orders (restarts the primary") {
		t.Errorf("plan --backup-first:\n%s", out)
	}
	sts := &appsv1.StatefulSet{}
	key := types.NamespacedName{Namespace: f.ns, Name: "orders"}
	if err := env.Client.Get(ctx, key, sts); err != nil {
		t.Fatal(err)
	}
	gen := sts.Generation

	failing := true
	env.SimulateJobs(t, f.ns, func(*batchv1.Job) testenv.JobOutcome {
		if failing {
			return testenv.JobOutcome{ExitCode: 1, Message: "backup failed: disk full"}
		}
		return testenv.JobOutcome{Message: backupMessage("20261130T040000.000Z.pgdump", time.Now())}
	})
	_, errOut, code := runDbctl(t, nil, "reconcile", "-f", upgraded, "--backup-first", "--timeout", "1m")
	if code != 1 || !strings.Contains(errOut, "--backup-first: no backup, so nothing was changed") || !strings.Contains(errOut, "disk full") {
		t.Errorf("reconcile --backup-first with a failing backup: exit %d\n%s", code, errOut)
	}
	if err := env.Client.Get(ctx, key, sts); err != nil || sts.Generation != gen {
		t.Fatalf("the StatefulSet changed (generation %d → %d): %v", gen, sts.Generation, err)
	}

	failing = false
	_, progress, code := runDbctl(t, nil, "reconcile", "-f", upgraded, "--backup-first", "--timeout", "1m")
	if code != 0 {
		t.Fatalf("reconcile --backup-first: exit %d\n%s", code, progress)
	}
	backedUp := strings.Index(progress, "backup 20261130T040000.000Z.pgdump complete")
	changed := strings.Index(progress, "~ StatefulSet "+f.ns+"/orders")
	if backedUp < 0 || changed < 0 || backedUp > changed {
		t.Errorf("the backup does not come before the StatefulSet's change:\n%s", progress)
	}
	if err := env.Client.Get(ctx, key, sts); err != nil || sts.Spec.Template.Spec.Containers[0].Image != "postgres:16.4" {
		t.Errorf("StatefulSet image %v", err)
	}
	// No risky change: no backup.
	jobs := &batchv1.JobList{}
	_ = env.Client.List(ctx, jobs, client.InNamespace(f.ns))
	n := len(jobs.Items)
	f.reconcile(f.file("again.yaml", strings.Replace(f.postgres("orders", 1, backupSpec), `version: "16"`, `version: "16.4"`, 1)))
	if _, _, code := runDbctl(t, nil, "reconcile", "-f", upgraded, "--backup-first", "--timeout", "1m"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	_ = env.Client.List(ctx, jobs, client.InNamespace(f.ns))
	if len(jobs.Items) != n {
		t.Errorf("a backup Job for a reconcile without risky changes (%d → %d)", n, len(jobs.Items))
	}
}
