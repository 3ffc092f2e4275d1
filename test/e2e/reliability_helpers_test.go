//go:build e2e

package e2e

// Helpers of the reliability tests (issue 6; reliability_*_test.go): dbctl processes
// run in the background whose stderr is read as it is written (to kill them, or to
// act, at a given point of their progress), checks of what a Database and its
// children look like after a fault, and control of the cluster's control plane.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
)

// envReliability enables the reliability tests: they are long, and the API server
// restart test stops the control plane, which the other end-to-end tests must not
// see. `make test-reliability` sets it and runs only them.
const envReliability = "DBCTL_E2E_RELIABILITY"

// reliability skips t unless the reliability tests were asked for.
func reliability(t *testing.T) {
	t.Helper()
	if os.Getenv(envReliability) == "" {
		t.Skipf("a reliability test: run it with `make test-reliability` (%s=1)", envReliability)
	}
}

// reliableYAML is databaseYAML with the parameter max_connections and optionally a
// dependency on url.
func reliableYAML(ns, name string, replicas int, maxConnections, depURL string) string {
	s := databaseYAML(ns, name, replicas, "") + fmt.Sprintf("  parameters:\n    max_connections: %q\n", maxConnections)
	if depURL != "" {
		s += "  dependencies:\n  - name: backup-store\n    url: " + depURL + "\n    timeout: 2s\n"
	}
	return s
}

// bgDbctl is a dbctl process running in the background. Its stderr is read line by
// line as dbctl writes it, so that a test can act when a line appears.
type bgDbctl struct {
	t    *testing.T
	args []string
	cmd  *exec.Cmd

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed (and replaced) on each new line, and at exit
	stdout  bytes.Buffer

	exited chan struct{} // closed once the process has exited and stderr is read
	code   int
	killed bool // ended by our SIGKILL
}

// startDbctl starts `dbctl --kubeconfig <cluster> args...` with the environment of
// runDbctl (the test's own breaker state file). The process is killed at the end
// of the test if it is still running; its outputs join the secret-leak check.
func startDbctl(t *testing.T, args ...string) *bgDbctl {
	t.Helper()
	state := stateDir(t)
	all := append([]string{"--kubeconfig", kubeconfig}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	cmd := exec.CommandContext(ctx, dbctlBin, all...)
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(withoutEnv(os.Environ(), "KUBECONFIG", "NO_COLOR", "XDG_STATE_HOME", "DBCTL_BREAKER_STATE"),
		"KUBECONFIG="+kubeconfig, "NO_COLOR=1", "XDG_STATE_HOME="+state,
		"DBCTL_BREAKER_STATE="+filepath.Join(state, "dbctl", "breakers.json"))
	p := &bgDbctl{t: t, args: all, cmd: cmd, changed: make(chan struct{}), exited: make(chan struct{})}
	cmd.Stdout = &p.stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting dbctl: %v", err)
	}
	go func() {
		defer cancel()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		err := cmd.Wait()
		p.mu.Lock()
		var exitErr *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exitErr):
			p.code = exitErr.ExitCode()
			if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				p.killed = true
			}
		default:
			p.code = -1
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		recordOutput(t.Name(), all, p.stdout.String(), p.stderrText())
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *bgDbctl) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lines) == 0 {
		return ""
	}
	return strings.Join(p.lines, "\n") + "\n"
}

func (p *bgDbctl) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// waitLine waits until a line of stderr from index from on matches re, and returns
// its index; -1 when the process exited without writing one. It fails t after
// timeout.
func (p *bgDbctl) waitLine(re *regexp.Regexp, from int, timeout time.Duration) int {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if re.MatchString(p.lines[i]) {
				p.mu.Unlock()
				return i
			}
		}
		from = max(from, len(p.lines))
		changed := p.changed
		p.mu.Unlock()
		if p.done() {
			// The reader appends every line before it closes exited: one more look.
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if from >= n {
				return -1
			}
			continue
		}
		select {
		case <-changed:
		case <-deadline.C:
			p.t.Fatalf("no stderr line matching %q after %v\n%s", re, timeout, p)
		}
	}
}

// line returns stderr line i.
func (p *bgDbctl) line(i int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines[i]
}

// sleepUnlessDone waits d, or less if the process exits meanwhile: a random kill or
// fault point, not a wait for a state.
func (p *bgDbctl) sleepUnlessDone(d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-p.exited:
	}
}

