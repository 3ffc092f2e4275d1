package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ctlProc is a running `dbctl controller`, its stderr (JSON log lines) in a file,
// its metrics sampled every 2 s.
type ctlProc struct {
	cmd   *exec.Cmd
	start time.Time
	// working is when its workers started (startWorking).
	working    time.Time
	logPath    string
	metricsURL string
	exited     chan struct{}
	state      *os.ProcessState

	mu      sync.Mutex
	samples []metricsPoint
	stopped bool
	cancel  context.CancelFunc
}

// metricsPoint is one sample of the controller's metrics.
type metricsPoint struct {
	At       time.Time
	RSS      float64 // process_resident_memory_bytes
	Ready    float64 // sum of dbctl_database_ready
	HasReady bool
}

func freeLocalPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startWorking starts the controller (startController) and waits until its workers
// run; the caller stops it.
func (e *env) startWorking(ctx context.Context, kubeconfig, id, leaseNS string) (*ctlProc, error) {
	p, err := e.startController(ctx, kubeconfig, id, leaseNS)
	if err != nil {
		return nil, err
	}
	if p.working, err = p.waitLog(ctx, "Starting workers", 2*time.Minute); err != nil {
		_, _ = p.stop()
		return nil, err
	}
	return p, nil
}

// startController starts the controller with the proxy's kubeconfig; leaseNS ""
// runs it without leader election.
func (e *env) startController(ctx context.Context, kubeconfig, id, leaseNS string) (*ctlProc, error) {
	port, err := freeLocalPort()
	if err != nil {
		return nil, err
	}
	args := []string{"controller", "--kubeconfig", kubeconfig, "--leader-elect=" + strconv.FormatBool(leaseNS != ""),
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", port), "--health-probe-bind-address", "0",
		"--breaker-state", e.breakers, "--concurrency", strconv.Itoa(e.c.ctl.concurrency)}
	if leaseNS != "" {
		args = append(args, "--leader-election-namespace", leaseNS)
	}
	logPath := filepath.Join(e.c.work, "controller-"+id+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(e.c.dbctl, args...)
	cmd.Stdout, cmd.Stderr = f, f
	p := &ctlProc{cmd: cmd, logPath: logPath, metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", port), exited: make(chan struct{})}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		p.state = cmd.ProcessState
		p.mu.Unlock()
		close(p.exited)
	}()
	sctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	go p.sample(sctx)
	logf("   controller %s started (pid %d): dbctl %s", id, cmd.Process.Pid, strings.Join(args, " "))
	return p, nil
}

// sample scrapes the metrics every 2 s until ctx ends.
func (p *ctlProc) sample(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if m, err := scrape(ctx, p.metricsURL); err == nil {
			pt := metricsPoint{At: time.Now(), RSS: m.sum("process_resident_memory_bytes"),
				Ready: m.sum("dbctl_database_ready"), HasReady: m.has("dbctl_database_ready")}
			p.mu.Lock()
			p.samples = append(p.samples, pt)
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-p.exited:
			return
		case <-t.C:
		}
	}
}

// waitLog waits until the log has a line with the message msg, and returns the
// time that line gives.
func (p *ctlProc) waitLog(ctx context.Context, msg string, timeout time.Duration) (time.Time, error) {
	needle := []byte(`"msg":"` + msg + `"`)
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(p.logPath)
		if i := bytes.Index(b, needle); err == nil && i >= 0 {
			return logLineTime(b, i), nil
		}
		select {
		case <-p.exited:
			return time.Time{}, fmt.Errorf("the controller exited (%s) before %q:\n%s", p.state, msg, tail(string(b)))
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("no %q from the controller within %s:\n%s", msg, timeout, tail(string(b)))
		}
	}
}

// waitReadyMetric waits until dbctl_database_ready sums to n (every Database stepped
// and found Ready), polling the metrics every 250 ms.
func (p *ctlProc) waitReadyMetric(ctx context.Context, n int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := scrape(ctx, p.metricsURL)
		if err == nil && int(m.sum("dbctl_database_ready")) >= n {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("dbctl_database_ready did not reach %d within %s (%v)", n, timeout, m.sum("dbctl_database_ready"))
		}
		select {
		case <-p.exited:
			return time.Time{}, fmt.Errorf("the controller exited (%s)", p.state)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// procStatus reads VmHWM and VmRSS (MiB) of the process from /proc.
func (p *ctlProc) procStatus() (hwm, rss float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		kib, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmHWM:":
			hwm = kib / 1024
		case "VmRSS:":
			rss = kib / 1024
		}
	}
	if hwm == 0 {
		return 0, 0, errors.New("no VmHWM in /proc/PID/status")
	}
	return hwm, rss, nil
}

// stop sends SIGTERM and waits (up to a minute, then SIGKILL); it returns how long
// the graceful stop took. Stopping a stopped process does nothing.
func (p *ctlProc) stop() (time.Duration, error) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return 0, nil
	}
	p.stopped = true
	p.mu.Unlock()
	defer p.cancel()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, err
	}
	select {
	case <-p.exited:
		return time.Since(start), nil
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return time.Since(start), errors.New("the controller did not stop within a minute of SIGTERM: killed")
	}
}

// rssSamples returns the process_resident_memory_bytes samples, in MiB.
func (p *ctlProc) rssSamples() []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []float64
	for _, s := range p.samples {
		out = append(out, s.RSS/(1<<20))
	}
	return out
}

// logCounts counts the log lines of failed steps, of Databases whose children do
// not converge, and at level ERROR (the lines are not printed: they could name a
// Database's objects, never a secret value, but they are long).
func (p *ctlProc) logCounts() (stepFailed, notConverging, errorLines int) {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return 0, 0, 0
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		switch {
		case bytes.Contains(l, []byte(`"msg":"step failed"`)):
			stepFailed++
		case bytes.Contains(l, []byte(`children do not converge`)):
			notConverging++
		}
		if bytes.Contains(l, []byte(`"level":"ERROR"`)) {
			errorLines++
		}
	}
	return stepFailed, notConverging, errorLines
}

// parallel runs fn(0…n-1) with at most width at once; the first error stops it.
func parallel(ctx context.Context, width, n int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idx := make(chan int)
	errc := make(chan error, width)
	var wg sync.WaitGroup
	for w := 0; w < width; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				if err := fn(ctx, i); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

// logLineTime is the "time" of the JSON log line around offset i of b (now when
// it has none).
func logLineTime(b []byte, i int) time.Time {
	start := bytes.LastIndexByte(b[:i], '\n') + 1
	end := bytes.IndexByte(b[i:], '\n')
	if end < 0 {
		end = len(b) - i
	}
	var line struct {
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal(b[start:i+end], &line); err != nil || line.Time.IsZero() {
		return time.Now()
	}
	return line.Time
}
