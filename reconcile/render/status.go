package render

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/dbctl-io/dbctl/reconcile/redact"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/exitcode"
	"github.com/dbctl-io/dbctl/resilience"
)

// StatusFormatVersion is the formatVersion of `dbctl status -o json|yaml`.
const StatusFormatVersion = 1

// StatusDocument is `dbctl status -o json|yaml`.
type StatusDocument struct {
	FormatVersion int      `json:"formatVersion"`
	Databases     []Status `json:"databases"`
	// Errors are the Databases whose status could not be read (not found …).
	Errors []StatusError `json:"errors"`
	// ExitCode is the command's exit code: the most severe of the Databases'.
	ExitCode exitcode.Code `json:"exitCode"`
}

// StatusError is a Database whose status could not be read.
type StatusError struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Message   string `json:"message"`
}

// Status is what `dbctl status` shows of one Database. It holds no Secret value:
// children are present or missing, dependency targets and errors are redacted.
type Status struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Phase     string `json:"phase"`
	// Ready is true when the phase is Ready and the Ready condition is True for the
	// current generation.
	Ready bool `json:"ready"`
	// ExitCode is 0 Ready, 2 Failed, 3 not Ready yet.
	ExitCode exitcode.Code `json:"exitCode"`
	// Reason and Message are the Ready condition's.
	Reason             string             `json:"reason"`
	Message            string             `json:"message"`
	Endpoint           string             `json:"endpoint"`
	Generation         int64              `json:"generation"`
	ObservedGeneration int64              `json:"observedGeneration"`
	RetryCount         int32              `json:"retryCount"`
	LastFailureTime    *time.Time         `json:"lastFailureTime,omitempty"`
	RetryAt            *time.Time         `json:"retryAt,omitempty"`
	VerifyStartTime    *time.Time         `json:"verifyStartTime,omitempty"`
	VerifyDeadline     *time.Time         `json:"verifyDeadline,omitempty"`
	Conditions         []StatusCondition  `json:"conditions"`
	Children           []StatusChild      `json:"children"`
	Pods               []StatusPod        `json:"pods"`
	Dependencies       []StatusDependency `json:"dependencies"`
	// Backup is spec.backup's schedule and the last complete backup; nil without
	// spec.backup and without any backup recorded.
	Backup *StatusBackup `json:"backup,omitempty"`
	// Now is when the status was read; ages are relative to it.
	Now time.Time `json:"observedAt"`
}

// StatusBackup is the backups of a Database.
type StatusBackup struct {
	// Schedule is spec.backup.schedule ("" when backups are not scheduled).
	Schedule string `json:"schedule"`
	// Last is the last complete backup dbctl saw; nil before the first.
	Last *v1alpha1.BackupRecord `json:"last"`
	// Failed is the BackedUp condition's message when the last scheduled backup
	// failed.
	Failed string `json:"failed,omitempty"`
}

// StatusCondition is one condition of the Database.
type StatusCondition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason"`
	Message            string    `json:"message"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
	ObservedGeneration int64     `json:"observedGeneration"`
}

// StatusChild is one child object and its readiness.
type StatusChild struct {
	Phase string `json:"phase"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	// Expected is false for a child the spec does not want (the
	// PodDisruptionBudget at 1 replica).
	Expected bool `json:"expected"`
	Exists   bool `json:"exists"`
	// Owned is false for an object of that name that belongs to something else.
	Owned bool `json:"owned"`
	// Ready is true for a present child that needs nothing more (a StatefulSet
	// fully rolled out).
	Ready bool `json:"ready"`
	// State is the text shown: "present", "missing", "2/3 ready" …
	State string `json:"state"`
	// ReadyReplicas and Replicas are the StatefulSet's.
	ReadyReplicas *int32 `json:"readyReplicas,omitempty"`
	Replicas      *int32 `json:"replicas,omitempty"`
}

// StatusPod is one pod of the Database: its role and whether it serves it. A
// primary is ready when it accepts the application's credentials over TCP and is
// not in recovery; a replica when it is in recovery and streaming from the primary
// (the readiness scripts check exactly that).
type StatusPod struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	Ready bool   `json:"ready"`
	// State is the text shown: "ready", "streaming", "not ready", "Pending" …
	State string `json:"state"`
}

