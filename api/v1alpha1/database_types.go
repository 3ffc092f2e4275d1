package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Engine is a database engine dbctl knows how to run.
// +kubebuilder:validation:Enum=postgres;mysql;mariadb
type Engine string

// Supported engines. PostgreSQL and MariaDB run as one primary and streaming
// replicas; MySQL runs as one instance only (no MySQL server proves replication in
// dbctl's tests: use mariadb for replicas).
const (
	EnginePostgres Engine = "postgres"
	EngineMySQL    Engine = "mysql"
	EngineMariaDB  Engine = "mariadb"
)

// Phase is a state of the Database state machine (SPEC §3).
// +kubebuilder:validation:Enum=Pending;Provisioning;Configuring;Deploying;Verifying;Ready;Updating;Failed
type Phase string

// The phases, in the order a new Database goes through them.
const (
	PhasePending      Phase = "Pending"
	PhaseProvisioning Phase = "Provisioning"
	PhaseConfiguring  Phase = "Configuring"
	PhaseDeploying    Phase = "Deploying"
	PhaseVerifying    Phase = "Verifying"
	PhaseReady        Phase = "Ready"
	PhaseUpdating     Phase = "Updating"
	PhaseFailed       Phase = "Failed"
)

// Limits shared by the CRD markers below and the client-side validation in
// reconcile/load, so both reject the same specs.
const (
	// MaxNameLength keeps "<name>-credentials" and "<name>-replication" (the
	// longest child names) valid DNS labels, which also keeps the primary
	// StatefulSet's pod (<name>-0), its controller-revision-hash label and its PVC
	// (data-<name>-0) valid.
	MaxNameLength = 51
	// MaxReplicatedNameLength is the longest name of a Database with replicas > 1:
	// the replica StatefulSet <name>-replica's controller-revision-hash label
	// (<name>-replica-<hash of up to 10 characters>) must stay within 63 characters.
	MaxReplicatedNameLength = 44
	// MaxBackupNameLength is the longest name of a Database with spec.backup: the
	// CronJob <name>-backup must leave room for its Jobs' suffix (52 characters).
	MaxBackupNameLength = 45
	// DefaultBackupKeep is spec.backup.keep when absent.
	DefaultBackupKeep = 7
	// ReplicationUsername is the replication user of every Database; the
	// application user cannot take its name.
	ReplicationUsername = "replicator"
	// MinReplicas and MaxReplicas bound spec.replicas.
	MinReplicas = 1
	MaxReplicas = 9
	// MaxDependencies bounds spec.dependencies.
	MaxDependencies = 16
	// MaxParameters bounds spec.parameters.
	MaxParameters = 64
)

