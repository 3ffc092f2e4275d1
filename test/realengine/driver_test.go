package realengine

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dbctl-io/dbctl/phases/engine"
)

// storageSize is every test Database's spec.storage.size.
func storageSize() resource.Quantity { return resource.MustParse("1Gi") }

// driver is what differs between the engines in the tests.
type driver interface {
	engine() engine.Name
	osUser() string     // the image's server user (uid 999)
	imageEnv() []string // the image's environment (PATH...)
	binaries() []string // what the tests need installed
	appQuery(c *cluster, p *pod, cred credentials, sql string) (string, error)
	adminQuery(p *pod, sql string) (string, error)
	clientAddressSQL() string
	wrongPassword(c *cluster) string      // the client's error for a wrong application password
	readOnly() string                     // the error of a write on a replica
	replicationRefused(c *cluster) string // the primary's log line for a wrong replication password
}

// commonBinaries are what every real-engine test needs besides the engine.
func commonBinaries() []string {
	return []string{"unshare", "nsenter", "setpriv", "ip", "iptables", "socat", "ss", "bash", "sh", "mount", "flock", "gzip", "sha256sum"}
}

// requireEngine skips the test when the engine or root is missing, or fails it
// when DBCTL_REQUIRE_REAL_ENGINES=1.
func requireEngine(t *testing.T, drv driver) {
	t.Helper()
	strict := os.Getenv("DBCTL_REQUIRE_REAL_ENGINES") == "1"
	if testing.Short() && !strict {
		t.Skip("real-engine tests start database servers: not with -short")
	}
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (for the pods' namespaces)")
	}
	for _, b := range append(commonBinaries(), drv.binaries()...) {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("real %s tests need %s (hack/real-engines.sh installs the servers; run the tests as root)",
		drv.engine(), strings.Join(missing, ", "))
	if strict {
		t.Fatal(msg + " (DBCTL_REQUIRE_REAL_ENGINES=1)")
	}
	t.Skip(msg)
}

const pgBin = "/usr/lib/postgresql/15/bin"

type postgres struct{}

func (postgres) engine() engine.Name { return engine.Postgres }
func (postgres) osUser() string      { return "postgres" }

// imageEnv is the official postgres image's environment (PGDATA is the image's,
// not the pods' data directory: the bootstrap must not depend on it).
func (postgres) imageEnv() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + pgBin,
		"PGDATA=/var/lib/postgresql/data"}
}

func (postgres) binaries() []string {
	var b []string
	for _, n := range []string{"initdb", "pg_ctl", "postgres", "psql", "pg_basebackup", "pg_controldata", "pg_isready", "pg_dump", "pg_restore"} {
		b = append(b, pgBin+"/"+n)
	}
	return b
}

func (d postgres) appQuery(c *cluster, p *pod, cred credentials, sql string) (string, error) {
	env := []string{d.imageEnv()[0], "PGPASSWORD=" + cred.password, "PGCONNECT_TIMEOUT=3"}
	out, err := c.client().exec(false, env, "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1",
		"-h", c.fqdn(p), "-p", "5432", "-U", cred.user, "-d", c.app.user, "-c", sql)
	return strings.TrimSpace(out), err
}

func (d postgres) adminQuery(p *pod, sql string) (string, error) {
	out, err := p.exec(true, d.imageEnv(), "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1",
		"-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-c", sql)
	return strings.TrimSpace(out), err
}

func (postgres) clientAddressSQL() string { return "SELECT host(inet_client_addr())" }

func (postgres) wrongPassword(c *cluster) string {
	return fmt.Sprintf(`password authentication failed for user "%s"`, c.app.user)
}

func (postgres) readOnly() string { return "cannot execute INSERT in a read-only transaction" }

func (postgres) replicationRefused(c *cluster) string {
	return fmt.Sprintf(`password authentication failed for user "%s"`, c.repl.user)
}

type mariadb struct{}

func (mariadb) engine() engine.Name { return engine.MariaDB }
func (mariadb) osUser() string      { return "mysql" }
func (mariadb) imageEnv() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
}

func (mariadb) binaries() []string {
	return []string{"mariadbd", "mariadb-install-db", "mariadb", "mariadb-dump", "mariadb-admin"}
}

func (d mariadb) appQuery(c *cluster, p *pod, cred credentials, sql string) (string, error) {
	env := []string{d.imageEnv()[0], "MYSQL_PWD=" + cred.password}
	out, err := c.client().exec(false, env, "mariadb", "--no-defaults", "--protocol=tcp", "-h", c.fqdn(p), "-P", "3306",
		"-u", cred.user, "-D", c.app.user, "--connect-timeout=3", "-N", "-B", "-e", sql)
	return strings.TrimSpace(out), err
}

func (d mariadb) adminQuery(p *pod, sql string) (string, error) {
	out, err := p.exec(true, d.imageEnv(), "mariadb", "--no-defaults", "--protocol=socket", "-S", "/run/mysqld/mysqld.sock",
		"-u", "mysql", "-N", "-B", "-e", sql)
	return strings.TrimSpace(out), err
}

func (mariadb) clientAddressSQL() string { return "SELECT SUBSTRING_INDEX(USER(), '@', -1)" }

func (mariadb) wrongPassword(c *cluster) string {
	return fmt.Sprintf("Access denied for user '%s'@'%s'", c.app.user, clientAddr)
}

func (mariadb) readOnly() string { return "--read-only option" }

func (mariadb) replicationRefused(c *cluster) string {
	return fmt.Sprintf("Access denied for user '%s'@'", c.repl.user)
}
