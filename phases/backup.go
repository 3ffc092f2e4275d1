package phases

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	batchv1ac "k8s.io/client-go/applyconfigurations/batch/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases/engine"
)

// Backups (SPEC §11): the PVC <name>-backups (written in Provisioning, never owned
// by the Database, never deleted) and the CronJob <name>-backup (Deploying; pruned
// when spec.backup goes) whose Jobs run the engine's backup.sh against the
// primary. A Database created from a backup mounts the source's backups PVC in its
// primary pod, where bootstrap.sh restores it.

const (
	// ComponentBackup is the app.kubernetes.io/component of the backup Jobs' pods.
	// They do not carry app.kubernetes.io/name, so that no Service, StatefulSet or
	// PodDisruptionBudget of the Database selects them.
	ComponentBackup = "backup"
	LabelComponent  = "app.kubernetes.io/component"

	backupsVolume = "backups"
	restoreVolume = "restore"
	// backupContainer is the backup Job's container.
	backupContainer = "backup"
	// backupHistory is how many finished Jobs of each outcome the CronJob keeps.
	backupHistory = 3
)

// BackupPodLabels are the labels of the backup Jobs and their pods.
func BackupPodLabels(db *v1alpha1.Database) map[string]string {
	return map[string]string{LabelInstance: db.Name, LabelManagedBy: ManagedBy, LabelComponent: ComponentBackup}
}

// backupOr: Present with spec.backup, else w.
func backupOr(w Want) func(*v1alpha1.Database) Want {
	return func(db *v1alpha1.Database) Want {
		if db.Spec.Backup != nil {
			return Present
		}
		return w
	}
}

// buildBackupPVC is the backups' volume: no owner reference (deleting the Database,
// whatever its deletionPolicy, never deletes its backups).
func buildBackupPVC(db *v1alpha1.Database, _ *engineSpec, _ Inputs) (any, error) {
	st := db.Spec.Backup.Storage
	spec := corev1ac.PersistentVolumeClaimSpec().
		WithAccessModes(corev1.ReadWriteOnce).
		WithResources(corev1ac.VolumeResourceRequirements().
			WithRequests(corev1.ResourceList{corev1.ResourceStorage: st.Size}))
	if st.StorageClassName != nil {
		spec.WithStorageClassName(*st.StorageClassName)
	}
	return corev1ac.PersistentVolumeClaim(db.BackupPVCName(), db.Namespace).
		WithLabels(Labels(db)).
		WithSpec(spec), nil
}

// buildBackupCronJob is the scheduled backups: one at a time (Forbid: a backup
// still running makes the next schedule wait), a failed one not retried until the
// next schedule (the Job's error is its pod's termination message).
func buildBackupCronJob(db *v1alpha1.Database, e *engineSpec, _ Inputs) (any, error) {
	if !e.bootstrap() {
		return nil, fmt.Errorf("spec.backup: engine %s has no backup script (postgres and mariadb have)", db.Spec.Engine)
	}
	return batchv1ac.CronJob(db.BackupCronJobName(), db.Namespace).
		WithLabels(Labels(db)).
		WithOwnerReferences(OwnerReference(db)).
		WithSpec(batchv1ac.CronJobSpec().
			WithSchedule(db.Spec.Backup.Schedule).
			WithConcurrencyPolicy(batchv1.ForbidConcurrent).
			WithSuccessfulJobsHistoryLimit(backupHistory).
			WithFailedJobsHistoryLimit(backupHistory).
			WithJobTemplate(batchv1ac.JobTemplateSpec().
				WithLabels(BackupPodLabels(db)).
				WithSpec(BackupJobSpec(db, e)))), nil
}

// BackupJobSpec is the spec of a backup Job: the CronJob's template, and what
// `dbctl backup` and `reconcile --backup-first` run now.
func BackupJobSpec(db *v1alpha1.Database, e *engineSpec) *batchv1ac.JobSpecApplyConfiguration {
	s := db.SecretName()
	c := corev1ac.Container().
		WithName(backupContainer).
		WithImage(db.Image()).
		WithCommand(e.paths.BackupCommand...).
		WithEnv(
			corev1ac.EnvVar().WithName(engine.EnvPrimaryHost).WithValue(db.Host()),
			corev1ac.EnvVar().WithName(engine.EnvPort).WithValue(fmt.Sprint(db.Port())),
			secretEnv(engine.EnvDatabase, s, "username"),
			secretEnv(engine.EnvUser, s, "username"),
			secretEnv(engine.EnvPassword, s, "password"),
		).
		WithTerminationMessagePolicy(corev1.TerminationMessageFallbackToLogsOnError).
		WithVolumeMounts(
			corev1ac.VolumeMount().WithName(configVolume).WithMountPath(e.paths.ConfigDir).WithReadOnly(true),
			corev1ac.VolumeMount().WithName(backupsVolume).WithMountPath(engine.BackupDir),
		)
	pod := corev1ac.PodSpec().
		WithRestartPolicy(corev1.RestartPolicyNever).
		WithSecurityContext(corev1ac.PodSecurityContext().
			WithRunAsUser(e.paths.UID).WithRunAsGroup(e.paths.GID).WithFSGroup(e.paths.GID).WithRunAsNonRoot(true).
			WithFSGroupChangePolicy(corev1.FSGroupChangeOnRootMismatch)).
		WithContainers(c).
		WithVolumes(
			corev1ac.Volume().WithName(configVolume).
				WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(db.ConfigMapName())),
			corev1ac.Volume().WithName(backupsVolume).
				WithPersistentVolumeClaim(corev1ac.PersistentVolumeClaimVolumeSource().WithClaimName(db.BackupPVCName())),
		)
	return batchv1ac.JobSpec().
		WithBackoffLimit(0).
		WithTemplate(corev1ac.PodTemplateSpec().WithLabels(BackupPodLabels(db)).WithSpec(pod))
}

