package realengine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbctl-io/dbctl/phases/engine"
)

const (
	baseRows   = 40 // rows in tables a and z before the consistency backup
	duringDump = 5  // transactions committed while the dump runs
)

// testBackupRestore: a backup taken while transactions write is one point in
// time; restored by name into a new Database with a replica, every table's rows
// and checksum are the source's, with the new Database's own password (the
// source's does not work), and a restart does not restore again.
func testBackupRestore(t *testing.T, drv backupDriver) {
	requireEngine(t, drv)
	src := newClusterWith(t, drv, clusterOptions{backup: &engine.BackupInput{Keep: 3}})
	upCluster(t, src)
	appExec(t, src, src.primary(), drv.schema(2000)...)
	appExec(t, src, src.primary(), rowsSQL("a", 1, baseRows), rowsSQL("z", 1, baseRows))

	step(t, "a backup while %d transactions write to tables a and z: the dump holds the state at its start", duringDump)
	started := time.Now()
	res := consistentBackup(t, src, drv)
	checkResult(t, src, res, started)
	checkBackups(t, src, drv, []string{res.File})
	if n := count(t, src, src.primary(), "a"); n != baseRows+duringDump {
		t.Fatalf("the source has %d rows in a, want %d: the transactions during the dump did not commit", n, baseRows+duringDump)
	}
	t.Logf("backup %s: %d bytes, sha256 %s", res.File, res.SizeBytes, res.SHA256)

	step(t, "restored by name into a new Database with a replica: every table's rows and checksum are the source's at the dump's start")
	// The source back at the dump's start: without the rows written during it.
	appExec(t, src, src.primary(), txSQL(fmt.Sprintf("DELETE FROM a WHERE id > %d", baseRows), fmt.Sprintf("DELETE FROM z WHERE id > %d", baseRows)))
	want := digests(t, src, drv, src.primary())
	dst := newClusterWith(t, drv, clusterOptions{replicas: 1, restore: &engine.RestoreInput{File: res.File}})
	dst.addSecret(src.app.password)
	dst.primary().mounts = []mount{restoreMount(src)}
	dst.writeReplicationSecret(dst.replDir, dst.repl)
	upCluster(t, dst, dst.replicas()...)
	waitLog(t, dst.primary(), "backup "+res.File+" restored", time.Second)
	checkDigests(t, dst, drv, dst.primary(), want)
	eventually(t, replicateLimit, "the replica's tables equal", func() error {
		if got := digests(t, dst, drv, dst.replicas()[0]); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%v", got)
		}
		return nil
	})
	checkSmoke(t, dst, drv, baseRows)

	step(t, "the new Database's password works from a non-loopback address; the source's does not")
	checkAuthentication(t, dst)
	_, err := drv.appQuery(dst, dst.primary(), credentials{user: dst.app.user, password: src.app.password}, "SELECT 1")
	if err == nil || !strings.Contains(err.Error(), drv.wrongPassword(dst)) {
		t.Fatalf("the source's password on the restored Database: want %q, got %v", drv.wrongPassword(dst), err)
	}

	step(t, "the restored primary restarted: starts on its data, restores nothing again")
	stopGracefully(t, dst.primary())
	dst.primary().startServer()
	dst.primary().waitReady(readyTimeout)
	waitLog(t, dst.primary(), "the data directory was restored from a backup", time.Second)
	if n := strings.Count(dst.primary().log.String(), "restoring backup "); n != 1 {
		t.Fatalf("restored %d times, want once", n)
	}
	checkDigests(t, dst, drv, dst.primary(), want)
	dst.assertNoSecretsInProcessArgs()
}

// consistentBackup runs a backup that, once it has started, waits for a lock
// the test holds on table m (dumped between a and z) while duringDump
// transactions each add a row to a and z. The restored dump must hold none of
// them: a dump that is not one snapshot would hold them in z (or in both).
func consistentBackup(t *testing.T, c *cluster, drv backupDriver) engine.BackupResult {
	t.Helper()
	s := openSession(t, c, drv)
	lock, unlock := drv.lockSQL("m")
	s.send(lock + drv.echoSQL("locked"))
	s.expect("locked")
	j := c.newBackupJob()
	j.start()
	waitDumpWaiting(t, c, drv)
	for i := baseRows + 1; i <= baseRows+duringDump; i++ {
		appExec(t, c, c.primary(), txSQL(rowsSQL("a", i, i), rowsSQL("z", i, i)))
	}
	s.send(unlock + drv.echoSQL("unlocked"))
	s.expect("unlocked")
	s.close()
	if err := j.wait(2 * time.Minute); err != nil {
		t.Fatalf("backup: %v\n%s", err, j.out.String())
	}
	return j.result()
}

