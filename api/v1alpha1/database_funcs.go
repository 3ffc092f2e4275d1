package v1alpha1

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types (SPEC §3).
const (
	ConditionReady                 = "Ready"
	ConditionProvisioned           = "Provisioned"
	ConditionConfigured            = "Configured"
	ConditionDeployed              = "Deployed"
	ConditionVerified              = "Verified"
	ConditionDependenciesAvailable = "DependenciesAvailable"
	// ConditionReconciling (True while the Database is not yet Ready or Failed) and
	// ConditionStalled (True while it is Failed) are kstatus's abnormal-true
	// conditions, for Flux and other tools that compute readiness with kstatus.
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	// ConditionBackedUp is set when spec.backup is: True while the last scheduled
	// backup succeeded, False when it failed (or none has completed yet).
	ConditionBackedUp = "BackedUp"
)

// Condition reasons.
const (
	ReasonReconciled                = "Reconciled"
	ReasonProgressing               = "Progressing"
	ReasonWaitingForRollout         = "WaitingForRollout"
	ReasonWaitingForVolumes         = "WaitingForVolumes"
	ReasonExternalSystemUnavailable = "ExternalSystemUnavailable"
	ReasonCircuitOpen               = "CircuitOpen"
	ReasonVerificationTimeout       = "VerificationTimeout"
	ReasonRetryBackoff              = "RetryBackoff"
	ReasonCredentialsMissing        = "CredentialsMissing"
	ReasonApplyRejected             = "ApplyRejected"
	ReasonDrift                     = "Drift"
	ReasonSpecChanged               = "SpecChanged"
	ReasonAvailable                 = "Available"
	ReasonNoDependencies            = "NoDependencies"
	ReasonBackupSucceeded           = "BackupSucceeded"
	ReasonBackupFailed              = "BackupFailed"
	ReasonNoBackupYet               = "NoBackupYet"
)

// Defaults applied when a field is absent; the same as the CRD's +kubebuilder:default markers.
const (
	DefaultReplicas          int32 = 1
	DefaultUsername                = "app"
	DefaultDependencyTimeout       = 5 * time.Second
	DefaultVerifyTimeout           = 10 * time.Minute
)

// Phases lists every phase in the order a new Database goes through them, then
// Updating and Failed.
var Phases = []Phase{
	PhasePending, PhaseProvisioning, PhaseConfiguring, PhaseDeploying,
	PhaseVerifying, PhaseReady, PhaseUpdating, PhaseFailed,
}

// Default sets every absent field to its default, as the API server does with the
// CRD's defaults, so that a spec loaded from a file and the same spec read back from
// the cluster compare equal.
func (db *Database) Default() {
	if db.Spec.Replicas == nil {
		r := DefaultReplicas
		db.Spec.Replicas = &r
	}
	if db.Spec.Credentials.Username == "" {
		db.Spec.Credentials.Username = DefaultUsername
	}
	if db.Spec.DeletionPolicy == "" {
		db.Spec.DeletionPolicy = DeletionRetain
	}
	if db.Spec.Backup != nil && db.Spec.Backup.Keep == 0 {
		db.Spec.Backup.Keep = DefaultBackupKeep
	}
	for i := range db.Spec.Dependencies {
		if db.Spec.Dependencies[i].Timeout == nil {
			db.Spec.Dependencies[i].Timeout = &metav1.Duration{Duration: DefaultDependencyTimeout}
		}
	}
	if db.Spec.Verify.Timeout == nil {
		db.Spec.Verify.Timeout = &metav1.Duration{Duration: DefaultVerifyTimeout}
	}
}

// ReplicaCount is spec.replicas, or its default.
func (db *Database) ReplicaCount() int32 {
	if db.Spec.Replicas == nil {
		return DefaultReplicas
	}
	return *db.Spec.Replicas
}

// Username is spec.credentials.username, or its default.
func (db *Database) Username() string {
	if db.Spec.Credentials.Username == "" {
		return DefaultUsername
	}
	return db.Spec.Credentials.Username
}

// VerifyTimeout is spec.verify.timeout, or its default.
func (db *Database) VerifyTimeout() time.Duration {
	if db.Spec.Verify.Timeout == nil {
		return DefaultVerifyTimeout
	}
	return db.Spec.Verify.Timeout.Duration
}

// CheckTimeout is the dependency's timeout, or its default.
func (d *Dependency) CheckTimeout() time.Duration {
	if d.Timeout == nil {
		return DefaultDependencyTimeout
	}
	return d.Timeout.Duration
}

// Target is the dependency's URL or host:port, whichever is set.
func (d *Dependency) Target() string {
	if d.URL != "" {
		return d.URL
	}
	return d.TCP
}

// Names of the child objects (SPEC §2).