// BackupJob is a Job taking a backup of db now, its name generateName and five
// random characters (<name>-backup-xxxxx: at most 58): the live CronJob's job
// template as it is (what a user or a policy added to it included), owned by the
// CronJob, as `kubectl create job --from=cronjob/…` makes it.
func BackupJob(db *v1alpha1.Database, generateName string, cronJob *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	tmpl, ok, _ := unstructured.NestedMap(cronJob.Object, "spec", "jobTemplate")
	if !ok {
		return nil, fmt.Errorf("CronJob %s/%s has no spec.jobTemplate", cronJob.GetNamespace(), cronJob.GetName())
	}
	job := &unstructured.Unstructured{Object: map[string]any{"spec": tmpl["spec"]}}
	job.SetAPIVersion("batch/v1")
	job.SetKind(KindJob)
	job.SetNamespace(db.Namespace)
	job.SetGenerateName(generateName)
	meta, _, _ := unstructured.NestedMap(tmpl, "metadata")
	labels := BackupPodLabels(db)
	if l, ok := meta["labels"].(map[string]any); ok {
		for k, v := range l {
			if s, ok := v.(string); ok {
				labels[k] = s
			}
		}
	}
	job.SetLabels(labels)
	annotations := map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}
	if a, ok := meta["annotations"].(map[string]any); ok {
		for k, v := range a {
			if s, ok := v.(string); ok {
				annotations[k] = s
			}
		}
	}
	job.SetAnnotations(annotations)
	controller := true
	job.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "batch/v1", Kind: KindCronJob, Name: cronJob.GetName(),
		UID: cronJob.GetUID(), Controller: &controller}})
	return job, nil
}

// restoreMount mounts, for the primary of a Database created from a backup, the
// source's backups PVC read-only in c, where bootstrap.sh restores it, and returns
// the pod's volume for it (nil for any other pod).
func restoreMount(db *v1alpha1.Database, role string, c *corev1ac.ContainerApplyConfiguration) *corev1ac.VolumeApplyConfiguration {
	b := db.Spec.Bootstrap
	if role != RolePrimary || b == nil || b.FromBackup == nil {
		return nil
	}
	c.WithVolumeMounts(corev1ac.VolumeMount().WithName(restoreVolume).WithMountPath(engine.RestoreDir).WithReadOnly(true))
	return corev1ac.Volume().WithName(restoreVolume).
		WithPersistentVolumeClaim(corev1ac.PersistentVolumeClaimVolumeSource().
			WithClaimName(v1alpha1.BackupPVCNameOf(b.FromBackup.Database)).WithReadOnly(true))
}

// BackupState is what the CronJob says of the scheduled backups.
type BackupState struct {
	// LastSchedule is when the CronJob last started a Job; LastSuccess when one
	// last succeeded (zero: never).
	LastSchedule, LastSuccess time.Time
	// Active is the number of backup Jobs running.
	Active int
}

// BackupStateOf reads the live CronJob's status; nil when there is none.
func BackupStateOf(cronJob *unstructured.Unstructured) *BackupState {
	if cronJob == nil {
		return nil
	}
	s := &BackupState{}
	read := func(field string) time.Time {
		v, _, _ := unstructured.NestedString(cronJob.Object, "status", field)
		t, _ := time.Parse(time.RFC3339, v)
		return t
	}
	s.LastSchedule, s.LastSuccess = read("lastScheduleTime"), read("lastSuccessfulTime")
	active, _, _ := unstructured.NestedSlice(cronJob.Object, "status", "active")
	s.Active = len(active)
	return s
}

// backups sets the BackedUp condition from the CronJob and the last backup seen,
// when spec.backup is set (and removes it when not): True when the last scheduled
// backup succeeded, False when it failed, Unknown before the first.
func (s *stepper) backups(obs *Observation) {
	if s.db.Spec.Backup == nil {
		meta.RemoveStatusCondition(&s.db.Status.Conditions, v1alpha1.ConditionBackedUp)
		return
	}
	st := obs.Backups
	last := s.db.Status.LastBackup
	var lastOK time.Time
	if st != nil {
		lastOK = st.LastSuccess
	}
	if last != nil && last.CompletedAt.After(lastOK) {
		lastOK = last.CompletedAt.Time
	}
	switch {
	case st != nil && !st.LastSchedule.IsZero() && st.Active == 0 && st.LastSchedule.After(lastOK):
		msg := fmt.Sprintf("the backup scheduled at %s failed", st.LastSchedule.UTC().Format(time.RFC3339))
		if !lastOK.IsZero() {
			msg += fmt.Sprintf("; the last good one completed at %s", lastOK.UTC().Format(time.RFC3339))
		}
		s.setCondition(v1alpha1.ConditionBackedUp, metav1.ConditionFalse, v1alpha1.ReasonBackupFailed, msg+" (kubectl logs job/… names why)")
	case lastOK.IsZero():
		s.setCondition(v1alpha1.ConditionBackedUp, metav1.ConditionUnknown, v1alpha1.ReasonNoBackupYet,
			"no backup has completed yet (schedule "+s.db.Spec.Backup.Schedule+"; dbctl backup "+s.db.Name+" takes one now)")
	default:
		s.setCondition(v1alpha1.ConditionBackedUp, metav1.ConditionTrue, v1alpha1.ReasonBackupSucceeded,
			"the last backup completed at "+lastOK.UTC().Format(time.RFC3339))
	}
}
