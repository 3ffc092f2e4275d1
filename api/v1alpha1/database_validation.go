package v1alpha1

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dbctl-io/dbctl/reconcile/redact"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// reservedUsernames cannot be the application user (database_types.go).
var reservedUsernames = []string{ReplicationUsername, "postgres", "root"}

// Patterns and lengths of the CRD markers in database_types.go, applied client-side.
var (
	namePattern       = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	versionPattern    = regexp.MustCompile(`^[0-9]{1,4}(\.[0-9]{1,4})?$`)
	parameterPattern  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.-]{0,62}$`)
	usernamePattern   = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,31}$`)
	dependencyPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	tcpPattern        = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:[0-9]{1,5}$`)
	schedulePattern   = regexp.MustCompile(`^((CRON_TZ|TZ)=[A-Za-z0-9_+/-]+ )?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[^ ]+( [^ ]+){4})$`)
	backupFilePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

const (
	maxVersionLength          = 16
	maxImageLength            = 512
	maxStorageClassNameLength = 253
	maxScheduleLength         = 128
	maxBackupKeep             = 1000
	maxBackupFileLength       = 253
	maxParameterValueLength   = 1024
	maxDependencyNameLength   = 63
	maxURLLength              = 2048
	maxTCPLength              = 261
	// maxShownValue bounds how much of a bad value an error message repeats.
	maxShownValue = 64
)

// Validate checks the Database against the rules of its CRD (OpenAPI markers and
// CEL rules in database_types.go) so that a spec rejected here would be rejected by
// the API server and the other way round. It does not check the immutability of
// spec.engine, which needs the stored object.
//
// Empty optional strings (credentials.username, dependency url and tcp) are treated
// as unset: Go cannot tell them apart. reconcile/load rejects them when they are
// written explicitly, as the API server does.
//
// Three rules are stricter than the CRD, because what dbctl makes from the spec
// would fail later: spec.storage.storageClassName must be a DNS subdomain (a PVC's
// storageClassName is), the port of a dependency's tcp must be 1..65535, and a
// parameter value must be one line (the CRD checks only its length: a CEL rule
// scanning it for line breaks exceeds the CRD's cost budget).
//
// Messages are lower-case and repeat the bad value, except values that may be
// secret: parameter values are never repeated and URLs are shown without userinfo
// or query.
func (db *Database) Validate() field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateMetadata(db, field.NewPath("metadata"))...)
	errs = append(errs, db.Spec.validate(field.NewPath("spec"))...)
	if b := db.Spec.Bootstrap; b != nil && b.FromBackup != nil && b.FromBackup.Database == db.Name && db.Name != "" {
		errs = append(errs, field.Invalid(field.NewPath("spec", "bootstrap", "fromBackup", "database"), b.FromBackup.Database,
			"a Database cannot be restored from its own backups"))
	}
	return errs
}

func validateMetadata(db *Database, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	name := db.Name
	switch {
	case name == "":
		errs = append(errs, field.Required(path.Child("name"), "required"))
	default:
		if n := utf8.RuneCountInString(name); n > MaxNameLength {
			errs = append(errs, field.Invalid(path.Child("name"), name, fmt.Sprintf(
				"must be at most %d characters so that every child name (<name>-credentials, <name>-headless, pods, PVCs data-<name>-<ordinal>) is a valid DNS label, got %d",
				MaxNameLength, n)))
		} else if db.Spec.Backup != nil && n > MaxBackupNameLength {
			errs = append(errs, field.Invalid(path.Child("name"), name, fmt.Sprintf(
				"must be at most %d characters with spec.backup, so that the CronJob <name>-backup's Jobs get valid names, got %d",
				MaxBackupNameLength, n)))
		} else if r := db.Spec.Replicas; r != nil && *r > 1 && n > MaxReplicatedNameLength {
			errs = append(errs, field.Invalid(path.Child("name"), name, fmt.Sprintf(
				"must be at most %d characters with spec.replicas above 1, so that the replica StatefulSet <name>-replica's pods get valid labels, got %d",
				MaxReplicatedNameLength, n)))
		}
		if !namePattern.MatchString(name) {
			errs = append(errs, field.Invalid(path.Child("name"), name,
				"must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit), got "+quote(name)))
		}
	}
	if ns := db.Namespace; ns != "" && len(validation.IsDNS1123Label(ns)) > 0 {
		errs = append(errs, field.Invalid(path.Child("namespace"), ns,
			"must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters), got "+quote(ns)))
	}
	labels := path.Child("labels")
	for _, k := range sortedKeys(db.Labels) {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(labels.Key(k), k, "invalid label key "+quote(k)+": "+msg))
		}
		for _, msg := range validation.IsValidLabelValue(db.Labels[k]) {
			errs = append(errs, field.Invalid(labels.Key(k), db.Labels[k], "invalid label value "+quote(db.Labels[k])+": "+msg))
		}
	}
	annotations := path.Child("annotations")
	for _, k := range sortedKeys(db.Annotations) {
		for _, msg := range validation.IsQualifiedName(strings.ToLower(k)) {
			errs = append(errs, field.Invalid(annotations.Key(k), k, "invalid annotation key "+quote(k)+": "+msg))
		}
	}
	if err := apimachineryvalidation.ValidateAnnotationsSize(db.Annotations); err != nil {
		errs = append(errs, withDetail(field.TooLong(annotations, field.OmitValueType{}, apimachineryvalidation.TotalAnnotationSizeLimitB), fmt.Sprintf("keys and values must total at most %d bytes", apimachineryvalidation.TotalAnnotationSizeLimitB)))
	}
	return errs
}

func (s *DatabaseSpec) validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Engine {
	case "":
		errs = append(errs, field.Required(path.Child("engine"), "required: postgres, mysql or mariadb"))
	case EnginePostgres, EngineMySQL, EngineMariaDB:
	default:
		errs = append(errs, field.Invalid(path.Child("engine"), string(s.Engine), "must be postgres, mysql or mariadb, got "+quote(string(s.Engine))))
	}

	switch {
	case s.Version == "":
		errs = append(errs, field.Required(path.Child("version"), `required: "MAJOR" or "MAJOR.MINOR", e.g. "16"`))
	case utf8.RuneCountInString(s.Version) > maxVersionLength || !versionPattern.MatchString(s.Version):
		errs = append(errs, field.Invalid(path.Child("version"), s.Version,
			`must be "MAJOR" or "MAJOR.MINOR" with 1 to 4 digits each (e.g. "16", "8.4"), got `+quote(s.Version)))
	}

	if n := utf8.RuneCountInString(s.Image); n > maxImageLength {
		errs = append(errs, tooLong(path.Child("image"), maxImageLength, n))
	}

	if r := s.Replicas; r != nil && (*r < MinReplicas || *r > MaxReplicas) {
		errs = append(errs, field.Invalid(path.Child("replicas"), *r,
			fmt.Sprintf("must be between %d and %d, got %d", MinReplicas, MaxReplicas, *r)))
	} else if r != nil && *r > 1 && s.Engine == EngineMySQL {
		errs = append(errs, field.Invalid(path.Child("replicas"), *r,
			"engine mysql runs one instance only: use engine mariadb for a primary with streaming replicas, or replicas: 1"))
	}

	errs = append(errs, s.Storage.validate(path.Child("storage"))...)
	errs = append(errs, validateClaims(s.Resources.Claims, path.Child("resources", "claims"))...)
	errs = append(errs, validateParameters(s.Parameters, path.Child("parameters"))...)

	switch u := s.Credentials.Username; {
	case u != "" && !usernamePattern.MatchString(u):
		errs = append(errs, field.Invalid(path.Child("credentials", "username"), u,
			"must match ^[a-z_][a-z0-9_]{0,31}$ (lower-case letters, digits and '_', at most 32 characters), got "+quote(u)))
	case slices.Contains(reservedUsernames, u):
		errs = append(errs, field.Invalid(path.Child("credentials", "username"), u,
			"replicator, postgres and root are reserved: the replication user and the servers' administrators"))
	}

	errs = append(errs, validateDependencies(s.Dependencies, path.Child("dependencies"))...)
	errs = append(errs, validatePositiveDuration(s.Verify.Timeout, path.Child("verify", "timeout"))...)
	errs = append(errs, s.Backup.validate(path.Child("backup"))...)
	errs = append(errs, s.Bootstrap.validate(path.Child("bootstrap"))...)
	if s.Engine == EngineMySQL && (s.Backup != nil || s.Bootstrap != nil && s.Bootstrap.FromBackup != nil) {
		errs = append(errs, field.Invalid(path.Child("engine"), string(s.Engine),
			"spec.backup and spec.bootstrap.fromBackup need engine postgres or mariadb: mysql runs the official image's entrypoint, without dbctl's scripts"))
	}
	switch s.DeletionPolicy {
	case "", DeletionRetain, DeletionDelete:
	default:
		errs = append(errs, field.Invalid(path.Child("deletionPolicy"), string(s.DeletionPolicy),
			"must be Retain or Delete, got "+quote(string(s.DeletionPolicy))))
	}
	return errs
}

func (b *BackupSpec) validate(path *field.Path) field.ErrorList {
	if b == nil {
		return nil
	}
	var errs field.ErrorList
	switch {
	case b.Schedule == "":
		errs = append(errs, field.Required(path.Child("schedule"), `required: a cron schedule such as "0 3 * * *"`))
	case utf8.RuneCountInString(b.Schedule) > maxScheduleLength:
		errs = append(errs, tooLong(path.Child("schedule"), maxScheduleLength, utf8.RuneCountInString(b.Schedule)))
	case !schedulePattern.MatchString(b.Schedule):
		errs = append(errs, field.Invalid(path.Child("schedule"), b.Schedule,
			`must be a cron schedule of five fields ("0 3 * * *") or @hourly, @daily, @weekly, @monthly, @yearly, optionally after CRON_TZ=ZONE, got `+quote(b.Schedule)))
	}
	if b.Keep != 0 && (b.Keep < 1 || b.Keep > maxBackupKeep) {
		errs = append(errs, field.Invalid(path.Child("keep"), b.Keep, fmt.Sprintf("must be between 1 and %d, got %d", maxBackupKeep, b.Keep)))
	}
	return append(errs, b.Storage.validate(path.Child("storage"))...)
}

func (b *BootstrapSpec) validate(path *field.Path) field.ErrorList {
	if b == nil || b.FromBackup == nil {
		return nil
	}
	var errs field.ErrorList
	f, p := b.FromBackup, path.Child("fromBackup")
	switch {
	case f.Database == "":
		errs = append(errs, field.Required(p.Child("database"), "required: the name of the Database whose backups to restore"))
	case utf8.RuneCountInString(f.Database) > MaxNameLength || !namePattern.MatchString(f.Database):
		errs = append(errs, field.Invalid(p.Child("database"), f.Database, "must be a Database name, got "+quote(f.Database)))
	}
	if f.File != "" && (utf8.RuneCountInString(f.File) > maxBackupFileLength || !backupFilePattern.MatchString(f.File)) {
		errs = append(errs, field.Invalid(p.Child("file"), f.File,
			"must be a backup's file name (letters, digits, '.', '_', '-'; no '/'), got "+quote(f.File)))
	}
	return errs
}

// maxStorageSize bounds storage.size: a volume claim holds its size in an int64 of bytes.
var maxStorageSize = resource.MustParse("8Ei")

func (s *StorageSpec) validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	size := path.Child("size")
	switch {
	case s.Size.Format == "" && s.Size.IsZero():
		errs = append(errs, field.Required(size, `required: a quantity such as "10Gi"`))
	case s.Size.Sign() <= 0:
		errs = append(errs, field.Invalid(size, s.Size.String(),
			`must be a positive quantity such as "10Gi", got `+quote(s.Size.String())))
	case s.Size.Cmp(maxStorageSize) >= 0:
		errs = append(errs, field.Invalid(size, s.Size.String(), "must be less than 8Ei, got "+quote(s.Size.String())))
	}
	if c := s.StorageClassName; c != nil && *c != "" {
		if n := utf8.RuneCountInString(*c); n > maxStorageClassNameLength {
			errs = append(errs, tooLong(path.Child("storageClassName"), maxStorageClassNameLength, n))
		} else if len(validation.IsDNS1123Subdomain(*c)) > 0 {
			errs = append(errs, field.Invalid(path.Child("storageClassName"), *c,
				"must be a DNS subdomain (lower-case letters, digits, '-' and '.'), got "+quote(*c)))
		}
	}
	return errs
}

// validateClaims checks what the CRD checks of resources.claims: it is a list map
// keyed by name. (name is required by presence, which reconcile/load checks.)
func validateClaims(claims []corev1.ResourceClaim, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]int{}
	for i, c := range claims {
		if j, dup := seen[c.Name]; dup {
			errs = append(errs, withDetail(field.Duplicate(path.Index(i).Child("name"), c.Name), fmt.Sprintf("duplicate name %s (also %s)", quote(c.Name), path.Index(j).Child("name"))))
			continue
		}
		seen[c.Name] = i
	}
	return errs
}

func validateParameters(params map[string]ParameterValue, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(params) > MaxParameters {
		errs = append(errs, withDetail(field.TooMany(path, len(params), MaxParameters), fmt.Sprintf("must have at most %d entries, got %d", MaxParameters, len(params))))
	}
	for _, k := range sortedKeys(params) {
		if !parameterPattern.MatchString(k) {
			errs = append(errs, field.Invalid(path.Key(k), k,
				"invalid parameter name "+quote(k)+": must match ^[a-zA-Z_][a-zA-Z0-9_.-]{0,62}$"))
		}
		v := string(params[k])
		if n := utf8.RuneCountInString(v); n > maxParameterValueLength {
			errs = append(errs, field.Invalid(path.Key(k), field.OmitValueType{}, fmt.Sprintf(
				"value must be at most %d characters, got %d (value redacted)", maxParameterValueLength, n)))
		}
		if strings.ContainsAny(v, "\n\r") {
			errs = append(errs, field.Invalid(path.Key(k), field.OmitValueType{},
				"value must be on one line: it contains a line break (value redacted)"))
		}
	}
	return errs
}

func validateDependencies(deps []Dependency, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(deps) > MaxDependencies {
		errs = append(errs, withDetail(field.TooMany(path, len(deps), MaxDependencies), fmt.Sprintf("must have at most %d entries, got %d", MaxDependencies, len(deps))))
	}
	seen := map[string]int{}
	for i := range deps {
		d := &deps[i]
		p := path.Index(i)
		errs = append(errs, d.validate(p)...)
		if d.Name == "" {
			continue
		}
		if j, dup := seen[d.Name]; dup {
			errs = append(errs, withDetail(field.Duplicate(p.Child("name"), d.Name), fmt.Sprintf("duplicate name %s (also %s)", quote(d.Name), path.Index(j).Child("name"))))
			continue
		}
		seen[d.Name] = i
	}
	return errs
}

func (d *Dependency) validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case d.Name == "":
		errs = append(errs, field.Required(path.Child("name"), "required"))
	case utf8.RuneCountInString(d.Name) > maxDependencyNameLength || !dependencyPattern.MatchString(d.Name):
		errs = append(errs, field.Invalid(path.Child("name"), d.Name,
			"must be a DNS label (lower-case letters, digits and '-', at most 63 characters), got "+quote(d.Name)))
	}
	switch {
	case d.URL != "" && d.TCP != "":
		errs = append(errs, field.Invalid(path, field.OmitValueType{}, "exactly one of url or tcp must be set, not both"))
	case d.URL == "" && d.TCP == "":
		errs = append(errs, field.Required(path, "exactly one of url or tcp must be set"))
	}
	if d.URL != "" {
		errs = append(errs, validateURL(d.URL, path.Child("url"))...)
	}
	if d.TCP != "" {
		errs = append(errs, validateTCP(d.TCP, path.Child("tcp"))...)
	}
	errs = append(errs, validatePositiveDuration(d.Timeout, path.Child("timeout"))...)
	return errs
}

// validateURL applies the CRD's CEL rule: isURL(self) (url.ParseRequestURI), scheme
// http or https, a non-empty hostname.
func validateURL(s string, path *field.Path) field.ErrorList {
	if n := utf8.RuneCountInString(s); n > maxURLLength {
		return field.ErrorList{tooLong(path, maxURLLength, n)}
	}
	const msg = "must be an http or https URL with a host"
	if _, err := url.ParseRequestURI(s); err != nil {
		return field.ErrorList{field.Invalid(path, field.OmitValueType{}, msg+" (value redacted: it does not parse as a URL)")}
	}
	u, err := url.Parse(s)
	if err != nil {
		return field.ErrorList{field.Invalid(path, field.OmitValueType{}, msg+" (value redacted: it does not parse as a URL)")}
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		shown := redact.URL(s)
		return field.ErrorList{field.Invalid(path, shown, msg+", got "+quote(shown))}
	}
	return nil
}

func validateTCP(s string, path *field.Path) field.ErrorList {
	if n := utf8.RuneCountInString(s); n > maxTCPLength {
		return field.ErrorList{tooLong(path, maxTCPLength, n)}
	}
	if !tcpPattern.MatchString(s) {
		return field.ErrorList{field.Invalid(path, s, `must be host:port (e.g. "backup.internal:9000"), got `+quote(s))}
	}
	port, _ := strconv.Atoi(s[strings.LastIndexByte(s, ':')+1:])
	if port < 1 || port > 65535 {
		return field.ErrorList{field.Invalid(path, s, "port must be between 1 and 65535, got "+quote(s))}
	}
	return nil
}

func validatePositiveDuration(d *metav1.Duration, path *field.Path) field.ErrorList {
	if d == nil || d.Duration > 0 {
		return nil
	}
	return field.ErrorList{field.Invalid(path, d.Duration.String(), "must be a positive duration, got "+quote(d.Duration.String()))}
}

func tooLong(path *field.Path, limit, got int) *field.Error {
	return withDetail(field.TooLong(path, field.OmitValueType{}, limit), fmt.Sprintf("must be at most %d characters, got %d", limit, got))
}

// quote renders a bad value for a message: quoted, escaped, and cut to maxShownValue
// characters so that a message stays short and on one line.
func quote(s string) string {
	if utf8.RuneCountInString(s) > maxShownValue {
		r := []rune(s)
		return strconv.Quote(string(r[:maxShownValue])) + "..."
	}
	return strconv.Quote(s)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// withDetail replaces the detail of e: the messages here are whole sentences.
func withDetail(e *field.Error, detail string) *field.Error {
	e.Detail = detail
	return e
}
