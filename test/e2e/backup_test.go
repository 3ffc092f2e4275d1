//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// jobOutcome makes the kwok stage end the backup Jobs' pods this way (see
// hack/kwok/stages.yaml, pod-complete): annotations on the CronJob's pod template,
// which dbctl backup copies; written by another field manager, so dbctl's applies
// leave them.
func jobOutcome(t *testing.T, ns, cronJob string, annotations map[string]any) {
	t.Helper()
	all := map[string]any{"kwok.dbctl.io/exit-code": nil, "kwok.dbctl.io/message": nil, "kwok.dbctl.io/hold": nil}
	for k, v := range annotations {
		all[k] = v
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{
		"template": map[string]any{"metadata": map[string]any{"annotations": all}}}}}})
	cj := &batchv1.CronJob{}
	cj.Namespace, cj.Name = ns, cronJob
	if err := newClient(t).Patch(ctxFor(t), cj, client.RawPatch(types.MergePatchType, patch), client.FieldOwner("e2e")); err != nil {
		t.Fatal(err)
	}
}

func backupResult(file string) string {
	return fmt.Sprintf(`{"file":%q,"sizeBytes":8192,"sha256":"%s","completedAt":%q}`, file, strings.Repeat("cd", 32),
		time.Now().UTC().Format(time.RFC3339))
}

// The backup objects on a cluster, dbctl backup against Jobs that succeed, fail
// and never finish, and --backup-first's order: the backup Job completes before
// the StatefulSet is written.
func TestBackups(t *testing.T) {
	t.Cleanup(func() { noSecretLeaks(t) })
	ns, dir := namespace(t), t.TempDir()
	spec := "  backup: {schedule: '0 3 * * *', keep: 3, storage: {size: 2Gi}}\n"
	file := writeFile(t, dir, "orders.yaml", databaseYAML(ns, "orders", 1, "")+spec)
	runReconcile(t, "-f", file, "--timeout", "2m").wantExit(t, 0)
	c := newClient(t)
	pvc := &corev1.PersistentVolumeClaim{}
	waitUntil(t, time.Minute, "the backups PVC bound", func() bool {
		return c.Get(ctxFor(t), types.NamespacedName{Namespace: ns, Name: "orders-backups"}, pvc) == nil && pvc.Status.Phase == corev1.ClaimBound
	})
	if len(pvc.OwnerReferences) != 0 {
		t.Errorf("the backups PVC has owners %v", pvc.OwnerReferences)
	}
	out, _, code := runDbctl(t, "status", "orders", "-n", ns)
	if code != 0 || !strings.Contains(out, "backups:    none yet; schedule 0 3 * * *") {
		t.Errorf("status before a backup: exit %d\n%s", code, out)
	}

	jobOutcome(t, ns, "orders-backup", map[string]any{"kwok.dbctl.io/message": backupResult("20261130T030000.000Z.pgdump")})
	out, errOut, code := runDbctl(t, "backup", "orders", "-n", ns, "--timeout", "2m")
	if code != 0 || !strings.Contains(out, "backup 20261130T030000.000Z.pgdump complete: 8.0 KiB") {
		t.Fatalf("dbctl backup: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = runDbctl(t, "status", "orders", "-n", ns)
	if !strings.Contains(out, "backups:    last 20261130T030000.000Z.pgdump") {
		t.Errorf("status after a backup:\n%s", out)
	}

	jobOutcome(t, ns, "orders-backup", map[string]any{"kwok.dbctl.io/exit-code": "1", "kwok.dbctl.io/message": "backup failed: no space left on device"})
	_, errOut, code = runDbctl(t, "backup", "orders", "-n", ns, "--timeout", "2m")
	if code != 1 || !strings.Contains(errOut, "failed: backup failed: no space left on device") {
		t.Errorf("a failing backup: exit %d\n%s", code, errOut)
	}
	jobOutcome(t, ns, "orders-backup", map[string]any{"kwok.dbctl.io/hold": "true"})
	_, errOut, code = runDbctl(t, "backup", "orders", "-n", ns, "--timeout", "5s")
	if code != 3 || !strings.Contains(errOut, "still running") {
		t.Errorf("a backup that never finishes: exit %d\n%s", code, errOut)
	}

	// --backup-first with a failing backup: exit 1, the StatefulSet untouched.
	sts := &appsv1.StatefulSet{}
	key := types.NamespacedName{Namespace: ns, Name: "orders"}
	if err := c.Get(ctxFor(t), key, sts); err != nil {
		t.Fatal(err)
	}
	gen := sts.Generation
	upgraded := writeFile(t, dir, "upgraded.yaml", strings.Replace(databaseYAML(ns, "orders", 1, "")+spec, `version: "16"`, `version: "16.4"`, 1))
	jobOutcome(t, ns, "orders-backup", map[string]any{"kwok.dbctl.io/exit-code": "2", "kwok.dbctl.io/message": "backup failed: pg_dump exited 2"})
	r := runReconcile(t, "-f", upgraded, "--backup-first", "--timeout", "2m")
	r.wantExit(t, 1)
	if !strings.Contains(r.stderr, "--backup-first: no backup, so nothing was changed") || !strings.Contains(r.stderr, "pg_dump exited 2") {
		t.Errorf("reconcile --backup-first, backup failing:\n%s", r.stderr)
	}
	if err := c.Get(ctxFor(t), key, sts); err != nil || sts.Generation != gen {
		t.Fatalf("the StatefulSet changed: generation %d → %d (%v)", gen, sts.Generation, err)
	}

	// Succeeding: the Job completed before the StatefulSet was written.
	jobOutcome(t, ns, "orders-backup", map[string]any{"kwok.dbctl.io/message": backupResult("20261130T040000.000Z.pgdump")})
	runReconcile(t, "-f", upgraded, "--backup-first", "--timeout", "2m").wantExit(t, 0)
	if err := c.Get(ctxFor(t), key, sts); err != nil {
		t.Fatal(err)
	}
	var written time.Time
	for _, mf := range sts.ManagedFields {
		if mf.Manager == "dbctl" && mf.Operation == "Apply" && mf.Time != nil {
			written = mf.Time.Time
		}
	}
	db := getDatabase(t, ns, "orders")
	last := db.Status.LastBackup
	if last == nil || last.File != "20261130T040000.000Z.pgdump" {
		t.Fatalf("status.lastBackup %+v", last)
	}
	job := &batchv1.Job{}
	if err := c.Get(ctxFor(t), types.NamespacedName{Namespace: ns, Name: last.Job}, job); err != nil || job.Status.CompletionTime == nil {
		t.Fatalf("backup Job %s: %v", last.Job, err)
	}
	if written.Before(job.Status.CompletionTime.Time) {
		t.Errorf("the StatefulSet was written at %s, before the backup Job completed at %s", written, job.Status.CompletionTime.Time)
	}
	if c := db.Condition(v1alpha1.ConditionReady); c == nil || c.Status != "True" {
		t.Errorf("not Ready after the upgrade: %+v", c)
	}
}