// testBackupCrashes: backups killed by SIGKILL (mid-dump, and with the dump
// written but not yet checksummed) leave no file a restore would pick; a
// restore picks the latest complete backup, verifies its checksum first, is
// never reachable while it loads, and killed half-way is redone at the next
// start; retention keeps exactly keep complete backups; a restore never
// overwrites existing data.
func testBackupCrashes(t *testing.T, drv backupDriver) {
	requireEngine(t, drv)
	src := newClusterWith(t, drv, clusterOptions{backup: &engine.BackupInput{Keep: 2}})
	upCluster(t, src)
	appExec(t, src, src.primary(), drv.schema(20000)...)
	appExec(t, src, src.primary(), "CREATE TABLE items (id int PRIMARY KEY, note text)")
	insert(t, src, 1, 3)
	b1 := src.runBackup().File
	insert(t, src, 4, 5)
	b2 := src.runBackup().File
	insert(t, src, 6, 8)
	checkBackups(t, src, drv, []string{b1, b2})

	step(t, "a backup killed by SIGKILL mid-dump, then one killed once its dump is written: no new complete backup")
	killBackupMidDump(t, src, drv)
	j := src.newBackupJob()
	killed := j.killAt("verifying the dump")
	j.start()
	<-killed
	if err := j.wait(time.Minute); err == nil {
		t.Fatal("the killed backup exited 0")
	}
	left := partials(t, src)
	if len(left) == 0 {
		t.Fatal("the backup killed after its dump was written left no temporary file: was it killed half-way?")
	}
	checkBackups(t, src, drv, []string{b1, b2}, left...)

	step(t, "a copy that does not match its checksum is refused before anything is created")
	corrupt := corruptCopy(t, src, b1, drv.ext())
	dst := newClusterWith(t, drv, clusterOptions{user: "billing", restore: &engine.RestoreInput{File: corrupt}})
	dst.addSecret(src.app.password)
	p := dst.primary()
	p.mounts = []mount{restoreMount(src)}
	p.startServer()
	if err := p.waitExit(readyTimeout); err == nil {
		t.Fatal("the restore of a corrupt backup exited 0")
	}
	waitLog(t, p, "does not match its checksum file", time.Second)
	if entries, _ := os.ReadDir(p.volume); len(entries) != 0 {
		t.Fatalf("the refused restore left %v in the data volume", entries)
	}

	step(t, "restore latest (%s, not the killed backups), paused while it loads: nothing accepts connections; killed by SIGKILL", b2)
	dst.restore = &engine.RestoreInput{} // the latest
	dst.render(nil)
	killRestoreHalfWay(t, dst, drv, b2)

	step(t, "the next start removes the half-done restore and restores again")
	p.startServer()
	p.waitReady(readyTimeout)
	waitLog(t, p, "left by an interrupted bootstrap", time.Second)
	waitLog(t, p, "backup "+b2+" restored", time.Second)
	if n := count(t, dst, p, "items"); n != 5 {
		t.Fatalf("the restored items have %d rows, want 5 (backup %s)", n, b2)
	}
	checkSmoke(t, dst, drv, 0)

	checkRetention(t, src, drv, b2, corrupt)
	checkRefusedOverData(t, src)
}

// killBackupMidDump kills a backup with SIGKILL while its dump waits for a lock
// the test holds: its temporary file exists, and stays a temporary file.
func killBackupMidDump(t *testing.T, c *cluster, drv backupDriver) {
	t.Helper()
	s := openSession(t, c, drv)
	lock, unlock := drv.lockSQL("m")
	s.send(lock + drv.echoSQL("locked"))
	s.expect("locked")
	j := c.newBackupJob()
	j.start()
	waitDumpWaiting(t, c, drv)
	if len(partials(t, c)) != 1 {
		t.Fatalf("mid-dump, the backups directory holds %v, want one temporary file", partials(t, c))
	}
	j.kill()
	s.send(unlock + drv.echoSQL("unlocked"))
	s.expect("unlocked")
	s.close()
}

// corruptCopy copies backup name with its checksum file under another name and
// changes one byte of the copy; it returns the copy's name.
func corruptCopy(t *testing.T, c *cluster, name, ext string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.backupDir, name))
	must(t, err)
	sum, err := os.ReadFile(filepath.Join(c.backupDir, name+".sha256"))
	must(t, err)
	copyName := "corrupt." + ext
	b[len(b)/2] ^= 0xff
	must(t, os.WriteFile(filepath.Join(c.backupDir, copyName), b, 0o644))
	must(t, os.WriteFile(filepath.Join(c.backupDir, copyName+".sha256"), []byte(strings.Replace(string(sum), name, copyName, 1)), 0o644))
	return copyName
}

