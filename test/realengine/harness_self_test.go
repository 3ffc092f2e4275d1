package realengine

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestLeakChecksWork: the password checks the suite relies on do find a password
// in a process's arguments and in an output (a check that finds nothing proves
// nothing). Needs neither root nor servers.
func TestLeakChecksWork(t *testing.T) {
	secret := randomPassword(t)
	c := &cluster{t: t, secrets: []string{secret}}
	cmd := exec.Command("sh", "-c", "sleep 30; true", "sh", secret)
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	eventually(t, 5*time.Second, "the leak found", func() error {
		if leak := c.secretInProcessArgs(); !strings.Contains(leak, "a password appears in the arguments") {
			return errString("not found")
		}
		return nil
	})

	out := &syncBuffer{}
	c.record(out)
	_, _ = out.Write([]byte("log line with " + secret))
	if leak := c.secretInOutputs(); !strings.Contains(leak, "a password appears in an output") {
		t.Errorf("a password in an output was not reported: %q", leak)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