// StatusDependency is one dependency and its circuit breaker.
type StatusDependency struct {
	Name string `json:"name"`
	// Target is the URL (credentials and query removed) or host:port.
	Target string `json:"target"`
	// Breaker is closed, open or half-open; closed when the state file does not
	// know the dependency.
	Breaker   string     `json:"breaker"`
	Failures  int        `json:"failures"`
	OpenedAt  *time.Time `json:"openedAt,omitempty"`
	NextProbe *time.Time `json:"nextProbe,omitempty"`
	LastError string     `json:"lastError,omitempty"`
}

// StatusInput is what a Status is built from.
type StatusInput struct {
	// Pods are the Database's pods (any order).
	Pods     []corev1.Pod
	Database *v1alpha1.Database
	// Live are the live children found (absent ones left out).
	Live phases.Live
	// Breakers are the records of the breaker state file, by dependency name.
	Breakers map[string]*resilience.Record
	// Settings compute an open breaker's next probe.
	Settings resilience.Settings
	Now      time.Time
}

// conditionOrder is the order conditions are shown in; others follow by type.
var conditionOrder = []string{v1alpha1.ConditionReady, v1alpha1.ConditionProvisioned, v1alpha1.ConditionConfigured,
	v1alpha1.ConditionDeployed, v1alpha1.ConditionVerified, v1alpha1.ConditionDependenciesAvailable}

// NewStatus builds the status of a Database from it, its live children and the
// breaker records.
func NewStatus(in StatusInput) Status {
	db := in.Database
	st := Status{Namespace: db.Namespace, Name: db.Name, Phase: string(db.Phase()), Ready: db.IsReady(),
		Endpoint: db.Status.Endpoint, Generation: db.Generation, ObservedGeneration: db.Status.ObservedGeneration,
		RetryCount: db.Status.RetryCount, Conditions: []StatusCondition{}, Children: []StatusChild{},
		Dependencies: []StatusDependency{}, Now: in.Now.UTC()}
	switch {
	case st.Ready:
		st.ExitCode = exitcode.OK
	case db.Phase() == v1alpha1.PhaseFailed:
		st.ExitCode = exitcode.Failed
	default:
		st.ExitCode = exitcode.Retryable
	}
	if c := db.Condition(v1alpha1.ConditionReady); c != nil {
		st.Reason, st.Message = c.Reason, c.Message
	}
	st.Backup = backupOf(db)
	st.LastFailureTime = timeOf(db.Status.LastFailureTime)
	st.VerifyStartTime = timeOf(db.Status.VerifyStartTime)
	if db.Phase() == v1alpha1.PhaseFailed {
		if at := phases.RetryAt(db); !at.IsZero() {
			at = at.UTC()
			st.RetryAt = &at
		}
	}
	if db.Phase() == v1alpha1.PhaseVerifying && db.Status.VerifyStartTime != nil {
		d := phases.VerifyDeadline(db, in.Now).UTC()
		st.VerifyDeadline = &d
	}

	conds := append([]metav1.Condition(nil), db.Status.Conditions...)
	sort.SliceStable(conds, func(i, j int) bool {
		oi, oj := condRank(conds[i].Type), condRank(conds[j].Type)
		if oi != oj {
			return oi < oj
		}
		return conds[i].Type < conds[j].Type
	})
	for _, c := range conds {
		st.Conditions = append(st.Conditions, StatusCondition{Type: c.Type, Status: string(c.Status), Reason: c.Reason,
			Message: redact.Text(c.Message), LastTransitionTime: c.LastTransitionTime.UTC(), ObservedGeneration: c.ObservedGeneration})
	}

	for _, c := range phases.Children(db) {
		if backupKind(c.Kind) && db.Spec.Backup == nil && in.Live[c.Ref] == nil {
			continue // no backups: nothing to say
		}
		st.Children = append(st.Children, child(db, c, in.Live[c.Ref]))
	}

	st.Pods = pods(in.Pods)
	for _, dep := range db.Spec.Dependencies {
		sd := StatusDependency{Name: dep.Name, Target: redact.URL(dep.Target()), Breaker: string(resilience.StateClosed)}
		if dep.URL == "" {
			sd.Target = dep.TCP
		}
		if r := in.Breakers[dep.Name]; r != nil {
			sd.Breaker = string(r.CurrentState())
			sd.Failures = r.Failures
			sd.LastError = redact.Text(r.LastError)
			if r.OpenedAt != nil && r.CurrentState() != resilience.StateClosed {
				t := r.OpenedAt.UTC()
				sd.OpenedAt = &t
			}
			if next := in.Settings.NextProbe(*r); !next.IsZero() {
				next = next.UTC()
				sd.NextProbe = &next
			}
		}
		st.Dependencies = append(st.Dependencies, sd)
	}
	return st
}