// DatabaseSpec is the desired state of a Database.
type DatabaseSpec struct {
	// Engine is the database engine: postgres, mysql (one instance only) or
	// mariadb. It cannot be changed once set.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="engine is immutable"
	Engine Engine `json:"engine"`

	// Version is the engine version, "MAJOR" or "MAJOR.MINOR" (e.g. "16", "8.4").
	// It is the tag of the default image.
	// +required
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^[0-9]{1,4}(\.[0-9]{1,4})?$`
	Version string `json:"version"`

	// Image overrides the engine's default image (postgres:<version>,
	// mysql:<version>, mariadb:<version>).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// Replicas is the number of database pods: one primary (pod <name>-0) and
	// replicas-1 streaming replicas (pods <name>-replica-<i>).
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=9
	Replicas *int32 `json:"replicas,omitempty"`

	// Storage is the volume each replica gets.
	// +required
	Storage StorageSpec `json:"storage"`

	// Resources are the compute resources of the database container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Parameters are engine settings written to the engine's config file
	// (postgresql.conf or my.cnf) on top of dbctl's defaults.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-zA-Z_][a-zA-Z0-9_.-]{0,62}$'))",message="parameter names must match ^[a-zA-Z_][a-zA-Z0-9_.-]{0,62}$"
	Parameters map[string]ParameterValue `json:"parameters,omitempty"`

	// Credentials configures the generated credentials Secret.
	// +optional
	// +kubebuilder:default={}
	Credentials CredentialsSpec `json:"credentials,omitempty"`

	// Dependencies are external systems that must be healthy before the Database is
	// provisioned and while it is verified.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Dependencies []Dependency `json:"dependencies,omitempty"`

	// Verify configures the Verifying phase.
	// +optional
	// +kubebuilder:default={}
	Verify VerifySpec `json:"verify,omitempty"`

	// Backup schedules logical backups of the application database into the PVC
	// <name>-backups (a CronJob <name>-backup). Removing it removes the CronJob,
	// never the backups.
	// +optional
	Backup *BackupSpec `json:"backup,omitempty"`

	// Bootstrap says how a new Database's data begins: empty (the default), or
	// restored from another Database's backup. It applies only when the primary's
	// data directory is empty: a restore never overwrites data.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="bootstrap is immutable: it applies only when the Database is created"
	Bootstrap *BootstrapSpec `json:"bootstrap,omitempty"`

	// DeletionPolicy says what deleting the Database (kubectl delete, a GitOps
	// prune) does to its data and keys. Retain (the default): the credentials and
	// replication Secrets and the data PVCs stay, with no owner reference, and a
	// Database created again under the same name adopts them (same password, same
	// data). Delete: they go with the Database. The backups PVC always stays.
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// DeletionPolicy is what deleting a Database does to its data and keys.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

// The deletion policies.
const (
	DeletionRetain DeletionPolicy = "Retain"
	DeletionDelete DeletionPolicy = "Delete"
)

// BackupSpec schedules backups: each engine's own logical dump of the application
// database (pg_dump, mariadb-dump; never the users or their password hashes), taken
// from the primary, checksummed, written under a temporary name and renamed when
// complete.
type BackupSpec struct {
	// Schedule is when backups run, in cron format ("0 3 * * *"), in the
	// controller manager's time zone unless it starts with CRON_TZ=.
	// +required
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^((CRON_TZ|TZ)=[A-Za-z0-9_+/-]+ )?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[^ ]+( [^ ]+){4})$`
	Schedule string `json:"schedule"`

	// Keep is how many complete backups are kept; older ones are removed only after
	// a new one is complete.
	// +optional
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Keep int32 `json:"keep,omitempty"`

	// Storage is the PVC <name>-backups that holds the backups. It is never deleted
	// by dbctl and never owned by the Database.
	// +required
	Storage StorageSpec `json:"storage"`
}

// BootstrapSpec is how a new Database's data begins.
type BootstrapSpec struct {
	// FromBackup restores a backup of another Database of the namespace before the
	// new primary opens to clients; the new Database keeps its own users and
	// passwords (the dumps hold none).
	// +optional
	FromBackup *FromBackupSpec `json:"fromBackup,omitempty"`
}

// FromBackupSpec names the backup to restore.
type FromBackupSpec struct {
	// Database is the source Database's name: its backups are in the PVC
	// <database>-backups of this namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=51
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Database string `json:"database"`

	// File is a backup's file name in that PVC; empty: the latest complete one.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
	File string `json:"file,omitempty"`
}

// ParameterValue is the value of one engine setting: one line (a line break would
// let a value add settings of its own to the config file), at most 1024 characters.
// +kubebuilder:validation:MaxLength=1024
// +kubebuilder:validation:Pattern=`^[^\r\n]*$`
type ParameterValue string

