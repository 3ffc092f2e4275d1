package engine

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Name is a database engine.
type Name string

// The engines dbctl runs.
const (
	Postgres Name = "postgres"
	MariaDB  Name = "mariadb"
	MySQL    Name = "mysql"
)

// Input is what the rendered files depend on.
type Input struct {
	// Engine selects the files.
	Engine Name
	// Parameters are spec.parameters: engine settings over dbctl's defaults. A
	// setting dbctl relies on (see Fixed) is not overridden.
	Parameters map[string]string
	// StorageSize is spec.storage.size; PostgreSQL's default
	// max_slot_wal_keep_size is a quarter of it.
	StorageSize resource.Quantity
	// Backup, when set (spec.backup), adds backup.sh, the backup Job's script
	// (see BackupInput for what the Job must provide). Nil renders exactly the
	// files of a Database without backups.
	Backup *BackupInput
	// Restore, when set (spec.bootstrap.fromBackup), renders a bootstrap.sh whose
	// primary restores a backup into its new data directory first (see
	// RestoreInput for what the primary's pod must provide). Nil renders exactly
	// the files of a Database not created from a backup.
	Restore *RestoreInput
}

// Paths is where things are inside a database pod of one engine.
type Paths struct {
	// ConfigDir is where the ConfigMap is mounted, read-only.
	ConfigDir string
	// ReplicationDir is where the optional replication Secret (keys username,
	// password) is mounted; empty for mysql.
	ReplicationDir string
	// DataMount is where the data volume is mounted.
	DataMount string
	// DataDir is the server's data directory, a subdirectory of DataMount
	// (mysql: DataMount itself).
	DataDir string
	// SocketDir is the server's unix socket directory; empty for mysql (the
	// image's default).
	SocketDir string
	// Port is the client port; PortName the container port's name.
	Port     int32
	PortName string
	// UID and GID the server runs as (the official images' postgres and mysql
	// users); the data volume must be writable by GID (pod fsGroup).
	UID, GID int64
	// Command is the container command; nil keeps the image's entrypoint (mysql).
	Command []string
	// Args are the container args (nil for postgres and mariadb: the bootstrap
	// script takes none).
	Args []string
	// Readiness is the readiness probe's exec command.
	Readiness []string
	// BackupCommand is the backup Job's container command (bash
	// /etc/dbctl/backup.sh, rendered with Input.Backup); nil for mysql.
	BackupCommand []string
	// ConfigFiles are the files whose content ConfigHash covers: a change to
	// them must restart the server; a change to any other file must not.
	ConfigFiles []string
}

// Fixed paths inside the pods.
const (
	// ConfigDir is where the ConfigMap with Files is mounted (read-only).
	ConfigDir = "/etc/dbctl"
	// ReplicationDir is where the <name>-replication Secret is mounted as an
	// optional volume: files username and password, absent while the Secret
	// does not exist.
	ReplicationDir = "/etc/dbctl-replication"
	// ServerUID and ServerGID are the official images' postgres/mysql user.
	ServerUID = 999
	ServerGID = 999
)

// The environment contract: what the pod sets for bootstrap.sh and ready.sh (see
// the package documentation).
const (
	EnvRole        = "DBCTL_ROLE"         // RolePrimary or RoleReplica
	EnvPodName     = "POD_NAME"           // downward API metadata.name
	EnvPrimaryHost = "DBCTL_PRIMARY_HOST" // the primary pod's DNS name
	EnvPort        = "DBCTL_PORT"         // the engine's port
	EnvDatabase    = "DBCTL_DATABASE"     // the application database
	EnvUser        = "DBCTL_USER"         // the application user (credentials Secret)
	EnvPassword    = "DBCTL_PASSWORD"     // the application password (credentials Secret)
	// EnvWaitTimeout (seconds, default 120) bounds a bootstrap's wait for the
	// replication Secret and the primary; optional, dbctl does not set it.
	EnvWaitTimeout = "DBCTL_WAIT_TIMEOUT"
)

// Values of EnvRole.
const (
	RolePrimary = "primary"
	RoleReplica = "replica"
)

// File names in the ConfigMap.
const (
	FileBootstrap       = "bootstrap.sh"
	FileReady           = "ready.sh"
	FileBackup          = "backup.sh"
	FilePostgresConf    = "postgresql.conf"
	FilePostgresStorage = "storage.conf"
	FilePostgresHBA     = "pg_hba.conf"
	FilePostgresIdent   = "pg_ident.conf"
	FileMyCnf           = "my.cnf"
	legacyMySQLConfDir  = "/etc/mysql/conf.d"
)

//go:embed scripts
var scripts embed.FS

