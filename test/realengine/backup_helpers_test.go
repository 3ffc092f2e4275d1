package realengine

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbctl-io/dbctl/phases/engine"
)

// session is a long-lived client of the primary in the client pod, reading SQL
// from its stdin: it holds a lock while the test does other things.
type session struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	out   *syncBuffer
}

func openSession(t *testing.T, c *cluster, drv backupDriver) *session {
	t.Helper()
	p := c.client()
	if p.holder == nil {
		p.start()
	}
	env, args := drv.sessionArgs(c, c.primary(), c.app)
	full := append(p.nsenter(), args...)
	s := &session{t: t, cmd: exec.Command(full[0], full[1:]...), lines: make(chan string, 100), out: &syncBuffer{}}
	s.cmd.Env = env
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c.record(s.out)
	var err error
	s.in, err = s.cmd.StdinPipe()
	must(t, err)
	stdout, err := s.cmd.StdoutPipe()
	must(t, err)
	s.cmd.Stderr = s.out
	must(t, s.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(s.out, sc.Text())
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(func() { _ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL); _ = s.cmd.Wait() })
	return s
}

func (s *session) send(sql string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, sql+"\n"); err != nil {
		s.t.Fatalf("session: %v\n%s", err, s.out.String())
	}
}

// expect waits for the session to print line.
func (s *session) expect(line string) {
	s.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				s.t.Fatalf("session ended before printing %q:\n%s", line, s.out.String())
			}
			if l == line {
				return
			}
		case <-timeout:
			s.t.Fatalf("session: no %q within 20s:\n%s", line, s.out.String())
		}
	}
}

// close ends the session's input and waits for it to exit cleanly.
func (s *session) close() {
	s.t.Helper()
	_ = s.in.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			s.t.Fatalf("session: %v\n%s", err, s.out.String())
		}
	case <-time.After(20 * time.Second):
		s.t.Fatalf("session did not end:\n%s", s.out.String())
	}
}

// appExec runs statements as the application on pod p and fails the test on error.
func appExec(t *testing.T, c *cluster, p *pod, statements ...string) {
	t.Helper()
	for _, sql := range statements {
		if out, err := c.drv.appQuery(c, p, c.app, sql); err != nil {
			t.Fatalf("%s: %v\n%s", sql, err, out)
		}
	}
}

// digests are every table's row count and rows' checksum in pod p's application
// database, by table.
func digests(t *testing.T, c *cluster, drv backupDriver, p *pod) map[string]string {
	t.Helper()
	out, err := drv.appQuery(c, p, c.app, drv.tablesSQL())
	if err != nil {
		t.Fatalf("listing the tables on %s: %v", p.name, err)
	}
	d := map[string]string{}
	for _, table := range strings.Fields(out) {
		row, err := drv.appQuery(c, p, c.app, drv.digestSQL(table))
		if err != nil {
			t.Fatalf("checksum of %s on %s: %v", table, p.name, err)
		}
		d[table] = drv.digest(row)
	}
	if len(d) == 0 {
		t.Fatalf("no tables on %s", p.name)
	}
	return d
}

// checkDigests: pod p's tables are want's, rows and checksums.
func checkDigests(t *testing.T, c *cluster, drv backupDriver, p *pod, want map[string]string) {
	t.Helper()
	if got := digests(t, c, drv, p); !maps.Equal(got, want) {
		t.Fatalf("the tables on %s of %s differ:\n got %v\nwant %v", p.name, c.name, got, want)
	}
	t.Logf("%s of %s: %d tables, rows and checksums equal: %v", p.name, c.name, len(want), want)
}

// count is the number of rows of table on pod p.
func count(t *testing.T, c *cluster, p *pod, table string) int {
	t.Helper()
	out, err := c.drv.appQuery(c, p, c.app, "SELECT count(*) FROM "+table)
	if err != nil {
		t.Fatalf("counting %s on %s: %v", table, p.name, err)
	}
	n, err := strconv.Atoi(out)
	must(t, err)
	return n
}

// checkSmoke uses the restored view, trigger (and procedure) as the application.
func checkSmoke(t *testing.T, c *cluster, drv backupDriver, aRows int) {
	t.Helper()
	for _, s := range drv.smoke(aRows) {
		out, err := drv.appQuery(c, c.primary(), c.app, s[0])
		if err != nil || out != s[1] {
			t.Fatalf("%s: got %q (%v), want %q", s[0], out, err, s[1])
		}
	}
}

