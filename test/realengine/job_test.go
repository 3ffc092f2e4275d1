package realengine

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dbctl-io/dbctl/phases/engine"
)

// job is a backup Job's pod: backup.sh run to completion in a container of its
// own (a nested PID and mount namespace, its own /tmp) in the client pod, which
// reaches the primary like any client and has the backups PVC mounted at
// engine.BackupDir.
type job struct {
	c       *cluster
	name    string
	out     *syncBuffer
	termLog string // host path of the container's termination message file
	cmd     *exec.Cmd
	pid1    int // host pid of the container's init
	done    chan struct{}
	err     error
	hookMu  sync.Mutex
	hook    func(line string)
}

// backupEnv is the backup Job's environment as BackupInput documents it: the
// image's, the read-write Service's host and the credentials from the rendered
// credentials Secret, and where the termination message goes.
func backupEnv(c *cluster, termLog string) []string {
	s := c.rendered.secrets[c.name+"-credentials"]
	for _, k := range []string{"host", "port", "username", "password"} {
		if s[k] == "" {
			c.t.Fatalf("the rendered credentials Secret has no %s", k)
		}
	}
	return append(c.drv.imageEnv(),
		engine.EnvPrimaryHost+"="+s["host"],
		engine.EnvPort+"="+s["port"],
		engine.EnvDatabase+"="+s["username"],
		engine.EnvUser+"="+s["username"],
		engine.EnvPassword+"="+s["password"],
		engine.EnvTerminationLog+"="+termLog)
}

// newBackupJob prepares a backup Job (not started) with an empty termination
// message file, as the kubelet creates it.
func (c *cluster) newBackupJob() *job {
	c.t.Helper()
	c.jobs++
	dir := filepath.Join(c.dir, "jobs", fmt.Sprint(c.jobs))
	must(c.t, os.MkdirAll(dir, 0o755))
	// uid 999 reaches the file through the cluster's directory (traverse only).
	must(c.t, os.Chmod(c.dir, 0o711))
	j := &job{c: c, name: fmt.Sprintf("backup-%d", c.jobs), out: &syncBuffer{}, termLog: filepath.Join(dir, "termination-log"),
		done: make(chan struct{})}
	must(c.t, os.WriteFile(j.termLog, nil, 0o644))
	must(c.t, os.Chown(j.termLog, 999, 999))
	c.record(j.out)
	return j
}

// start starts the job's container: the rendered backup command as uid 999 with
// exactly backupEnv, as its own PID namespace's init.
func (j *job) start() {
	t := j.c.t
	t.Helper()
	p := j.c.client()
	if p.holder == nil {
		p.start()
	}
	args := append(p.nsenter(), "unshare", "-p", "--fork", "--kill-child", "--mount-proc", "--",
		"sh", "-c", `mount -t tmpfs -o mode=1777 tmpfs /tmp && exec "$@"`, "sh")
	args = append(args, asServer()...)
	args = append(args, j.c.paths.BackupCommand...)
	j.cmd = exec.Command(args[0], args[1:]...)
	j.cmd.Env = backupEnv(j.c, j.termLog)
	j.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Its output is also in the client pod's log, which a failed test prints.
	w := &lineWriter{prefix: "[" + j.name + "] ", w: io.MultiWriter(j.out, p.log), onLine: j.runHook}
	j.cmd.Stdout, j.cmd.Stderr = w, w
	must(t, j.cmd.Start())
	go func() {
		j.err = j.cmd.Wait()
		close(j.done)
	}()
	unsharePID, err := childPID(j.cmd.Process.Pid)
	if err == nil {
		j.pid1, err = childPID(unsharePID)
	}
	if err != nil && !exitedSoon(j.done) {
		t.Fatalf("job %s: finding the container's init: %v", j.name, err)
	}
}

// wait waits for the job to exit and returns its error (nil: exit 0).
func (j *job) wait(timeout time.Duration) error {
	j.c.t.Helper()
	select {
	case <-j.done:
		return j.err
	case <-time.After(timeout):
		j.kill()
		j.c.t.Fatalf("job %s did not finish within %s:\n%s", j.name, timeout, j.out.String())
		return nil
	}
}

// kill kills the container with SIGKILL (its init: every process in its PID
// namespace dies) and waits for it.
func (j *job) kill() {
	_ = syscall.Kill(j.pid1, syscall.SIGKILL)
	select {
	case <-j.done:
	case <-time.After(10 * time.Second):
		j.c.t.Errorf("job %s: not gone 10s after SIGKILL", j.name)
	}
}

// killAt arms a SIGKILL of the container for the moment it prints a line
// containing marker (before the step that follows the line).
func (j *job) killAt(marker string) <-chan struct{} {
	killed := make(chan struct{})
	j.hookMu.Lock()
	defer j.hookMu.Unlock()
	j.hook = func(line string) {
		if strings.Contains(line, marker) {
			_ = syscall.Kill(j.pid1, syscall.SIGKILL)
			j.hook = nil
			close(killed)
		}
	}
	return killed
}

func (j *job) runHook(line string) {
	j.hookMu.Lock()
	defer j.hookMu.Unlock()
	if j.hook != nil {
		j.hook(line)
	}
}

// runBackup runs a backup Job to completion; it must succeed. It returns the
// termination message, parsed.
func (c *cluster) runBackup() engine.BackupResult {
	c.t.Helper()
	j := c.newBackupJob()
	j.start()
	if err := j.wait(2 * time.Minute); err != nil {
		c.t.Fatalf("backup job %s: %v\n%s", j.name, err, j.out.String())
	}
	return j.result()
}

// result reads the job's termination message: exactly one JSON line, also the
// last line of its stdout.
func (j *job) result() engine.BackupResult {
	j.c.t.Helper()
	b, err := os.ReadFile(j.termLog)
	must(j.c.t, err)
	msg := string(b)
	if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
		j.c.t.Fatalf("job %s: the termination message is not one line: %q", j.name, msg)
	}
	r, err := engine.ParseBackupResult(msg)
	if err != nil {
		j.c.t.Fatalf("job %s: %v", j.name, err)
	}
	if !strings.Contains(j.out.String(), "] "+strings.TrimSpace(msg)+"\n") {
		j.c.t.Errorf("job %s: the termination message is not on its stdout:\n%s", j.name, j.out.String())
	}
	return r
}
