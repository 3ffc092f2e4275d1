package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/phases/engine"
	"github.com/dbctl-io/dbctl/reconcile/kube"
	"github.com/dbctl-io/dbctl/resilience"
)

// Backups on demand (`dbctl backup`, `reconcile --backup-first`): a Job from the
// CronJob <name>-backup's template, waited for; and the newest complete backup of
// a Database, read from its Jobs' termination messages.

// BackupFailedError: the backup Job failed; Message is its pod's termination
// message (the script's error) when there is one.
type BackupFailedError struct {
	Namespace, Job, Message string
}

func (e *BackupFailedError) Error() string {
	msg := fmt.Sprintf("backup Job %s/%s failed", e.Namespace, e.Job)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg + fmt.Sprintf(" (kubectl logs -n %s job/%s)", e.Namespace, e.Job)
}

// BackupUnavailableError: the Database cannot be backed up now: no spec.backup, or
// its CronJob is not there yet (reconcile writes it).
type BackupUnavailableError struct{ Message string }

func (e *BackupUnavailableError) Error() string { return e.Message }

// Backup takes a backup of Database namespace/name now and waits for it: a Job
// from the template of the CronJob <name>-backup, complete (the backup written,
// read back and checksummed) or failed (a *BackupFailedError), or ctx's end (the
// Job goes on). The backup is recorded in status.lastBackup. progress receives a
// line at each step.
func (e *Engine) Backup(ctx context.Context, namespace, name string, progress func(string)) (*v1alpha1.BackupRecord, error) {
	db, err := GetDatabase(ctx, e.Client, namespace, name)
	if err != nil {
		return nil, err
	}
	return e.backup(ctx, db, progress)
}

func (e *Engine) backup(ctx context.Context, db *v1alpha1.Database, progress func(string)) (*v1alpha1.BackupRecord, error) {
	if db.Spec.Backup == nil {
		return nil, &BackupUnavailableError{Message: fmt.Sprintf("Database %s/%s has no spec.backup: add one (a schedule and a storage) and reconcile it first", db.Namespace, db.Name)}
	}
	cron := &unstructured.Unstructured{}
	cron.SetGroupVersionKind(phases.Ref{Kind: phases.KindCronJob}.GroupVersionKind())
	err := e.Client.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: db.BackupCronJobName()}, cron)
	if apierrors.IsNotFound(err) {
		return nil, &BackupUnavailableError{Message: fmt.Sprintf("CronJob %s/%s does not exist yet: reconcile Database %s first", db.Namespace, db.BackupCronJobName(), db.Name)}
	}
	if err != nil {
		return nil, fmt.Errorf("reading CronJob %s/%s: %w", db.Namespace, db.BackupCronJobName(), kube.Explain(err))
	}
	job, err := phases.BackupJob(db, db.BackupCronJobName()+"-", cron)
	if err != nil {
		return nil, err
	}
	if err := e.Client.Create(ctx, job, client.FieldOwner(kube.FieldManager)); err != nil {
		return nil, fmt.Errorf("creating backup Job %s/%s: %w", db.Namespace, job.GetName(), kube.Explain(err))
	}
	progress(fmt.Sprintf("started backup Job %s/%s", db.Namespace, job.GetName()))
	done, err := e.waitJob(ctx, db.Namespace, job.GetName(), progress)
	if err != nil {
		return nil, err
	}
	rec, err := backupOfJob(ctx, e.Client, done)
	if err != nil {
		return nil, err
	}
	return rec, e.recordBackup(ctx, db, rec)
}