// backupDir lists a backups directory: the complete backups (a backup file with
// its .sha256 beside it) oldest first, and every other file.
func backupDir(t *testing.T, dir, ext string) (complete, others []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	re := regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.` + regexp.QuoteMeta(ext) + `$`)
	for _, e := range entries {
		n := e.Name()
		switch {
		case re.MatchString(n) && names[n+".sha256"]:
			complete = append(complete, n)
		case strings.HasSuffix(n, ".sha256") && re.MatchString(strings.TrimSuffix(n, ".sha256")) && names[strings.TrimSuffix(n, ".sha256")]:
		default:
			others = append(others, n)
		}
	}
	slices.Sort(complete)
	return complete, others
}

// checkBackups: the backups directory holds exactly the complete backups want
// (each matching its checksum file) and, besides them, the lock file and others.
func checkBackups(t *testing.T, c *cluster, drv backupDriver, want []string, others ...string) {
	t.Helper()
	complete, rest := backupDir(t, c.backupDir, drv.ext())
	if !slices.Equal(complete, want) {
		t.Fatalf("complete backups %v, want %v (other files: %v)", complete, want, rest)
	}
	if wantRest := append([]string{".dbctl-backup.lock"}, others...); !sameSet(rest, wantRest) {
		t.Fatalf("other files in the backups directory %v, want %v", rest, wantRest)
	}
	for _, name := range complete {
		sum := fileSHA256(t, filepath.Join(c.backupDir, name))
		b, err := os.ReadFile(filepath.Join(c.backupDir, name+".sha256"))
		must(t, err)
		if string(b) != sum+"  "+name+"\n" {
			t.Fatalf("%s.sha256 is %q, want the checksum %s in sha256sum's format", name, b, sum)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// partials are the temporary files in the backups directory.
func partials(t *testing.T, c *cluster) []string {
	t.Helper()
	_, others := backupDir(t, c.backupDir, c.drv.(backupDriver).ext())
	var p []string
	for _, n := range others {
		if strings.HasSuffix(n, ".partial") {
			p = append(p, n)
		}
	}
	return p
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkResult: the termination message describes the complete backup file.
func checkResult(t *testing.T, c *cluster, r engine.BackupResult, started time.Time) {
	t.Helper()
	path := filepath.Join(c.backupDir, r.File)
	fi, err := os.Stat(path)
	must(t, err)
	if fi.Size() != r.SizeBytes || fileSHA256(t, path) != r.SHA256 {
		t.Fatalf("the termination message %+v does not describe %s (%d bytes)", r, path, fi.Size())
	}
	if fi.Mode().Perm()&0o007 != 0 || fi.Sys().(*syscall.Stat_t).Uid != 999 {
		t.Fatalf("%s: mode %v, owner %d: want no access for others, owned by uid 999", r.File, fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
	}
	if r.CompletedAt.Before(started.Truncate(time.Second)) || r.CompletedAt.After(time.Now()) {
		t.Fatalf("completedAt %s is not between %s and now", r.CompletedAt, started)
	}
}

// waitDumpWaiting waits until the backup's dump waits for a lock the test holds.
func waitDumpWaiting(t *testing.T, c *cluster, drv backupDriver) {
	t.Helper()
	eventually(t, 30*time.Second, "the dump waiting for the table lock", func() error {
		out, err := drv.adminQuery(c.primary(), drv.dumpWaitingSQL())
		if err == nil && out == "0" {
			err = fmt.Errorf("not waiting")
		}
		return err
	})
}

// pauseAt arms a pause of pod p's running container for the moment it prints a
// line containing marker: the first process named comm that the container
// starts after it (at once: a tight loop over /proc) is stopped with SIGSTOP.
// The channel reports the outcome. Arm it after startServer.
func (p *pod) pauseAt(marker, comm string) <-chan error {
	paused := make(chan error, 1)
	pid1 := p.box.pid1
	p.hookMu.Lock()
	defer p.hookMu.Unlock()
	p.hook = func(line string) {
		if !strings.Contains(line, marker) {
			return
		}
		p.hook = nil
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			for _, pid := range descendants(pid1) {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				if err == nil && strings.TrimSpace(string(b)) == comm && syscall.Kill(pid, syscall.SIGSTOP) == nil {
					paused <- nil
					return
				}
			}
		}
		paused <- fmt.Errorf("no %s started within 10s of %q", comm, marker)
	}
	return paused
}

// descendants lists every process below pid.
func descendants(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(s); err == nil {
				out = append(out, child)
				out = append(out, descendants(child)...)
			}
		}
	}
	return out
}

// restoreMount mounts the source's backups PVC read-only where the restore reads it.
func restoreMount(src *cluster) mount {
	return mount{src: src.backupDir, dst: engine.RestoreDir, readOnly: true}
}
