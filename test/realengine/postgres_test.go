package realengine

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPostgresTopology(t *testing.T) { testTopology(t, postgres{}) }

func TestPostgresParameters(t *testing.T) {
	testParameters(t, postgres{},
		map[string]string{"shared_buffers": "bogus"}, `invalid value for parameter "shared_buffers": "bogus"`,
		map[string]string{"max_connections": "150"}, "SHOW max_connections", "150")
}

func TestPostgresBackupRestore(t *testing.T) { testBackupRestore(t, postgres{}) }

func TestPostgresBackupCrashes(t *testing.T) { testBackupCrashes(t, postgres{}) }

func TestPostgresLateReplicationSecret(t *testing.T) { testLateReplicationSecret(t, postgres{}) }

func TestPostgresInterruptedBootstrap(t *testing.T) {
	testInterruptedBootstrap(t, postgres{}, "starting a temporary server", "cloning the primary")
}

// officialImageInit makes a data directory the way the official image's
// entrypoint does (docker-entrypoint.sh): initdb with POSTGRES_USER as the
// superuser (no postgres role), "host all all all scram-sha-256" appended to its
// pg_hba.conf, and the database POSTGRES_DB (= the user) created.
const officialImageInit = `set -euo pipefail
PGDATA=/var/lib/postgresql/data/pgdata
mkdir -p "$PGDATA"; chmod 700 "$PGDATA"
initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") >/dev/null
printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
pg_ctl -D "$PGDATA" -w -s -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start
psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER" -d postgres --set db="$POSTGRES_USER" <<<'CREATE DATABASE :"db";'
psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER" -d "$POSTGRES_USER" \
	-c 'CREATE TABLE items (id int PRIMARY KEY, note text)' -c "INSERT INTO items VALUES (1, 'before dbctl')"
pg_ctl -D "$PGDATA" -m fast -w -s stop
`

// TestPostgresOfficialImageDataDirectory: a Database made by an earlier dbctl
// (the official image's entrypoint) starts under the new bootstrap with its data
// and password, and a replica clones it.
func TestPostgresOfficialImageDataDirectory(t *testing.T) {
	drv := postgres{}
	requireEngine(t, drv)
	c := newCluster(t, drv, nil, 1)
	c.writeReplicationSecret(c.replDir, c.repl)
	p, r := c.primary(), c.replicas()[0]

	step(t, "the official image's entrypoint initialises the data directory")
	p.start()
	env := append(drv.imageEnv(), "POSTGRES_USER="+c.app.user, "POSTGRES_PASSWORD="+c.app.password)
	if out, err := p.exec(true, env, "bash", "-c", officialImageInit); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	step(t, "the new bootstrap starts it: same data, same password, and a replica clones it")
	upCluster(t, c, r)
	checkAuthentication(t, c)
	waitRows(t, c, r, 1, replicateLimit)
	insert(t, c, 2, 3)
	waitRows(t, c, r, 3, replicateLimit)
	out, err := drv.adminQuery(p, "SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN ('postgres', 'app') ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("roles after the upgrade (the old superuser keeps its rights): %s", strings.ReplaceAll(out, "\n", "; "))
}

// TestPostgresLostSlot: a replica whose slot the primary invalidated (the WAL
// retention bound, max_slot_wal_keep_size) or lost is cloned again on its next
// start instead of waiting forever for WAL that is gone; a running standby in
// that state stops itself so that the kubelet restarts it.
func TestPostgresLostSlot(t *testing.T) {
	drv := postgres{}
	requireEngine(t, drv)
	c := newCluster(t, drv, map[string]string{"max_slot_wal_keep_size": "16MB"}, 1)
	c.writeReplicationSecret(c.replDir, c.repl)
	p, r := c.primary(), c.replicas()[0]
	upCluster(t, c, r)
	if _, err := drv.appQuery(c, p, c.app, "CREATE TABLE items (id int PRIMARY KEY, note text)"); err != nil {
		t.Fatal(err)
	}
	insert(t, c, 1, 1)
	waitRows(t, c, r, 1, replicateLimit)
	const invalidated = "was invalidated on the primary (WAL retention bound): cloning again"

	step(t, "the replica is away while the primary writes more WAL than the bound: its slot is invalidated")
	stopGracefully(t, r)
	invalidateSlot(t, c, 10)
	r.startServer()
	waitLog(t, r, invalidated, 30*time.Second)
	r.waitReady(readyTimeout)
	waitRows(t, c, r, 5, replicateLimit)

	step(t, "the replica is away while its slot is dropped: cloned again")
	stopGracefully(t, r)
	if _, err := drv.adminQuery(p, "SELECT pg_drop_replication_slot('orders_replica_0')"); err != nil {
		t.Fatal(err)
	}
	insert(t, c, 20, 20)
	r.startServer()
	waitLog(t, r, "is missing on the primary: cloning again", 30*time.Second)
	r.waitReady(readyTimeout)
	waitRows(t, c, r, 6, replicateLimit)

	step(t, "a running standby cut off while its slot is invalidated stops itself; its next start clones it again")
	c.partition(r)
	eventually(t, 20*time.Second, "the slot inactive", func() error {
		out, err := drv.adminQuery(p, "SELECT active FROM pg_replication_slots WHERE slot_name = 'orders_replica_0'")
		if err == nil && out != "f" {
			err = fmt.Errorf("active: %q", out)
		}
		return err
	})
	invalidateSlot(t, c, 30)
	c.heal(r)
	waitLog(t, r, "stopping the standby so that its next start clones it again", 60*time.Second)
	restartAfterExit(t, r, 30*time.Second)
	waitLogCount(t, r, invalidated, 2, 30*time.Second)
	r.waitReady(readyTimeout)
	waitRows(t, c, r, 10, replicateLimit)
}

// invalidateSlot writes four WAL segments' worth of switches (rows from..from+3)
// and checkpoints: the replica's inactive slot falls behind max_slot_wal_keep_size.
func invalidateSlot(t *testing.T, c *cluster, from int) {
	t.Helper()
	p := c.primary()
	for i := range 4 {
		insert(t, c, from+i, from+i)
		if _, err := c.drv.adminQuery(p, "SELECT pg_switch_wal()"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.drv.adminQuery(p, "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	status, err := c.drv.adminQuery(p, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'orders_replica_0'")
	if err != nil || status != "lost" {
		t.Fatalf("the slot's wal_status: got %q (%v), want lost", status, err)
	}
}