// killRestoreHalfWay starts the restoring primary, stops the dump's loader
// (SIGSTOP) as soon as it runs, checks that nothing listens for clients and the pod
// is not ready, then kills the pod with SIGKILL: only <data>.init is left.
func killRestoreHalfWay(t *testing.T, c *cluster, drv backupDriver, file string) {
	t.Helper()
	p := c.primary()
	p.startServer()
	select {
	case err := <-p.pauseAt("restoring backup "+file, drv.loader()):
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(readyTimeout):
		t.Fatalf("the restore of %s did not start", file)
	}
	port := fmt.Sprintf("sport = :%d", c.paths.Port)
	if out, err := p.exec(false, []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, "ss", "-Hltn", port); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("mid-restore, something listens on port %d in the pod: %q (%v)", c.paths.Port, out, err)
	}
	if _, err := drv.appQuery(c, p, c.app, "SELECT 1"); err == nil {
		t.Fatal("mid-restore, the application could connect")
	}
	if ok, out := p.ready(); ok {
		t.Fatalf("mid-restore, the pod is ready: %s", out)
	}
	p.stop()
	final := filepath.Join(p.volume, filepath.Base(c.paths.DataDir))
	if _, err := os.Stat(final); !os.IsNotExist(err) {
		t.Fatalf("the interrupted restore left %s (err %v): it could be taken for a complete one", final, err)
	}
	if _, err := os.Stat(final + ".init"); err != nil {
		t.Fatalf("the interrupted restore left no %s.init: %v", final, err)
	}
}

// checkRetention: the next backups remove what the killed ones left and keep
// exactly the newest two complete backups; files that are not backups stay.
func checkRetention(t *testing.T, c *cluster, drv backupDriver, b2, corrupt string) {
	t.Helper()
	step(t, "the next backup removes the killed backups' files; retention keeps exactly 2 complete backups")
	b4 := c.runBackup().File
	waitLog(t, c.client(), "left by an interrupted backup", time.Second)
	others := []string{corrupt, corrupt + ".sha256"}
	checkBackups(t, c, drv, []string{b2, b4}, others...)

	step(t, "a checksum file whose backup is gone (a retention killed half-way) is removed; retention keeps 2 again")
	orphan := "20000101T000000.000Z." + drv.ext() + ".sha256"
	must(t, os.WriteFile(filepath.Join(c.backupDir, orphan), []byte("0  x\n"), 0o644))
	b5 := c.runBackup().File
	checkBackups(t, c, drv, []string{b4, b5}, others...)
	t.Logf("kept %s and %s", b4, b5)
}

// checkFailedBackup: a backup while the primary is down exits 1 with the reason
// as its last line, writes no termination message and leaves nothing behind.
func checkFailedBackup(t *testing.T, c *cluster) {
	t.Helper()
	complete, others := backupDir(t, c.backupDir, c.drv.(backupDriver).ext())
	j := c.newBackupJob()
	j.start()
	if err := j.wait(time.Minute); err == nil {
		t.Fatalf("a backup with the primary down exited 0:\n%s", j.out.String())
	}
	lines := strings.Split(strings.TrimSpace(j.out.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "dbctl-backup: error: the dump failed") {
		t.Fatalf("the failed backup's last line is %q, want the error", last)
	}
	if b, _ := os.ReadFile(j.termLog); len(b) != 0 {
		t.Fatalf("the failed backup wrote a termination message: %q", b)
	}
	if c2, o2 := backupDir(t, c.backupDir, c.drv.(backupDriver).ext()); !slices.Equal(c2, complete) || !sameSet(o2, others) {
		t.Fatalf("the failed backup changed the backups directory: %v %v, was %v %v", c2, o2, complete, others)
	}
	t.Logf("a backup with the primary down: %s", lines[len(lines)-1])
}

// checkRefusedOverData: the source's own primary, whose data no restore made,
// started with a restore rendered refuses to start, and its data is untouched.
func checkRefusedOverData(t *testing.T, c *cluster) {
	t.Helper()
	step(t, "with the primary down a backup fails and leaves nothing; a restore over existing data is refused, the data untouched")
	p := c.primary()
	c.restore = &engine.RestoreInput{}
	c.render(nil)
	stopGracefully(t, p)
	checkFailedBackup(t, c)
	p.startServer()
	if err := p.waitExit(readyTimeout); err == nil {
		t.Fatal("a restore over existing data exited 0")
	}
	waitLog(t, p, "holds data that no restore made", time.Second)
	c.restore = nil
	c.render(nil)
	p.startServer()
	p.waitReady(readyTimeout)
	waitRows(t, c, p, 8, time.Second)
}