// kill sends SIGKILL and waits for the process; it reports whether the signal
// ended it (false when it had exited before).
func (p *bgDbctl) kill() bool {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	return p.killed
}

// wait waits for the process to exit and returns its exit code.
func (p *bgDbctl) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(commandTimeout + 15*time.Second):
		p.t.Fatalf("dbctl did not exit\n%s", p)
	}
	return p.code
}

// json parses stdout as `reconcile -o json`.
func (p *bgDbctl) json() reconcileOutput {
	p.t.Helper()
	var out reconcileOutput
	if err := json.Unmarshal(p.stdout.Bytes(), &out); err != nil {
		p.t.Fatalf("-o json: %v\n%s", err, p)
	}
	return out
}

func (p *bgDbctl) String() string {
	state := "running"
	if p.done() {
		state = fmt.Sprintf("exit %d", p.code)
		if p.killed {
			state = "killed"
		}
		return fmt.Sprintf("dbctl %s: %s\nstdout:\n%s\nstderr:\n%s", strings.Join(p.args[2:], " "), state, p.stdout.String(), p.stderrText())
	}
	return fmt.Sprintf("dbctl %s: %s\nstderr:\n%s", strings.Join(p.args[2:], " "), state, p.stderrText())
}

// rawErrorText are what must never reach a user from a transient condition: a Go
// stack trace, or the API server's raw optimistic-concurrency conflict.
var rawErrorText = []string{"panic:", "goroutine ", "the object has been modified", "Operation cannot be fulfilled"}

// wantNoRawErrors fails t when out contains a stack trace or a raw conflict.
func wantNoRawErrors(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range rawErrorText {
		if strings.Contains(out, s) {
			t.Errorf("%s contains %q\n%s", what, s, out)
		}
	}
}

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// ---------------------------------------------------------------------------
// What a Database and its children must look like after faults.

// childObjects returns the children a Database with replicas has, by "Kind name".
func childObjects(ns, name string, replicas int) map[string]client.Object {
	out := map[string]client.Object{}
	for _, c := range phases.Children(databaseOf(ns, name, replicas)) {
		if c.Want == phases.Present {
			out[c.Kind+" "+c.Name] = childObject(ns, c.Ref)
		}
	}
	return out
}

// databaseOf is a Database of replicas, for the names and wants of its children.
func databaseOf(ns, name string, replicas int) *v1alpha1.Database {
	r := int32(replicas)
	db := &v1alpha1.Database{ObjectMeta: meta(ns, name), Spec: v1alpha1.DatabaseSpec{Engine: v1alpha1.EnginePostgres, Replicas: &r}}
	db.Default()
	return db
}

// childObject is an empty typed object for a child.
func childObject(ns string, ref phases.Ref) client.Object {
	m := meta(ns, ref.Name)
	switch ref.Kind {
	case phases.KindSecret:
		return &corev1.Secret{ObjectMeta: m}
	case phases.KindService:
		return &corev1.Service{ObjectMeta: m}
	case phases.KindConfigMap:
		return &corev1.ConfigMap{ObjectMeta: m}
	case phases.KindStatefulSet:
		return &appsv1.StatefulSet{ObjectMeta: m}
	default:
		return &policyv1.PodDisruptionBudget{ObjectMeta: m}
	}
}