// pods are the pods' lines, the primary first, then by name.
func pods(list []corev1.Pod) []StatusPod {
	out := []StatusPod{}
	for _, p := range list {
		sp := StatusPod{Name: p.Name, Role: p.Labels[phases.LabelRole]}
		if sp.Role == "" {
			sp.Role = "unknown"
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				sp.Ready = true
			}
		}
		switch {
		case p.DeletionTimestamp != nil:
			sp.State = "terminating"
		case sp.Ready && sp.Role == phases.RoleReplica:
			sp.State = "streaming"
		case sp.Ready:
			sp.State = "ready"
		case p.Status.Phase == corev1.PodRunning:
			sp.State = "not ready"
		default:
			sp.State = string(p.Status.Phase)
		}
		out = append(out, sp)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Role == phases.RolePrimary) != (out[j].Role == phases.RolePrimary) {
			return out[i].Role == phases.RolePrimary
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func condRank(t string) int {
	for i, c := range conditionOrder {
		if c == t {
			return i
		}
	}
	return len(conditionOrder)
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func backupKind(kind string) bool {
	return kind == phases.KindCronJob || kind == phases.KindPersistentVolumeClaim
}

// child is one child's line of the status: present or missing, and for a
// StatefulSet its rollout, computed as reconcile waits for it (phases.RolloutOf).
func child(db *v1alpha1.Database, ch phases.Child, obj *unstructured.Unstructured) StatusChild {
	expected := ch.Want.Applied(obj != nil)
	c := StatusChild{Phase: string(ch.Phase), Kind: ch.Kind, Name: ch.Name, Expected: expected}
	switch {
	case obj == nil && !expected && backupKind(ch.Kind):
		c.Ready, c.State = true, "not needed (no spec.backup)"
		return c
	case obj == nil && !expected:
		c.Ready, c.State = true, fmt.Sprintf("not needed (replicas %d)", db.ReplicaCount())
		return c
	case obj == nil:
		c.State = "missing"
		return c
	}
	c.Exists = true
	c.Owned = phases.IsOwnedBy(obj, db)
	if !c.Owned {
		c.State = "present, but not owned by this Database"
		return c
	}
	switch {
	case ch.Want == phases.Keep:
		c.Ready, c.State = true, fmt.Sprintf("present, kept (replicas %d)", db.ReplicaCount())
		return c
	case !expected:
		c.State = fmt.Sprintf("present, to be removed (replicas %d)", db.ReplicaCount())
		return c
	}
	c.Ready, c.State = true, "present"
	if ch.Kind != phases.KindStatefulSet {
		return c
	}
	r := phases.RolloutOf(obj)
	c.Replicas, c.ReadyReplicas = &r.Desired, &r.Ready
	c.State = fmt.Sprintf("%d/%d ready", r.Ready, r.Desired)
	switch {
	case !r.Observed:
		c.State += " (spec change not observed yet)"
	case r.Updated < r.Desired:
		c.State += fmt.Sprintf(" (%d/%d updated)", r.Updated, r.Desired)
	case !r.Current && r.Ready >= r.Desired && r.Message != "":
		c.State += " (" + r.Message + ")"
	}
	c.Ready = r.Current
	return c
}

// Age is kubectl's age of t at now ("5m", "2d3h"); "<unknown>" for a zero time.
func Age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

// WriteStatuses writes the text status of each Database, separated by blank lines.
func WriteStatuses(w io.Writer, sts []Status, s Style) error {
	var b strings.Builder
	for i, st := range sts {
		if i > 0 {
			b.WriteString("\n")
		}
		for _, l := range StatusLines(st, s) {
			b.WriteString(l + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// StatusLines renders one Database's status.
func StatusLines(st Status, s Style) []string {
	now := st.Now
	lines := append([]string{s.Bold("Database " + st.Namespace + "/" + st.Name)}, summaryLines(st, s)...)

	lines = append(lines, "", "  "+s.Bold("Conditions"))
	if len(st.Conditions) == 0 {
		lines = append(lines, "    (none: dbctl has not reconciled this Database yet)")
	} else {
		rows := [][]cell{{{t: "TYPE"}, {t: "STATUS"}, {t: "REASON"}, {t: "AGE"}, {t: "MESSAGE"}}}
		for _, c := range st.Conditions {
			paint := s.Red
			if c.Status == string(metav1.ConditionTrue) {
				paint = s.Green
			}
			rows = append(rows, []cell{{t: c.Type}, {t: c.Status, paint: paint}, {t: c.Reason},
				{t: Age(c.LastTransitionTime, now)}, {t: oneLine(c.Message)}})
		}
		lines = append(lines, table("    ", rows)...)
	}

	lines = append(lines, "", "  "+s.Bold("Children"))
	rows := [][]cell{}
	for _, c := range st.Children {
		paint := s.Green
		switch {
		case !c.Exists && c.Expected, !c.Owned && c.Exists:
			paint = s.Red
		case !c.Ready:
			paint = s.Yellow
		case !c.Exists:
			paint = s.Faint
		}
		rows = append(rows, []cell{{t: c.Kind}, {t: c.Name}, {t: c.State, paint: paint}})
	}
	lines = append(lines, table("    ", rows)...)
	lines = append(lines, podLines(st, s)...)

	if len(st.Dependencies) > 0 {
		lines = append(lines, "", "  "+s.Bold("Dependencies"))
		rows := [][]cell{{{t: "NAME"}, {t: "BREAKER"}, {t: "TARGET"}, {t: "DETAIL"}}}
		for _, d := range st.Dependencies {
			paint := s.Green
			if d.Breaker != string(resilience.StateClosed) {
				paint = s.Red
			}
			rows = append(rows, []cell{{t: d.Name}, {t: d.Breaker, paint: paint}, {t: d.Target}, {t: depDetail(d, now)}})
		}
		lines = append(lines, table("    ", rows)...)
	}
	return lines
}

// summaryLines are the key: value lines under a Database's name.
func summaryLines(st Status, s Style) []string {
	now := st.Now
	phase := st.Phase
	switch {
	case st.Ready:
		phase = s.Green(phase)
	case st.Phase == string(v1alpha1.PhaseFailed):
		phase = s.Red(phase + ", needs a person")
	default:
		phase = s.Yellow(phase + ", not ready")
	}
	if !st.Ready && st.Reason != "" {
		phase += " (" + st.Reason + ")"
	}
	kv := [][2]string{{"phase", phase}}
	if !st.Ready && st.Message != "" {
		kv = append(kv, [2]string{"message", st.Message})
	}
	if st.Endpoint != "" {
		kv = append(kv, [2]string{"endpoint", st.Endpoint})
	}
	gen := fmt.Sprintf("%d (observed %d)", st.Generation, st.ObservedGeneration)
	if st.ObservedGeneration < st.Generation {
		gen += ": the spec changed since the last reconcile"
	}
	kv = append(kv, [2]string{"generation", gen})
	if st.VerifyStartTime != nil {
		v := "since " + Age(*st.VerifyStartTime, now)
		if st.VerifyDeadline != nil {
			v += ", times out at " + st.VerifyDeadline.Format(time.RFC3339) + " (spec.verify.timeout)"
		}
		kv = append(kv, [2]string{"verifying", v})
	}
	if b := st.Backup; b != nil {
		kv = append(kv, [2]string{"backups", backupLine(b, now)})
	}
	if st.LastFailureTime != nil {
		kv = append(kv, [2]string{"failed", Age(*st.LastFailureTime, now) + " ago, " + fmt.Sprintf("%d retries so far", st.RetryCount)})
	}
	if st.RetryAt != nil {
		v := "allowed at " + st.RetryAt.Format(time.RFC3339)
		if now.Before(*st.RetryAt) {
			v += " (in " + duration.HumanDuration(st.RetryAt.Sub(now)) + ")"
		} else {
			v += " (now: the next reconcile retries)"
		}
		kv = append(kv, [2]string{"retry", v})
	}
	lines := make([]string, 0, len(kv))
	for _, p := range kv {
		lines = append(lines, fmt.Sprintf("  %-11s %s", p[0]+":", p[1]))
	}
	return lines
}

func backupOf(db *v1alpha1.Database) *StatusBackup {
	if db.Spec.Backup == nil && db.Status.LastBackup == nil {
		return nil
	}
	b := &StatusBackup{Last: db.Status.LastBackup}
	if db.Spec.Backup != nil {
		b.Schedule = db.Spec.Backup.Schedule
	}
	if c := db.Condition(v1alpha1.ConditionBackedUp); c != nil && c.Reason == v1alpha1.ReasonBackupFailed {
		b.Failed = c.Message
	}
	return b
}

// backupLine is the status's line of backups: the last one and its age, the
// schedule, a failed last run.
func backupLine(b *StatusBackup, now time.Time) string {
	v := "none yet"
	if l := b.Last; l != nil {
		sum := l.SHA256
		if len(sum) > 12 {
			sum = sum[:12] + "…"
		}
		v = fmt.Sprintf("last %s, %s ago (%d bytes, sha256 %s)", l.File, Age(l.CompletedAt.Time, now), l.SizeBytes, sum)
	}
	if b.Schedule != "" {
		v += "; schedule " + b.Schedule
	}
	if b.Failed != "" {
		v += "; FAILED: " + b.Failed
	}
	return v
}

// podLines are the Pods section: each pod, its role and readiness.
func podLines(st Status, s Style) []string {
	lines := []string{"", "  " + s.Bold("Pods")}
	if len(st.Pods) == 0 {
		return append(lines, "    (none)")
	}
	rows := [][]cell{}
	for _, p := range st.Pods {
		paint := s.Green
		if !p.Ready {
			paint = s.Yellow
		}
		rows = append(rows, []cell{{t: p.Name}, {t: p.Role}, {t: p.State, paint: paint}})
	}
	return append(lines, table("    ", rows)...)
}

func depDetail(d StatusDependency, now time.Time) string {
	var parts []string
	switch {
	case d.Breaker == string(resilience.StateClosed) && d.Failures == 0:
		parts = append(parts, "-")
	case d.Breaker == string(resilience.StateClosed):
		parts = append(parts, fmt.Sprintf("%d consecutive failures", d.Failures))
	default:
		if d.OpenedAt != nil {
			parts = append(parts, "opened "+Age(*d.OpenedAt, now)+" ago")
		}
		if d.NextProbe != nil {
			parts = append(parts, "next probe at "+d.NextProbe.Format(time.RFC3339))
		}
	}
	if d.LastError != "" && (d.Breaker != string(resilience.StateClosed) || d.Failures > 0) {
		parts = append(parts, "last error: "+oneLine(d.LastError))
	}
	return strings.Join(parts, "; ")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cell is a table cell: its text and how to paint it (after padding, so that
// colour codes do not upset the alignment).
type cell struct {
	t     string
	paint func(string) string
}

func table(prefix string, rows [][]cell) []string {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			if n := len([]rune(c.t)); n > widths[i] {
				widths[i] = n
			}
		}
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		var b strings.Builder
		b.WriteString(prefix)
		for i, c := range r {
			text := c.t
			if i < len(r)-1 {
				text += strings.Repeat(" ", widths[i]-len([]rune(c.t))+2)
			}
			if c.paint != nil {
				text = c.paint(c.t) + text[len(c.t):]
			}
			b.WriteString(text)
		}
		out = append(out, strings.TrimRight(b.String(), " "))
	}
	return out
}
