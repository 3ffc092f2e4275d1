package engine

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Fixed paths of backups and restores.
const (
	// BackupDir is where the backup Job's container mounts the Database's backups
	// PVC (<name>-backups), read-write: backup.sh writes the backups there.
	BackupDir = "/var/backups/dbctl"
	// RestoreDir is where the primary's container of a Database created from a
	// backup mounts the source Database's backups PVC, read-only.
	RestoreDir = "/var/backups/dbctl-restore"
	// RestoreMarker is the file a restore writes into the new data directory
	// last, before renaming it into place (see the package documentation).
	RestoreMarker = "dbctl-restore.done"
	// DefaultTerminationLog is where backup.sh writes its termination message
	// unless EnvTerminationLog says otherwise: the kubelet's default
	// terminationMessagePath.
	DefaultTerminationLog = "/dev/termination-log"
	// MaxBackupKeep bounds BackupInput.Keep.
	MaxBackupKeep = 1000
)

// EnvTerminationLog (optional) is where backup.sh writes its termination
// message; only needed when the container's terminationMessagePath is not
// DefaultTerminationLog.
const EnvTerminationLog = "DBCTL_TERMINATION_LOG"

// BackupInput asks Files for backup.sh, the script of the backup Job (SPEC §11,
// spec.backup): a consistent logical dump of the application database only,
// taken from the primary, written into the backups PVC under a temporary name,
// read back in full, checksummed and renamed when complete, then the oldest
// complete backups beyond Keep deleted. Exit 0 means a complete, verified backup,
// described by the termination message (ParseBackupResult). The caller's Job
// (the CronJob <name>-backup, or a Job made from its template by dbctl backup)
// must provide:
//
//   - image: the Database's image (pg_dump must not be older than the server;
//     mariadb-dump, gzip, flock, find and sha256sum are in both images);
//   - command: Paths.BackupCommand (bash /etc/dbctl/backup.sh), no args;
//   - securityContext: runAsUser and runAsGroup ServerUID/ServerGID (999), and
//     fsGroup 999 so that the backups volume is writable;
//   - volumes: the ConfigMap <name>-config (rendered with Backup set) at
//     ConfigDir, read-only; the PVC <name>-backups at BackupDir, read-write;
//   - env: EnvPrimaryHost the read-write Service's host, db.Host()
//     ("<name>.<namespace>.svc", the credentials Secret's key host);
//     EnvPort the engine's port; EnvDatabase and EnvUser from the credentials
//     Secret's key username; EnvPassword from its key password. Optional:
//     EnvWaitTimeout (seconds, default 120) bounds the wait for another backup
//     still running in the same volume; EnvTerminationLog, see there;
//   - terminationMessagePolicy FallbackToLogsOnError (on failure the message is
//     the log's end: the error); restartPolicy Never; a CronJob with
//     concurrencyPolicy Forbid (a second run waits for the first's lock).
//
// The script is not covered by ConfigHash: adding or changing it restarts no
// server.
type BackupInput struct {
	// Keep is how many complete backups stay in BackupDir after a backup
	// (spec.backup.keep, default 7), 1 to MaxBackupKeep. The newest are kept, the one just
	// made always among them.
	Keep int
}

// RestoreInput makes the primary's bootstrap.sh restore a backup of another
// Database before its first start (SPEC §11, spec.bootstrap.fromBackup: its
// database names the PVC, its file is File): only into a new data directory,
// never over existing data, verified against its checksum first, loaded before
// the server is open to clients, with this Database's own users and passwords
// (a dump holds no users). The primary's pod (StatefulSet <name>) must mount the
// source Database's backups PVC (<source>-backups) at RestoreDir, read-only
// (replicas need not: they clone the primary). That PVC is usually
// ReadWriteOnce: the primary's pod must then run on the node where it is
// attached, if it is (a ReadWriteMany or ReadOnlyMany volume avoids that). No
// environment is added: File is rendered into the script, so changing it later
// restarts nothing (and changes nothing: a restored data directory is never
// restored again).
type RestoreInput struct {
	// File is the file name of one backup in RestoreDir (BackupResult.File,
	// spec.bootstrap.fromBackup.file), which must have its .sha256 file beside
	// it; empty: the newest complete backup there.
	File string
}