// Layout returns where things are in a pod of engine n.
func Layout(n Name) (Paths, error) {
	run := func(name string) []string { return []string{"bash", ConfigDir + "/" + name} }
	switch n {
	case Postgres:
		return Paths{ConfigDir: ConfigDir, ReplicationDir: ReplicationDir,
			DataMount: "/var/lib/postgresql/data", DataDir: "/var/lib/postgresql/data/pgdata",
			SocketDir: "/var/run/postgresql", Port: 5432, PortName: "postgresql",
			UID: ServerUID, GID: ServerGID, Command: run(FileBootstrap), Readiness: run(FileReady),
			BackupCommand: run(FileBackup),
			ConfigFiles:   []string{FilePostgresConf, FilePostgresHBA, FilePostgresIdent}}, nil
	case MariaDB:
		return Paths{ConfigDir: ConfigDir, ReplicationDir: ReplicationDir,
			DataMount: "/var/lib/mysql", DataDir: "/var/lib/mysql/data",
			SocketDir: "/run/mysqld", Port: 3306, PortName: "mysql",
			UID: ServerUID, GID: ServerGID, Command: run(FileBootstrap), Readiness: run(FileReady),
			BackupCommand: run(FileBackup),
			ConfigFiles:   []string{FileMyCnf}}, nil
	case MySQL:
		return Paths{ConfigDir: legacyMySQLConfDir, DataMount: "/var/lib/mysql", DataDir: "/var/lib/mysql",
			Port: 3306, PortName: "mysql", UID: ServerUID, GID: ServerGID,
			Readiness:   []string{"sh", "-c", "exec mysqladmin ping -h 127.0.0.1 -P 3306 --silent"},
			ConfigFiles: []string{FileMyCnf}}, nil
	default:
		return Paths{}, fmt.Errorf("unsupported engine %q (postgres, mariadb or mysql)", n)
	}
}

// Files renders the ConfigMap's data: file name -> content.
func Files(in Input) (map[string]string, error) {
	if err := checkParameters(in.Parameters); err != nil {
		return nil, err
	}
	var files map[string]string
	var err error
	switch in.Engine {
	case Postgres:
		files, err = postgresFiles(in)
	case MariaDB:
		files, err = mariadbFiles(in)
	case MySQL:
		if in.Backup != nil || in.Restore != nil {
			return nil, fmt.Errorf("mysql: backups and restores need dbctl's bootstrap, which runs postgres and mariadb only")
		}
		return map[string]string{FileMyCnf: mysqlConf(in.Parameters)}, nil
	default:
		return nil, fmt.Errorf("unsupported engine %q (postgres, mariadb or mysql)", in.Engine)
	}
	if err != nil {
		return nil, err
	}
	return withBackupScripts(in, files)
}

// ConfigHash is a hash of the server configuration files only (Paths.ConfigFiles),
// for the pod template's config-hash annotation: a change to the config restarts
// the servers, a change to a script alone does not (the new script runs at the
// pods' next start).
func ConfigHash(in Input) (string, error) {
	files, err := Files(in)
	if err != nil {
		return "", err
	}
	l, err := Layout(in.Engine)
	if err != nil {
		return "", err
	}
	return configHash(files, l.ConfigFiles), nil
}

func configHash(files map[string]string, names []string) string {
	h := sha256.New()
	for _, name := range names {
		fmt.Fprintf(h, "%s\x00%d\x00%s", name, len(files[name]), files[name])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// setting is one line of a configuration file.
type setting struct{ name, value string }

// parameterName is the API's rule for spec.parameters names.
var parameterName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.-]{0,62}$`)

// checkParameters repeats the API's validation: a name or a value that could add
// lines of its own to a config file is an error, whoever built the Input.
func checkParameters(params map[string]string) error {
	for _, k := range sortedKeys(params) {
		if !parameterName.MatchString(k) {
			return fmt.Errorf("invalid parameter name %q: must match %s", k, parameterName)
		}
		if strings.ContainsAny(params[k], "\r\n\x00") {
			return fmt.Errorf("parameter %s: the value must be one line", k)
		}
	}
	return nil
}

// script returns an embedded script.
func script(engine Name, name string) (string, error) {
	b, err := scripts.ReadFile("scripts/" + string(engine) + "/" + name)
	if err != nil {
		return "", fmt.Errorf("reading the embedded %s %s: %w", engine, name, err)
	}
	return string(b), nil
}

// withScripts adds the engine's bootstrap and readiness scripts to files.
func withScripts(engine Name, files map[string]string) (map[string]string, error) {
	for _, name := range []string{FileBootstrap, FileReady} {
		s, err := script(engine, name)
		if err != nil {
			return nil, err
		}
		files[name] = s
	}
	return files, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
