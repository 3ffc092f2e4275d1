package realengine

import (
	"fmt"
	"strings"
)

// backupDriver is what differs between the engines in the backup tests.
type backupDriver interface {
	driver
	// schema creates the test schema as the application: tables a, m and z (a and
	// z written together in the consistency test, m dumped between them and
	// filled with rows of every kind of value), a view and a trigger (and, for
	// MariaDB, a procedure).
	schema(mRows int) []string
	// tables lists the application database's tables.
	tablesSQL() string
	// digestSQL returns one line "<rows> <checksum of every row>" for a table.
	digestSQL(table string) string
	digest(out string) string
	// smoke uses the view, the trigger (and the procedure) as the application:
	// statements and what each must print, with aRows rows in table a.
	smoke(aRows int) [][2]string
	// sessionArgs is a long-lived client on stdin as cred: env and command.
	sessionArgs(c *cluster, p *pod, cred credentials) (env, args []string)
	// lockSQL holds a lock on table that makes the dump wait when it reaches the
	// table; echo prints a line (after the statements before it ran).
	lockSQL(table string) (lock, unlock string)
	echoSQL(s string) string
	// dumpWaitingSQL (as the server's admin) counts the dump's sessions that wait
	// for a lock.
	dumpWaitingSQL() string
	// loader is the command name of the process that loads a dump in a restore.
	loader() string
	ext() string
}

// rowsSQL inserts rows from..to into table: quotes, a line break, non-ASCII
// letters, and a NULL every fifth row.
func rowsSQL(table string, from, to int) string {
	var values []string
	for i := from; i <= to; i++ {
		note := fmt.Sprintf("'row %d: it''s \"quoted\",\nünïcödé'", i)
		if i%5 == 0 {
			note = "NULL"
		}
		values = append(values, fmt.Sprintf("(%d, %s)", i, note))
	}
	return "INSERT INTO " + table + " VALUES " + strings.Join(values, ", ")
}

// txSQL runs statements in one transaction.
func txSQL(statements ...string) string {
	return "BEGIN; " + strings.Join(statements, "; ") + "; COMMIT"
}

func (postgres) schema(mRows int) []string {
	return []string{
		"CREATE TABLE a (id int PRIMARY KEY, note text)",
		"CREATE TABLE m (id int PRIMARY KEY, payload bytea, amount numeric(12,2), at timestamptz)",
		"CREATE TABLE z (id int PRIMARY KEY, note text)",
		"CREATE VIEW a_notes AS SELECT id, note FROM a",
		"CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.note := upper(NEW.note); RETURN NEW; END$$",
		"CREATE TRIGGER z_shout BEFORE INSERT ON z FOR EACH ROW EXECUTE FUNCTION shout()",
		fmt.Sprintf("INSERT INTO m SELECT g, decode(repeat(md5(g::text), 4), 'hex'), g * 1.25,"+
			" timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute' FROM generate_series(1, %d) g", mRows),
	}
}

func (postgres) tablesSQL() string {
	return "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables" +
		" WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
}

func (postgres) digestSQL(table string) string {
	return "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM " + table + " t"
}

func (postgres) digest(out string) string { return out }

func (postgres) smoke(aRows int) [][2]string {
	return [][2]string{
		{"INSERT INTO z VALUES (1000000, 'quiet') RETURNING note", "QUIET\nINSERT 0 1"},
		{"SELECT count(*) FROM a_notes", fmt.Sprint(aRows)},
		{"DELETE FROM z WHERE id = 1000000", "DELETE 1"},
	}
}

func (d postgres) sessionArgs(c *cluster, p *pod, cred credentials) ([]string, []string) {
	return []string{d.imageEnv()[0], "PGPASSWORD=" + cred.password, "PGCONNECT_TIMEOUT=3"},
		[]string{"psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", c.fqdn(p), "-p", "5432", "-U", cred.user, "-d", c.app.user}
}

func (postgres) lockSQL(table string) (string, string) {
	return "BEGIN; LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE;", "COMMIT;"
}

func (postgres) echoSQL(s string) string { return "SELECT '" + s + "';" }

func (postgres) dumpWaitingSQL() string {
	return "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbctl-backup' AND wait_event_type = 'Lock'"
}

func (postgres) loader() string { return "pg_restore" }
func (postgres) ext() string    { return "pgdump" }

func (mariadb) schema(mRows int) []string {
	return []string{
		"CREATE TABLE a (id int PRIMARY KEY, note text)",
		"CREATE TABLE m (id int PRIMARY KEY, payload blob, amount decimal(12,2), at datetime(6))",
		"CREATE TABLE z (id int PRIMARY KEY, note text)",
		"CREATE VIEW a_notes AS SELECT id, note FROM a",
		"CREATE TRIGGER z_shout BEFORE INSERT ON z FOR EACH ROW SET NEW.note = UPPER(NEW.note)",
		"CREATE PROCEDURE count_a() SELECT count(*) FROM a",
		fmt.Sprintf("INSERT INTO m SELECT seq, UNHEX(REPEAT(MD5(seq), 4)), seq * 1.25,"+
			" TIMESTAMP '2026-01-01 00:00:00' + INTERVAL seq MINUTE FROM seq_1_to_%d", mRows),
	}
}

func (mariadb) tablesSQL() string {
	return "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()" +
		" AND table_type = 'BASE TABLE' ORDER BY 1"
}

func (mariadb) digestSQL(table string) string {
	return "SELECT COUNT(*) FROM `" + table + "`; CHECKSUM TABLE `" + table + "` EXTENDED"
}

// digest keeps the row count and the checksum: CHECKSUM TABLE also prints the
// database's name, which a restore may change.
func (mariadb) digest(out string) string {
	f := strings.Fields(out)
	if len(f) != 3 {
		return "unexpected: " + out
	}
	return f[0] + " " + f[2]
}

func (mariadb) smoke(aRows int) [][2]string {
	return [][2]string{
		{"INSERT INTO z VALUES (1000000, 'quiet'); SELECT note FROM z WHERE id = 1000000", "QUIET"},
		{"SELECT count(*) FROM a_notes; CALL count_a()", fmt.Sprintf("%d\n%d", aRows, aRows)},
		{"DELETE FROM z WHERE id = 1000000", ""},
	}
}

func (d mariadb) sessionArgs(c *cluster, p *pod, cred credentials) ([]string, []string) {
	return []string{d.imageEnv()[0], "MYSQL_PWD=" + cred.password},
		[]string{"mariadb", "--no-defaults", "--protocol=tcp", "-h", c.fqdn(p), "-P", "3306", "-u", cred.user,
			"-D", c.app.user, "--connect-timeout=3", "-N", "-B", "--unbuffered"}
}

func (mariadb) lockSQL(table string) (string, string) {
	return "LOCK TABLES " + table + " WRITE;", "UNLOCK TABLES;"
}

func (mariadb) echoSQL(s string) string { return "SELECT '" + s + "';" }

func (mariadb) dumpWaitingSQL() string {
	return "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for table metadata lock'"
}

func (mariadb) loader() string { return "mariadb" }
func (mariadb) ext() string    { return "sql.gz" }