// BackupResult is the termination message of a successful backup.sh: one JSON
// line.
type BackupResult struct {
	// File is the backup's file name in the backups volume (BackupDir), e.g.
	// 20261130T120000.123Z.pgdump (postgres) or ....sql.gz (mariadb).
	File string `json:"file"`
	// SizeBytes is its size.
	SizeBytes int64 `json:"sizeBytes"`
	// SHA256 is its checksum (hex), also in <File>.sha256 beside it.
	SHA256 string `json:"sha256"`
	// CompletedAt is when it became complete (UTC, second precision).
	CompletedAt time.Time `json:"completedAt"`
}

var (
	backupFileName = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.(pgdump|sql\.gz)$`)
	sha256Hex      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// restoreFileName: a plain file name (no path, not hidden), safe in a script.
	restoreFileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)
)

// ParseBackupResult reads a backup Job's termination message.
func ParseBackupResult(message string) (BackupResult, error) {
	var r BackupResult
	dec := json.NewDecoder(strings.NewReader(message))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return BackupResult{}, fmt.Errorf("reading the backup's termination message: %w", err)
	}
	switch {
	case !backupFileName.MatchString(r.File):
		return BackupResult{}, fmt.Errorf("the backup's termination message names no backup file: %q", r.File)
	case !sha256Hex.MatchString(r.SHA256):
		return BackupResult{}, fmt.Errorf("the backup's termination message has no sha256 checksum: %q", r.SHA256)
	case r.SizeBytes <= 0:
		return BackupResult{}, fmt.Errorf("the backup's termination message has no size: %d", r.SizeBytes)
	case r.CompletedAt.IsZero():
		return BackupResult{}, fmt.Errorf("the backup's termination message has no completion time")
	}
	return r, nil
}

// withBackupScripts adds backup.sh (in.Backup) and the restore (in.Restore) to
// the files of postgres or mariadb.
func withBackupScripts(in Input, files map[string]string) (map[string]string, error) {
	if in.Backup != nil {
		s, err := backupScript(in.Engine, *in.Backup)
		if err != nil {
			return nil, err
		}
		files[FileBackup] = s
	}
	if in.Restore != nil {
		s, err := restoreBootstrap(in.Engine, *in.Restore, files[FileBootstrap])
		if err != nil {
			return nil, err
		}
		files[FileBootstrap] = s
	}
	return files, nil
}

// backupScript renders backup.sh: the common script with the engine's dump.
func backupScript(engine Name, b BackupInput) (string, error) {
	if b.Keep < 1 || b.Keep > MaxBackupKeep {
		return "", fmt.Errorf("backup: keep must be 1 to %d, got %d", MaxBackupKeep, b.Keep)
	}
	common, err := script("common", FileBackup)
	if err != nil {
		return "", err
	}
	dump, err := script(engine, "backup-dump.sh")
	if err != nil {
		return "", err
	}
	return fill("backup.sh", common, "@KEEP@", strconv.Itoa(b.Keep), "# @ENGINE@\n", fragment(dump))
}

// restoreBootstrap renders bootstrap.sh with the restore: the common restore and
// the engine's load in place of bootstrap's last line (main "$@"), which the
// restore's own last line runs after restoring.
func restoreBootstrap(engine Name, r RestoreInput, bootstrap string) (string, error) {
	if r.File != "" && !restoreFileName.MatchString(r.File) {
		return "", fmt.Errorf("restore: the file must be a backup's file name (a letter or digit, then letters, digits, '.', '_', '-'), got %q", r.File)
	}
	const last = "\nmain \"$@\"\n"
	if !strings.HasSuffix(bootstrap, last) {
		return "", fmt.Errorf("restore: the %s bootstrap does not end with main \"$@\"", engine)
	}
	common, err := script("common", "restore.sh")
	if err != nil {
		return "", err
	}
	load, err := script(engine, "restore-load.sh")
	if err != nil {
		return "", err
	}
	restore, err := fill("restore.sh", fragment(common), "@FILE@", "'"+r.File+"'", "# @ENGINE@\n", fragment(load))
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(bootstrap, last[1:]) + restore, nil
}

// fragment drops a sourced fragment's first line, its shellcheck directive.
func fragment(s string) string {
	return strings.TrimPrefix(s, "# shellcheck shell=bash\n")
}

// fill replaces each placeholder of s, which must occur exactly once, by its
// value (pairs placeholder, value).
func fill(name, s string, pairs ...string) (string, error) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			return "", fmt.Errorf("rendering %s: placeholder %q occurs %d times, want once", name, pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s, nil
}