// StorageSpec is the persistent volume of each replica.
type StorageSpec struct {
	// Size of each replica's volume, a positive quantity such as 10Gi, less than 8Ei
	// (the largest number of bytes a volume claim can hold).
	// +required
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isGreaterThan(quantity('0'))",message="must be a positive quantity"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isLessThan(quantity('8Ei'))",message="must be less than 8Ei"
	Size resource.Quantity `json:"size"`

	// StorageClassName of the volumes; the cluster's default class when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// CredentialsSpec configures the credentials Secret "<name>-credentials".
type CredentialsSpec struct {
	// Username of the application user. It cannot be "replicator" (the replication
	// user), "postgres" or "root" (the servers' administrators).
	// +optional
	// +kubebuilder:default=app
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_]{0,31}$`
	// +kubebuilder:validation:XValidation:rule="!(self in ['replicator', 'postgres', 'root'])",message="replicator, postgres and root are reserved: the replication user and the servers' administrators"
	Username string `json:"username,omitempty"`
}

// Dependency is an external system checked with an HTTP(S) GET (2xx is healthy) or a
// TCP connect. Exactly one of url and tcp is set.
// +kubebuilder:validation:XValidation:rule="has(self.url) != has(self.tcp)",message="exactly one of url or tcp must be set"
type Dependency struct {
	// Name identifies the dependency, and its circuit breaker.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// URL is checked with an HTTP GET; a 2xx answer is healthy. http or https only.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="must be an http or https URL with a host"
	URL string `json:"url,omitempty"`

	// TCP is a host:port checked with a TCP connect.
	// +optional
	// +kubebuilder:validation:MaxLength=261
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:[0-9]{1,5}$`
	TCP string `json:"tcp,omitempty"`

	// Timeout of one check.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="must be a positive duration"
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// VerifySpec configures the Verifying phase.
type VerifySpec struct {
	// Timeout is how long Verifying may take before the Database is Failed.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="must be a positive duration"
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// DatabaseStatus is the observed state of a Database.
type DatabaseStatus struct {
	// Phase is the current state of the Database state machine.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// ObservedGeneration is the metadata.generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready (the summary), Provisioned, Configured, Deployed, Verified,
	// DependenciesAvailable.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// RetryCount is the number of failed attempts since the Database was last Ready;
	// it sets the backoff window before a Failed Database is retried.
	// +optional
	RetryCount int32 `json:"retryCount,omitempty"`

	// LastFailureTime is when the Database last went Failed.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`

	// VerifyStartTime is when the current Verifying phase began.
	// +optional
	VerifyStartTime *metav1.Time `json:"verifyStartTime,omitempty"`

	// Endpoint is the client address, <name>.<namespace>.svc:<port>.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// LastBackup is the last complete backup dbctl has seen (a scheduled one, or
	// dbctl backup's); nil before the first.
	// +optional
	LastBackup *BackupRecord `json:"lastBackup,omitempty"`
}

// BackupRecord is one complete, checksummed backup.
type BackupRecord struct {
	// File is its name in the PVC <name>-backups.
	File string `json:"file"`
	// SizeBytes and SHA256 are the file's size and checksum.
	SizeBytes int64  `json:"sizeBytes"`
	SHA256    string `json:"sha256"`
	// CompletedAt is when it was complete.
	CompletedAt metav1.Time `json:"completedAt"`
	// Job is the Job that took it.
	// +optional
	Job string `json:"job,omitempty"`
}

// Database is a database (PostgreSQL, MariaDB or MySQL) run as a primary
// StatefulSet and a replica StatefulSet, reconciled by dbctl.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=databases,singular=database,shortName=db,categories=dbctl
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Engine",type=string,JSONPath=`.spec.engine`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 51",message="metadata.name must be at most 51 characters so that every child name is a valid DNS label"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.replicas) || self.spec.replicas <= 1 || size(self.metadata.name) <= 44",message="metadata.name must be at most 44 characters with spec.replicas above 1, so that the replica StatefulSet <name>-replica's pods get valid labels"
// +kubebuilder:validation:XValidation:rule="self.spec.engine != 'mysql' || (!has(self.spec.backup) && (!has(self.spec.bootstrap) || !has(self.spec.bootstrap.fromBackup)))",message="spec.backup and spec.bootstrap.fromBackup need engine postgres or mariadb: mysql runs the official image's entrypoint, without dbctl's scripts"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.backup) || size(self.metadata.name) <= 45",message="metadata.name must be at most 45 characters with spec.backup, so that the CronJob <name>-backup's Jobs get valid names"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.bootstrap) || !has(self.spec.bootstrap.fromBackup) || self.spec.bootstrap.fromBackup.database != self.metadata.name",message="spec.bootstrap.fromBackup.database: a Database cannot be restored from its own backups"
// +kubebuilder:validation:XValidation:rule="self.spec.engine != 'mysql' || !has(self.spec.replicas) || self.spec.replicas <= 1",message="spec.replicas: engine mysql runs one instance only: use engine mariadb for a primary with streaming replicas, or replicas: 1"
type Database struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   DatabaseSpec   `json:"spec"`
	Status DatabaseStatus `json:"status,omitempty"`
}

// DatabaseList is a list of Databases.
//
// +kubebuilder:object:root=true
type DatabaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Database `json:"items"`
}