// wantConverged checks a Database after its last run: Ready and consistent
// (observedGeneration = generation, every condition True, no retry state); no
// Secret or StatefulSet of the Database but the ones of its fixed names, the
// password want (unless nil); every child present, owned by exactly one controller
// reference (the Database) and managed by dbctl's server-side apply; no
// PodDisruptionBudget at 1 replica; the primary and the replicas rolled out. It
// returns the Database.
func wantConverged(t *testing.T, ns, name string, replicas int, wantPassword []byte) *v1alpha1.Database {
	t.Helper()
	c := newClient(t)
	db := getDatabase(t, ns, name)
	st := db.Status
	if st.Phase != v1alpha1.PhaseReady || st.ObservedGeneration != db.Generation || st.RetryCount != 0 ||
		st.LastFailureTime != nil || st.VerifyStartTime != nil {
		t.Errorf("Database %s/%s: phase %s, observedGeneration %d (generation %d), retryCount %d, lastFailureTime %v, verifyStartTime %v; "+
			"want Ready, %d, 0, none, none", ns, name, st.Phase, st.ObservedGeneration, db.Generation, st.RetryCount,
			st.LastFailureTime, st.VerifyStartTime, db.Generation)
	}
	for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionProvisioned, v1alpha1.ConditionConfigured,
		v1alpha1.ConditionDeployed, v1alpha1.ConditionVerified, v1alpha1.ConditionDependenciesAvailable} {
		wantCondition(t, db, typ, metav1.ConditionTrue, "")
	}
	for _, cond := range st.Conditions {
		if cond.ObservedGeneration != 0 && cond.ObservedGeneration != db.Generation {
			t.Errorf("Database %s: condition %s has observedGeneration %d, generation is %d", name, cond.Type, cond.ObservedGeneration, db.Generation)
		}
	}

	// Never two: the names are fixed, so a second one would be a generated name.
	secrets := &corev1.SecretList{}
	stss := &appsv1.StatefulSetList{}
	for _, l := range []client.ObjectList{secrets, stss} {
		if err := c.List(ctxFor(t), l, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": name}); err != nil {
			t.Fatal(err)
		}
	}
	known := map[string]bool{}
	for _, c := range phases.Children(databaseOf(ns, name, replicas)) {
		known[c.Kind+" "+c.Name] = true
	}
	for _, s := range secrets.Items {
		if !known["Secret "+s.Name] {
			t.Errorf("Database %s/%s: a Secret %s that is none of its children", ns, name, s.Name)
		}
	}
	for _, s := range stss.Items {
		if !known["StatefulSet "+s.Name] {
			t.Errorf("Database %s/%s: a StatefulSet %s that is none of its children", ns, name, s.Name)
		}
	}
	if got := password(t, ns, name); wantPassword != nil && string(got) != string(wantPassword) {
		t.Errorf("Database %s/%s: the password changed", ns, name)
	}

	for key, obj := range childObjects(ns, name, replicas) {
		if !exists(t, obj) {
			t.Errorf("%s does not exist", key)
			continue
		}
		wantOwnedByDbctl(t, key, obj, db)
	}
	if replicas <= 1 && exists(t, &policyv1.PodDisruptionBudget{ObjectMeta: meta(ns, name)}) {
		t.Errorf("PodDisruptionBudget %s exists with %d replica", name, replicas)
	}
	waitDatabaseRolledOut(t, ns, name, replicas)
	return db
}

// keptOnDelete reports whether a child carries no owner reference so that deleting the
// Database leaves it: the Secrets under deletionPolicy Retain (the default).
func keptOnDelete(obj client.Object, db *v1alpha1.Database) bool {
	_, secret := obj.(*corev1.Secret)
	return secret && db.Retained()
}

// wantOwnedByDbctl checks that a child is wholly dbctl's: one owner reference, the
// Database as its controller (none on a Secret the Database retains); dbctl's server-side apply entry in managedFields; the
// managed-by label.
func wantOwnedByDbctl(t *testing.T, key string, obj client.Object, db *v1alpha1.Database) {
	t.Helper()
	refs := obj.GetOwnerReferences()
	if keptOnDelete(obj, db) {
		if len(refs) != 0 {
			t.Errorf("%s: ownerReferences %+v, want none (deletionPolicy Retain keeps it when the Database is deleted)", key, refs)
		}
	} else if len(refs) != 1 || refs[0].Controller == nil || !*refs[0].Controller || refs[0].UID != db.UID ||
		refs[0].Kind != v1alpha1.Kind || refs[0].Name != db.Name {
		t.Errorf("%s: ownerReferences %+v, want exactly one, the controller reference to Database %s (uid %s)", key, refs, db.Name, db.UID)
	}
	applied := false
	var managers []string
	for _, mf := range obj.GetManagedFields() {
		managers = append(managers, fmt.Sprintf("%s/%s", mf.Manager, mf.Operation))
		applied = applied || (mf.Manager == "dbctl" && mf.Operation == metav1.ManagedFieldsOperationApply && mf.Subresource == "")
	}
	if !applied {
		t.Errorf("%s: managedFields %v, want dbctl's server-side apply (dbctl/Apply)", key, managers)
	}
	if got := obj.GetLabels()["app.kubernetes.io/managed-by"]; got != "dbctl" {
		t.Errorf("%s: label app.kubernetes.io/managed-by=%q, want dbctl", key, got)
	}
}

