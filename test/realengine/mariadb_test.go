package realengine

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestMariaDBTopology(t *testing.T) { testTopology(t, mariadb{}) }

func TestMariaDBParameters(t *testing.T) {
	testParameters(t, mariadb{},
		map[string]string{"bogus_option": "1"}, "unknown variable 'bogus_option=1'",
		map[string]string{"max_connections": "150"}, "SELECT @@max_connections", "150")
}

func TestMariaDBBackupRestore(t *testing.T) { testBackupRestore(t, mariadb{}) }

func TestMariaDBBackupCrashes(t *testing.T) { testBackupCrashes(t, mariadb{}) }

func TestMariaDBLateReplicationSecret(t *testing.T) { testLateReplicationSecret(t, mariadb{}) }

func TestMariaDBInterruptedBootstrap(t *testing.T) {
	testInterruptedBootstrap(t, mariadb{}, "starting a temporary server", "copying the application database")
}

// TestMariaDBLostPosition: a replica whose GTID position the primary can no
// longer serve (its binary logs purged) is cloned again on its next start; a
// running replica that hits it (error 1236) stops itself so that the kubelet
// restarts it.
func TestMariaDBLostPosition(t *testing.T) {
	drv := mariadb{}
	requireEngine(t, drv)
	c := newCluster(t, drv, nil, 1)
	c.writeReplicationSecret(c.replDir, c.repl)
	p, r := c.primary(), c.replicas()[0]
	upCluster(t, c, r)
	if _, err := drv.appQuery(c, p, c.app, "CREATE TABLE items (id int PRIMARY KEY, note text)"); err != nil {
		t.Fatal(err)
	}
	insert(t, c, 1, 1)
	waitRows(t, c, r, 1, replicateLimit)

	step(t, "the replica is away while the primary purges the binary logs it needs: cloned again, with views, triggers and routines")
	stopGracefully(t, r)
	insert(t, c, 2, 3)
	for _, sql := range []string{
		"CREATE VIEW item_notes AS SELECT note FROM items",
		"CREATE TABLE audit (id int)",
		"CREATE TRIGGER items_audit AFTER INSERT ON items FOR EACH ROW INSERT INTO audit VALUES (NEW.id)",
		"CREATE PROCEDURE count_items() SELECT count(*) FROM items",
	} {
		if _, err := drv.appQuery(c, p, c.app, sql); err != nil {
			t.Fatal(err)
		}
	}
	purgeBinaryLogs(t, c)
	r.startServer()
	waitLog(t, r, "purged the binary logs this replica needs", 30*time.Second)
	r.waitReady(readyTimeout)
	waitRows(t, c, r, 3, replicateLimit)
	out, err := drv.appQuery(c, r, c.app, "SELECT count(*) FROM item_notes; CALL count_items();"+
		" SELECT count(*) FROM information_schema.TRIGGERS WHERE TRIGGER_NAME = 'items_audit'")
	if err != nil || strings.Fields(out)[0] != "3" || strings.Join(strings.Fields(out), " ") != "3 3 1" {
		t.Fatalf("the clone's view, routine and trigger: %q, %v", out, err)
	}

	step(t, "a running replica cut off while the primary purges them stops itself; its next start clones it again")
	c.partition(r)
	insert(t, c, 4, 5)
	purgeBinaryLogs(t, c)
	c.heal(r)
	waitLog(t, r, "stopping the server so that its next start clones it again", 60*time.Second)
	restartAfterExit(t, r, 30*time.Second)
	waitLog(t, r, "cannot serve this replica's GTID position", 30*time.Second)
	waitLogCount(t, r, "cloning again", 2, 30*time.Second)
	r.waitReady(readyTimeout)
	waitRows(t, c, r, 5, replicateLimit)
}

// purgeBinaryLogs starts a new binary log on the primary and purges the others.
func purgeBinaryLogs(t *testing.T, c *cluster) {
	t.Helper()
	eventually(t, 20*time.Second, "the primary's old binary logs purged", func() error {
		out, err := c.drv.adminQuery(c.primary(), "FLUSH BINARY LOGS; PURGE BINARY LOGS BEFORE NOW() + INTERVAL 1 DAY; SHOW BINARY LOGS")
		if err == nil && strings.Count(out, "\n") != 0 {
			err = fmt.Errorf("binary logs left: %s", out)
		}
		return err
	})
}