// waitJob waits until Job namespace/name completes or fails.
func (e *Engine) waitJob(ctx context.Context, namespace, name string, progress func(string)) (*batchv1.Job, error) {
	lw := kube.ListWatch(e.Client, &batchv1.JobList{}, client.InNamespace(namespace),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)})
	var last *batchv1.Job
	running := false
	err := kube.WaitFor(ctx, lw, &batchv1.Job{}, func(ev watch.Event) (bool, error) {
		job, ok := ev.Object.(*batchv1.Job)
		if !ok || ev.Type == watch.Deleted {
			return false, fmt.Errorf("backup Job %s/%s was deleted", namespace, name)
		}
		last = job
		if job.Status.Active > 0 && !running {
			running = true
			progress(fmt.Sprintf("backup Job %s/%s is running", namespace, name))
		}
		return jobFinished(job), nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("backup Job %s/%s still running (it goes on; dbctl status shows the backup when it completes): %w", namespace, name, ctx.Err())
		}
		return nil, fmt.Errorf("waiting for backup Job %s/%s: %w", namespace, name, kube.Explain(err))
	}
	return last, nil
}

func jobFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobSucceeded(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// backupOfJob reads a finished backup Job's result from its pod's termination
// message: the backup record when it completed, a *BackupFailedError when not.
func backupOfJob(ctx context.Context, c client.Client, job *batchv1.Job) (*v1alpha1.BackupRecord, error) {
	message, err := terminationMessage(ctx, c, job)
	if err != nil {
		return nil, err
	}
	if !jobSucceeded(job) {
		return nil, &BackupFailedError{Namespace: job.Namespace, Job: job.Name, Message: lastLine(message)}
	}
	r, err := engine.ParseBackupResult(message)
	if err != nil {
		return nil, &BackupFailedError{Namespace: job.Namespace, Job: job.Name, Message: err.Error()}
	}
	completed := metav1.NewTime(r.CompletedAt)
	if job.Status.CompletionTime != nil {
		// The CronJob's lastSuccessfulTime is this: a newer one is a newer backup.
		completed = *job.Status.CompletionTime
	}
	return &v1alpha1.BackupRecord{File: r.File, SizeBytes: r.SizeBytes, SHA256: r.SHA256, CompletedAt: completed, Job: job.Name}, nil
}

// terminationMessage is the backup container's termination message, from the
// Job's newest pod ("" when there is none).
func terminationMessage(ctx context.Context, c client.Client, job *batchv1.Job) (string, error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return "", fmt.Errorf("reading the pods of backup Job %s/%s: %w", job.Namespace, job.Name, kube.Explain(err))
	}
	sort.Slice(pods.Items, func(i, j int) bool {
		return pods.Items[j].CreationTimestamp.Before(&pods.Items[i].CreationTimestamp)
	})
	for _, p := range pods.Items {
		for _, s := range p.Status.ContainerStatuses {
			if t := s.State.Terminated; t != nil {
				return strings.TrimSpace(t.Message), nil
			}
		}
	}
	return "", nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// recordBackup writes rec as status.lastBackup unless a newer one is there.
func (e *Engine) recordBackup(ctx context.Context, db *v1alpha1.Database, rec *v1alpha1.BackupRecord) error {
	for range maxStatusConflicts {
		if last := db.Status.LastBackup; last != nil && !rec.CompletedAt.After(last.CompletedAt.Time) {
			return nil
		}
		db.Status.LastBackup = rec.DeepCopy()
		err := e.Client.Status().Update(ctx, db, client.FieldOwner(kube.FieldManager))
		if !apierrors.IsConflict(err) {
			if err != nil {
				return fmt.Errorf("recording the backup in Database %s/%s: %w", db.Namespace, db.Name, kube.Explain(err))
			}
			return nil
		}
		if db, err = GetDatabase(ctx, e.Client, db.Namespace, db.Name); err != nil {
			return err
		}
	}
	return errors.New("recording the backup: the Database kept changing")
}

// latestBackup is the newest complete backup of db among its backup Jobs (nil when
// none completed, or its result cannot be read).
func (k *kubeCluster) latestBackup(ctx context.Context, db *v1alpha1.Database) (*v1alpha1.BackupRecord, error) {
	jobs := &batchv1.JobList{}
	if err := k.e.Client.List(ctx, jobs, client.InNamespace(db.Namespace), client.MatchingLabels(phases.BackupPodLabels(db))); err != nil {
		return nil, fmt.Errorf("listing the backup Jobs of Database %s/%s: %w", db.Namespace, db.Name, kube.Explain(err))
	}
	var newest *batchv1.Job
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if jobSucceeded(j) && j.Status.CompletionTime != nil &&
			(newest == nil || j.Status.CompletionTime.After(newest.Status.CompletionTime.Time)) {
			newest = j
		}
	}
	if newest == nil {
		return nil, nil
	}
	rec, err := backupOfJob(ctx, k.e.Client, newest)
	var failed *BackupFailedError
	if errors.As(err, &failed) {
		return nil, nil // a Job that completed without a readable result is no backup
	}
	return rec, err
}