// childSpecs returns the children of a Database as JSON, without what the server
// sets (uid, resourceVersion, timestamps, managedFields, status, cluster IPs) or
// what is random (the password and the URI that carries it), the namespace
// replaced by NS: two Databases of the same spec in two namespaces give the same.
func childSpecs(t *testing.T, ns, name string, replicas int) map[string]string {
	t.Helper()
	out := map[string]string{}
	for key, obj := range childObjects(ns, name, replicas) {
		if !exists(t, obj) {
			out[key] = "absent"
			continue
		}
		m, err := runtimeToMap(obj)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"} {
			unstructured.RemoveNestedField(u.Object, "metadata", f)
		}
		delete(u.Object, "status")
		refs := u.GetOwnerReferences()
		for i := range refs {
			refs[i].UID = ""
		}
		u.SetOwnerReferences(refs)
		unstructured.RemoveNestedField(u.Object, "spec", "clusterIP")
		unstructured.RemoveNestedField(u.Object, "spec", "clusterIPs")
		if data, ok := u.Object["data"].(map[string]any); ok && strings.HasPrefix(key, "Secret ") {
			for k, v := range data {
				if k == "password" || k == "uri" || k == "ro-uri" {
					delete(data, k)
					continue
				}
				if b, err := base64.StdEncoding.DecodeString(fmt.Sprint(v)); err == nil {
					data[k] = string(b)
				}
			}
		}
		b, err := json.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		out[key] = strings.ReplaceAll(string(b), ns, "NS")
	}
	return out
}

func runtimeToMap(obj client.Object) (map[string]any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// wantSameChildren checks that the Database name in ns has the children the
// reference run in refNS produced.
func wantSameChildren(t *testing.T, refNS, ns, name string, replicas int) {
	t.Helper()
	wantSpecs(t, "Database "+ns+"/"+name, childSpecs(t, refNS, name, replicas), childSpecs(t, ns, name, replicas))
}

// wantSpecs compares childSpecs with those of a single uninterrupted run.
func wantSpecs(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			t.Errorf("%s: %s differs from the one of a single uninterrupted run:\n got %s\nwant %s", what, k, got[k], want[k])
		}
	}
}

// wantIdempotent runs reconcile once more: exit 0, no resourceVersion changed, and
// plan --detailed-exitcode says there is nothing to do.
func wantIdempotent(t *testing.T, file, ns, name string) {
	t.Helper()
	before := resourceVersions(t, ns, name)
	r := runReconcile(t, "-f", file, "-o", "json", "--timeout", "1m")
	r.wantExit(t, 0)
	if after := resourceVersions(t, ns, name); !equalMaps(before, after) {
		t.Errorf("a run on the converged Database changed resourceVersions:\nbefore %v\nafter  %v\n%s", before, after, r)
	}
	if _, stderr, code := runDbctl(t, "plan", "-f", file, "--detailed-exitcode"); code != 0 {
		t.Errorf("dbctl plan --detailed-exitcode on the converged Database: exit %d, want 0 (no changes)\n%s", code, stderr)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// The control plane of the kwok cluster: its processes run under
// $KWOK_WORKDIR/clusters/<name> (kwokctl's binary runtime), one pid file each.

// controlPlane are the components stopped by stopControlPlane, in that order. The
// kwok controller (the simulated kubelets) keeps running: a restarted kwok
// controller would wait for its predecessor's node leases to expire (200 s) before
// it made pods Ready again, as a kubelet is not restarted with the control plane.
var controlPlane = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"}

// clusterDir is $KWOK_WORKDIR/clusters/<name>, the directory of the kubeconfig.
func clusterDir() string { return filepath.Dir(kubeconfig) }

// stopControlPlane stops kube-apiserver, kube-controller-manager, kube-scheduler
// and etcd, in that order, with sig (SIGTERM: a restart; SIGKILL: a crash, what
// `kwokctl stop cluster` does), waits until each has exited (after SIGTERM, at most
// 5 s, then SIGKILL, as a process supervisor does: a terminating kube-apiserver
// refuses new connections at once but keeps open watches up to 60 s), and removes
// their pid files as kwokctl does, so that `kwokctl start cluster` starts them
// again (and only them). It registers a cleanup that starts them again if the test
// ends before.
func stopControlPlane(t *testing.T, sig syscall.Signal) {
	t.Helper()
	t.Cleanup(func() {
		if !controlPlaneRunning() {
			if err := kwokctlStart(); err != nil {
				t.Errorf("restarting the control plane at the end of the test: %v", err)
			}
		}
	})
	for _, comp := range controlPlane {
		pidFile := filepath.Join(clusterDir(), "pids", comp+".pid")
		raw, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatalf("reading the pid of %s: %v", comp, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			t.Fatalf("%s: %v", pidFile, err)
		}
		if err := stopProcess(pid, sig, 5*time.Second); err != nil {
			t.Fatalf("stopping %s (pid %d): %v", comp, pid, err)
		}
		if err := os.Remove(pidFile); err != nil {
			t.Fatal(err)
		}
	}
}

// stopProcess signals pid and waits (a pidfd: no polling) until it has exited; after
// timeout it kills it (SIGKILL) and waits 30 s more.
func stopProcess(pid int, sig syscall.Signal, timeout time.Duration) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil // gone already
	}
	if err != nil {
		return fmt.Errorf("pidfd_open: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("poll: %w", err)
		case n > 0:
			return nil
		case sig != syscall.SIGKILL:
			sig, deadline = syscall.SIGKILL, time.Now().Add(30*time.Second)
			if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("signal %v: %w", sig, err)
			}
		default:
			return fmt.Errorf("still running %v after SIGKILL", timeout)
		}
	}
}

