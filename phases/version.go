package phases

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// VersionChange explains why the StatefulSet of db must not take its new
// spec.version: PostgreSQL opens only a data directory of its own major version
// (another major needs pg_upgrade, or a dump and restore), and MySQL does not
// downgrade a data directory. Applied anyway, the first replaced pod would crash and
// stop the rollout. It compares the engine container's image of w (the live
// StatefulSet's workload, nil when there is none) with the version of the spec, and
// returns "" when the change is safe, when there is no StatefulSet, or when either
// image is not dbctl's own <engine>:<version> (with spec.image set, the image and its
// upgrades are the user's).
func VersionChange(db *v1alpha1.Database, w *Workload) string {
	if w == nil || db.Spec.Image != "" {
		return ""
	}
	want, ok := parseVersion(db.Spec.Version)
	if !ok {
		return ""
	}
	tag, found := strings.CutPrefix(w.Image, string(db.Spec.Engine)+":")
	if !found {
		return ""
	}
	have, ok := parseVersion(tag)
	if !ok {
		return ""
	}
	return versionMessage(db, tag, have, want)
}

func versionMessage(db *v1alpha1.Database, tag string, have, want version) string {
	sts := fmt.Sprintf("StatefulSet %s/%s", db.Namespace, db.StatefulSetName())
	switch db.Spec.Engine {
	case v1alpha1.EnginePostgres:
		if have.major == want.major {
			return ""
		}
		return fmt.Sprintf("spec.version cannot change PostgreSQL from %s to %s on the existing %s: "+
			"PostgreSQL does not open a data directory of another major version, so the first new pod would crash "+
			"and stop the rollout; set it back to %s. To move to %d, upgrade the data with pg_upgrade or a dump and "+
			"restore into a new Database (or set spec.image to take charge of the image yourself)",
			tag, db.Spec.Version, sts, tag, want.major)
	case v1alpha1.EngineMySQL:
		if !want.less(have) {
			return ""
		}
		return fmt.Sprintf("spec.version cannot change MySQL from %s to %s on the existing %s: "+
			"MySQL does not downgrade a data directory, so the first new pod would crash and stop the rollout; "+
			"set it back to %s (or set spec.image to take charge of the image yourself)",
			tag, db.Spec.Version, sts, tag)
	}
	return ""
}

// version is a "MAJOR" or "MAJOR.MINOR" version; minor is -1 when absent.
type version struct{ major, minor int }

func parseVersion(s string) (version, bool) {
	majorText, minorText, hasMinor := strings.Cut(s, ".")
	major, err := strconv.Atoi(majorText)
	if err != nil || major < 0 {
		return version{}, false
	}
	v := version{major: major, minor: -1}
	if hasMinor {
		if v.minor, err = strconv.Atoi(minorText); err != nil || v.minor < 0 {
			return version{}, false
		}
	}
	return v, true
}

// less reports whether v is an older version than o; a version without a minor
// ("8") is compared by its major only.
func (v version) less(o version) bool {
	if v.major != o.major {
		return v.major < o.major
	}
	if v.minor < 0 || o.minor < 0 {
		return false
	}
	return v.minor < o.minor
}