// SecretName is the credentials Secret, "<name>-credentials".
func (db *Database) SecretName() string { return db.Name + "-credentials" }

// HeadlessServiceName is the StatefulSet's governing Service, "<name>-headless".
func (db *Database) HeadlessServiceName() string { return db.Name + "-headless" }

// ServiceName is the client Service, "<name>".
func (db *Database) ServiceName() string { return db.Name }

// ConfigMapName is the rendered engine config, "<name>-config".
func (db *Database) ConfigMapName() string { return db.Name + "-config" }

// StatefulSetName is the primary's StatefulSet, "<name>" (one pod, <name>-0).
func (db *Database) StatefulSetName() string { return db.Name }

// ReplicaStatefulSetName is the replicas' StatefulSet, "<name>-replica".
func (db *Database) ReplicaStatefulSetName() string { return db.Name + "-replica" }

// ReplicationSecretName is the replication user's Secret, "<name>-replication".
func (db *Database) ReplicationSecretName() string { return db.Name + "-replication" }

// ReadOnlyServiceName is the replicas' Service, "<name>-ro".
func (db *Database) ReadOnlyServiceName() string { return db.Name + "-ro" }

// BackupCronJobName is the scheduled backups' CronJob, "<name>-backup".
func (db *Database) BackupCronJobName() string { return db.Name + "-backup" }

// BackupPVCName is the PVC of the backups, "<name>-backups".
func (db *Database) BackupPVCName() string { return BackupPVCNameOf(db.Name) }

// BackupPVCNameOf is the PVC of the backups of Database name, "<name>-backups".
func BackupPVCNameOf(name string) string { return name + "-backups" }

// Retained reports whether deleting the Database leaves its Secrets and data PVCs
// (spec.deletionPolicy Retain, the default).
func (db *Database) Retained() bool { return db.Spec.DeletionPolicy != DeletionDelete }

// Replicated reports whether the Database has replicas besides its primary.
func (db *Database) Replicated() bool { return db.ReplicaCount() > 1 }

// PrimaryHost is the primary pod's stable DNS name through the headless Service,
// "<name>-0.<name>-headless.<namespace>.svc": where replicas stream from.
func (db *Database) PrimaryHost() string {
	return fmt.Sprintf("%s-0.%s.%s.svc", db.StatefulSetName(), db.HeadlessServiceName(), db.Namespace)
}

// ReadOnlyHost is the read-only Service's cluster DNS name.
func (db *Database) ReadOnlyHost() string {
	return fmt.Sprintf("%s.%s.svc", db.ReadOnlyServiceName(), db.Namespace)
}

// PodDisruptionBudgetName is "<name>".
func (db *Database) PodDisruptionBudgetName() string { return db.Name }

// Port is the engine's client port: 5432 for postgres, 3306 for mysql and mariadb.
func (db *Database) Port() int32 {
	if db.Spec.Engine == EngineMySQL || db.Spec.Engine == EngineMariaDB {
		return 3306
	}
	return 5432
}

// Host is the client Service's cluster DNS name.
func (db *Database) Host() string {
	return fmt.Sprintf("%s.%s.svc", db.ServiceName(), db.Namespace)
}

// Endpoint is the client address shown in status, "<name>.<namespace>.svc:<port>".
func (db *Database) Endpoint() string {
	return fmt.Sprintf("%s:%d", db.Host(), db.Port())
}

// Image is spec.image, or "<engine>:<version>".
func (db *Database) Image() string {
	if db.Spec.Image != "" {
		return db.Spec.Image
	}
	return fmt.Sprintf("%s:%s", db.Spec.Engine, db.Spec.Version)
}

// Phase is status.phase, Pending when unset.
func (db *Database) Phase() Phase {
	if db.Status.Phase == "" {
		return PhasePending
	}
	return db.Status.Phase
}

// Condition returns the condition of the given type, or nil.
func (db *Database) Condition(conditionType string) *metav1.Condition {
	return meta.FindStatusCondition(db.Status.Conditions, conditionType)
}

// SetCondition sets a condition with meta.SetStatusCondition: lastTransitionTime
// changes only when the status does. observedGeneration is the Database's generation.
// It reports whether anything changed.
func (db *Database) SetCondition(conditionType string, status metav1.ConditionStatus, reason, message string, now time.Time) bool {
	return meta.SetStatusCondition(&db.Status.Conditions, metav1.Condition{
		Type:               conditionType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: db.Generation,
		LastTransitionTime: metav1.NewTime(now),
	})
}

// IsReady reports whether the phase is Ready and the Ready condition is True for the
// current generation.
func (db *Database) IsReady() bool {
	c := db.Condition(ConditionReady)
	return db.Status.Phase == PhaseReady && c != nil && c.Status == metav1.ConditionTrue &&
		db.Status.ObservedGeneration == db.Generation
}