// BackupFirstError: reconcile --backup-first could not take the backup it needed
// before a risky change; nothing of that change was written (exit 1).
type BackupFirstError struct {
	Changes []string
	Err     error
}

func (e *BackupFirstError) Error() string {
	return fmt.Sprintf("--backup-first: no backup, so nothing was changed (%s would have been): %v", strings.Join(e.Changes, "; "), e.Err)
}

func (e *BackupFirstError) Unwrap() error { return e.Err }

// riskyChanges are the changes of the step that --backup-first takes a backup
// before (SPEC §11): one that restarts the primary (its pod template changes: an
// image, a version, a config that rolls it), removes replicas, or recreates the
// StatefulSets (a volume growth). A new Database has none.
func riskyChanges(d phases.Decision, snap *snapshot, db *v1alpha1.Database) []string {
	var out []string
	if d.Grow != nil {
		out = append(out, "recreating the StatefulSets to grow the volumes")
	}
	if !slices.Contains(d.Apply, v1alpha1.PhaseDeploying) && !slices.Contains(d.Apply, v1alpha1.PhaseConfiguring) {
		return out
	}
	for _, cs := range snap.obs.Children {
		if cs.Kind != phases.KindStatefulSet || !cs.Exists || cs.Desired == nil {
			continue
		}
		live := snap.liveOf(cs.Ref)
		if cs.Name == db.StatefulSetName() && slices.ContainsFunc(cs.Drift, func(p string) bool { return strings.HasPrefix(p, "spec.template") }) {
			out = append(out, fmt.Sprintf("restarting the primary (StatefulSet %s: %s)", cs.Name, strings.Join(cs.Drift, ", ")))
		}
		if before, after := replicasOf(live), replicasOf(cs.Desired); after < before {
			out = append(out, fmt.Sprintf("removing %d replica(s) (StatefulSet %s)", before-after, cs.Name))
		}
	}
	return out
}

// backupFirst takes, with --backup-first, a backup before the step's writes when
// they include a risky change, once per run.
func (r *run) backupFirst(ctx context.Context, d phases.Decision, snap *snapshot) error {
	if !r.e.BackupFirst || r.backedUp {
		return nil
	}
	risky := riskyChanges(d, snap, r.db)
	if len(risky) == 0 {
		return nil
	}
	r.emit(Event{Type: EventInfo, Message: "--backup-first: taking a backup before " + strings.Join(risky, "; ")})
	rec, err := r.e.backup(ctx, r.db, func(msg string) { r.emit(Event{Type: EventInfo, Message: msg}) })
	if err != nil {
		if ctx.Err() != nil {
			return err // the deadline or an interrupt: a retryable stop
		}
		return resilience.Permanent(&BackupFirstError{Changes: risky, Err: err})
	}
	r.backedUp = true
	r.emit(Event{Type: EventInfo, Message: fmt.Sprintf("backup %s complete (%d bytes, sha256 %s…)", rec.File, rec.SizeBytes, rec.SHA256[:12])})
	if db, err := r.c.getDatabase(ctx, r.db.Namespace, r.db.Name); err == nil {
		r.db = db // the backup was recorded in the status
	}
	return nil
}