// controlPlaneRunning reports whether every component's pid file names a live
// process (kube-controller-manager and kube-scheduler exit by themselves when they
// cannot renew their leader lease for 10 s).
func controlPlaneRunning() bool {
	for _, comp := range controlPlane {
		raw, err := os.ReadFile(filepath.Join(clusterDir(), "pids", comp+".pid"))
		if err != nil {
			return false
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil || syscall.Kill(pid, 0) != nil {
			return false
		}
	}
	return true
}

// kwokctlStart runs `kwokctl start cluster`, which starts the components that are
// not running with their original flags, and waits until the API server serves.
func kwokctlStart() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Its output goes to a file, not a pipe: the components it starts must not hold
	// a pipe of ours open.
	log, err := os.CreateTemp("", "kwokctl-start-*.log")
	if err != nil {
		return err
	}
	defer os.Remove(log.Name())
	defer log.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(toolsBin, "kwokctl"), "start", "cluster", "--name", clusterName, "--wait", "2m")
	cmd.Env = append(withoutEnv(os.Environ(), "KWOK_WORKDIR", "PATH"),
		"KWOK_WORKDIR="+filepath.Dir(filepath.Dir(clusterDir())), "PATH="+toolsBin+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(log.Name())
		return fmt.Errorf("kwokctl start cluster --name %s: %v\n%s", clusterName, err, out)
	}
	return waitAPIReady(ctx)
}

var (
	clientsetOnce sync.Once
	clientset     *kubernetes.Clientset
	clientsetErr  error
)

func rawClient() (*kubernetes.Clientset, error) {
	clientsetOnce.Do(func() {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			clientsetErr = err
			return
		}
		cfg.Timeout = 5 * time.Second
		clientset, clientsetErr = kubernetes.NewForConfig(cfg)
	})
	return clientset, clientsetErr
}

// waitAPIReady polls /readyz (a server that is down has nothing to watch) until it
// says ok.
func waitAPIReady(ctx context.Context) error {
	cs, err := rawClient()
	if err != nil {
		return err
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the API server is not ready: %v (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// statefulSetWatchers returns how many watches of StatefulSets in a namespace the
// API server is serving (apiserver_longrunning_requests, scope "namespace", or
// "resource" for one named by a field selector, as dbctl's rollout wait is): the
// controllers watch them cluster-wide.
func statefulSetWatchers(ctx context.Context) (int, error) {
	cs, err := rawClient()
	if err != nil {
		return 0, err
	}
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(l, "apiserver_longrunning_requests{") || !strings.Contains(l, `resource="statefulsets"`) ||
			strings.Contains(l, `scope="cluster"`) || !strings.Contains(l, `verb="WATCH"`) {
			continue
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics: %q: %w", l, err)
		}
		n += int(v)
	}
	return n, nil
}

// waitStatefulSetWatched polls the API server's metrics (nothing to watch) until it
// serves at least one StatefulSet watch in a namespace.
func waitStatefulSetWatched(t *testing.T, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var (
		n   int
		err error
	)
	for {
		if n, err = statefulSetWatchers(ctx); err == nil && n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the API server serves no namespaced StatefulSet watch after %v (%d, %v): dbctl's rollout wait is not watching", timeout, n, err)
		case <-tick.C:
		}
	}
}
