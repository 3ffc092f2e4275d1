package reconcile_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
)

// The scenarios of the differential test: a base Database reconciled to some
// state, then random perturbations of its spec, of its live children and status,
// and of its dependencies. A scenario is a pure function of its seed
// (math/rand/v2, PCG): genScenario(seed) is the same scenario on every run.

// dbSpec is a Database spec the generator builds.
type dbSpec struct {
	Engine, Version string
	Replicas        int
	Size            string
	Params          map[string]string
	Username        string // "" is the default
	VerifyTimeout   string // "" is the default (10m)
	Deps            []string
	// Class is the storage class: "" none, classExpand (allows volume expansion) or
	// classFixed (does not).
	Class string
	// Image overrides the engine's image ("" none).
	Image string
	// Backup is spec.backup's schedule ("" no spec.backup), BackupSize its
	// storage's size.
	Backup, BackupSize string
	// DeletionPolicy is spec.deletionPolicy ("" the default, Retain).
	DeletionPolicy string
}

// The StorageClasses a spec can name (created once by the test).
const (
	classExpand = "dbctl-diff-expand"
	classFixed  = "dbctl-diff-fixed"
)

func (s dbSpec) clone() dbSpec {
	s.Params = maps.Clone(s.Params)
	s.Deps = slices.Clone(s.Deps)
	return s
}

// The dependencies a spec can name: the scenario's HTTP server (healthy unless the
// scenario turns it to 503), its TCP listener (healthy unless closed), and a port
// nothing listens on.
const (
	depHTTP   = "api"
	depTCP    = "queue"
	depClosed = "gone"
)

// startState is how the base Database is reached before the perturbations.
type startState int

const (
	startAbsent  startState = iota // no Database yet: the plan is a create
	startReady                     // reconciled to Ready
	startStopped                   // a cold reconcile killed right after entering stopAfter
)

// liveEdit is one change of a child made by someone else than dbctl.
type liveEdit struct {
	kind, name string
	// op: "delete"; "edit" (a merge patch by kubectl-edit, or through the scale
	// subresource by kubectl-scale when scale is set); "apply" (a server-side apply
	// by another applier, argocd-controller, with force); "rollout" (the
	// StatefulSet's status not caught up with its spec).
	op string
	// field picks what is edited or applied (see applyLiveEdit).
	field string
	// value is what it is set to; for "apply", "same" applies dbctl's own value.
	value string
}

func (e liveEdit) String() string {
	switch e.op {
	case "delete":
		return fmt.Sprintf("%s %s deleted", e.kind, e.name)
	case "rollout":
		return fmt.Sprintf("%s %s mid-rollout", e.kind, e.name)
	case "edit":
		return fmt.Sprintf("%s %s %s edited by hand to %s", e.kind, e.name, e.field, e.value)
	}
	return fmt.Sprintf("%s %s %s applied by argocd-controller as %s", e.kind, e.name, e.field, e.value)
}

// statusEdit sets the Database's status phase, with its times relative to the
// virtual clock's start (negative: before it).
type statusEdit struct {
	phase       v1alpha1.Phase
	retryCount  int32
	lastFailure *time.Duration
	verifyStart *time.Duration
}

func (e statusEdit) String() string {
	s := "status " + string(e.phase)
	if e.phase == "" {
		s = "status empty"
	}
	if e.lastFailure != nil {
		s += fmt.Sprintf(", retryCount %d, lastFailureTime now%+v (retry at now%+v)", e.retryCount, *e.lastFailure,
			*e.lastFailure+phases.RetryWindow(e.retryCount))
	} else if e.phase == v1alpha1.PhaseFailed {
		s += fmt.Sprintf(", retryCount %d, no lastFailureTime", e.retryCount)
	}
	if e.verifyStart != nil {
		s += fmt.Sprintf(", verifyStartTime now%+v", *e.verifyStart)
	}
	return s
}

// scenario is one generated case.
type scenario struct {
	seed      uint64
	name      string
	base      dbSpec
	start     startState
	stopAfter v1alpha1.Phase
	// target is the spec plan and reconcile are given: from a file, or, with
	// fromCluster, applied to the cluster first and read from there.
	target      dbSpec
	fromCluster bool
	// dbApplier: another applier owns spec.replicas of the Database (value dbApplier).
	dbApplier int
	live      []liveEdit
	status    *statusEdit
	httpDown  bool
	tcpDown   bool
	// blockRollouts keeps every rollout from completing during the reconcile;
	// blockVolumes keeps every volume from growing (the base has PVCs when it has a
	// storage class).
	blockRollouts, blockVolumes bool
	// force: the engine takes fields other appliers own (--force-conflicts).
	force bool
	// timeout is the run's (virtual) --timeout.
	timeout time.Duration
	desc    []string
	// tags name what the scenario exercises, for the statistics.
	tags []string
}

func (s *scenario) tag(t string) {
	if !slices.Contains(s.tags, t) {
		s.tags = append(s.tags, t)
	}
}

func (s *scenario) describe(format string, args ...any) {
	s.desc = append(s.desc, fmt.Sprintf(format, args...))
}

// Description is the scenario in one line.
func (s *scenario) Description() string { return strings.Join(s.desc, "; ") }

// genScenario builds the scenario of seed.
func genScenario(seed uint64) *scenario {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := &scenario{seed: seed, name: pick(r, "orders", "shop", "ledger")}
	s.base = genBase(r)
	s.describe("%s %s %s, %d replica(s), %s %q", s.name, s.base.Engine, s.base.Version, s.base.Replicas, s.base.Size, s.base.Class)
	if len(s.base.Params) > 0 || len(s.base.Deps) > 0 {
		s.describe("parameters %v, dependencies %v", s.base.Params, s.base.Deps)
	}
	switch n := r.IntN(10); {
	case n < 1:
		s.start = startAbsent
		s.describe("new Database")
		s.tag("new Database")
	case n < 8:
		s.start = startReady
		s.describe("reconciled to Ready")
	default:
		s.start = startStopped
		s.stopAfter = pick(r, v1alpha1.PhaseProvisioning, v1alpha1.PhaseConfiguring, v1alpha1.PhaseDeploying, v1alpha1.PhaseVerifying)
		s.describe("a cold run killed after entering %s", s.stopAfter)
		s.tag("run killed in " + string(s.stopAfter))
	}
	s.target = genSpecChange(r, s)
	if s.start != startAbsent {
		genLive(r, s)
	}
	genDependencies(r, s)
	s.blockRollouts = r.IntN(4) == 0
	if s.blockRollouts {
		s.describe("rollouts never complete")
		s.tag("rollouts never complete")
	}
	if s.base.Class != "" && r.IntN(4) == 0 {
		s.blockVolumes = true
		s.describe("volumes never grow")
		s.tag("volumes never grow")
	}
	if r.IntN(10) == 0 {
		s.force = true
		s.describe("--force-conflicts")
		s.tag("--force-conflicts")
	}
	s.timeout = pick(r, 45*time.Second, 150*time.Second, 15*time.Minute) + 500*time.Millisecond
	s.describe("--timeout %s", s.timeout)
	return s
}

func pick[T any](r *rand.Rand, items ...T) T { return items[r.IntN(len(items))] }

func genBase(r *rand.Rand) dbSpec {
	s := dbSpec{Engine: pick(r, "postgres", "postgres", "mariadb", "mariadb", "mysql"), Replicas: 1 + r.IntN(3), Size: pick(r, "1Gi", "2Gi")}
	switch s.Engine {
	case "postgres":
		s.Version = pick(r, "16", "16.4")
	case "mariadb":
		s.Version = pick(r, "10.11", "11.4")
	default:
		s.Version, s.Replicas = pick(r, "8.0", "8.4"), 1
	}
	s.Class = pick(r, "", "", classExpand, classFixed)
	s.Params = map[string]string{}
	for _, k := range paramNames(s.Engine) {
		if r.IntN(3) == 0 {
			s.Params[k] = fmt.Sprint(100 + r.IntN(4)*50)
		}
	}
	if r.IntN(4) == 0 {
		s.Username = pick(r, "shop", "app2")
	}
	if r.IntN(3) == 0 {
		s.VerifyTimeout = pick(r, "30s", "1m", "20m")
	}
	if r.IntN(3) == 0 && s.Engine != "mysql" { // else the API server rejects it
		s.Backup, s.BackupSize = pick(r, "0 3 * * *", "@daily"), pick(r, "1Gi", "2Gi")
	}
	s.DeletionPolicy = pick(r, "", "", "Retain", "Delete")
	for _, d := range []string{depHTTP, depTCP} {
		if r.IntN(4) == 0 {
			s.Deps = append(s.Deps, d)
		}
	}
	return s
}

func paramNames(engine string) []string {
	if engine == "postgres" {
		return []string{"max_connections", "max_wal_senders", "work_mem_kb"}
	}
	return []string{"max_connections", "wait_timeout", "max_allowed_packet_kb"}
}

// genSpecChange derives the target spec from the base: each change with some
// probability, none at all often (drift and status alone).
func genSpecChange(r *rand.Rand, s *scenario) dbSpec {
	t := s.base.clone()
	if r.IntN(3) == 0 {
		return t
	}
	if r.IntN(3) == 0 {
		t.Replicas = 1 + r.IntN(3)
		s.describe("spec.replicas %d → %d", s.base.Replicas, t.Replicas)
		s.tag("spec.replicas changed")
	}
	if r.IntN(3) == 0 {
		k := pick(r, paramNames(t.Engine)...)
		if _, ok := t.Params[k]; ok && r.IntN(2) == 0 {
			delete(t.Params, k)
		} else {
			t.Params[k] = fmt.Sprint(300 + r.IntN(4)*10)
		}
		s.describe("spec.parameters %v → %v", s.base.Params, t.Params)
		s.tag("spec.parameters changed")
	}
	if r.IntN(5) == 0 {
		t.Version = genVersion(r, t)
		s.describe("spec.version %s → %s", s.base.Version, t.Version)
		s.tag("spec.version changed")
	}
	if r.IntN(6) == 0 || s.base.Class != "" && r.IntN(4) == 0 {
		t.Size = pick(r, "1Gi", "2Gi", "3Gi")
		s.describe("spec.storage.size %s → %s", s.base.Size, t.Size)
		s.tag("spec.storage.size changed")
	}
	if r.IntN(12) == 0 {
		t.Class = pick(r, "", classExpand, classFixed)
		s.describe("spec.storage.storageClassName %q → %q", s.base.Class, t.Class)
		s.tag("spec.storage.storageClassName changed")
	}
	if r.IntN(12) == 0 {
		t.Image = pick(r, "", "registry.example/"+t.Engine+":custom")
		s.describe("spec.image %q", t.Image)
		s.tag("spec.image changed")
	}
	if r.IntN(5) == 0 {
		t.Username = pick(r, "", "shop", "billing")
		s.describe("spec.credentials.username %q → %q", s.base.Username, t.Username)
		s.tag("spec.credentials.username changed")
	}
	if r.IntN(6) == 0 {
		t.VerifyTimeout = pick(r, "", "30s", "1m", "20m")
		s.describe("spec.verify.timeout %q → %q", s.base.VerifyTimeout, t.VerifyTimeout)
		s.tag("spec.verify.timeout changed")
	}
	genBackupChange(r, s, &t)
	valid := t.Engine != "mysql" || t.Replicas == 1 && t.Backup == "" // else the API server rejects it
	if s.start != startAbsent && valid && r.IntN(6) == 0 {
		s.fromCluster = true
		s.describe("the spec is read from the cluster")
		s.tag("spec read from the cluster")
	} else if s.start != startAbsent && r.IntN(10) == 0 {
		s.dbApplier = 1 + r.IntN(3)
		if t.Engine == "mysql" {
			s.dbApplier = 1 // more is invalid
		}
		s.describe("argocd-controller applies the Database's spec.replicas %d", s.dbApplier)
		s.tag("Database field owned by another applier")
	}
	return t
}

// genBackupChange turns spec.backup on or off, changes its schedule or size, and
// changes spec.deletionPolicy.
func genBackupChange(r *rand.Rand, s *scenario, t *dbSpec) {
	switch n := r.IntN(12); {
	case n < 2 && t.Backup == "":
		t.Backup, t.BackupSize = pick(r, "0 3 * * *", "@hourly"), pick(r, "1Gi", "2Gi")
		s.describe("spec.backup added (%s, %s)", t.Backup, t.BackupSize)
		s.tag("spec.backup added")
	case n < 2:
		t.Backup, t.BackupSize = "", ""
		s.describe("spec.backup removed")
		s.tag("spec.backup removed")
	case n < 3 && t.Backup != "":
		t.Backup = "15 4 * * *"
		s.describe("spec.backup.schedule %q → %q", s.base.Backup, t.Backup)
		s.tag("spec.backup.schedule changed")
	case n < 4 && t.Backup != "":
		t.BackupSize = pick(r, "1Gi", "3Gi")
		s.describe("spec.backup.storage.size %s → %s", s.base.BackupSize, t.BackupSize)
		s.tag("spec.backup.storage.size changed")
	}
	if r.IntN(6) == 0 {
		t.DeletionPolicy = pick(r, "", "Retain", "Delete")
		s.describe("spec.deletionPolicy %q → %q", s.base.DeletionPolicy, t.DeletionPolicy)
		if t.DeletionPolicy == "Delete" != (s.base.DeletionPolicy == "Delete") {
			s.tag("spec.deletionPolicy changed")
		}
	}
}

// genVersion is a minor change, or a major one (PostgreSQL refuses it).
func genVersion(r *rand.Rand, t dbSpec) string {
	switch t.Engine {
	case "postgres":
		return pick(r, "16", "16.4", "16.6", "17", "15")
	case "mariadb":
		return pick(r, "10.11", "11.4", "11.8")
	}
	return pick(r, "8.0", "8.4", "9.1")
}

// genDependencies adds dependencies to the target and takes some down.
func genDependencies(r *rand.Rand, s *scenario) {
	if r.IntN(8) == 0 {
		d := pick(r, depHTTP, depTCP, depClosed)
		if !slices.Contains(s.target.Deps, d) {
			s.target.Deps = append(s.target.Deps, d)
			s.describe("spec.dependencies + %s", d)
			s.tag("dependency added")
		}
	}
	if len(s.base.Deps) > 0 && r.IntN(2) == 0 {
		s.httpDown = slices.Contains(s.base.Deps, depHTTP) && r.IntN(2) == 0
		s.tcpDown = slices.Contains(s.base.Deps, depTCP) && !s.httpDown
		if s.httpDown || s.tcpDown {
			s.tag("dependency down")
		}
		if s.httpDown {
			s.describe("dependency %s answers 503", depHTTP)
		}
		if s.tcpDown {
			s.describe("dependency %s is closed", depTCP)
		}
	}
}

// depsDown reports whether a dependency of the target is down during the reconcile.
func (s *scenario) depsDown() bool {
	for _, d := range s.target.Deps {
		if d == depClosed || d == depHTTP && s.httpDown || d == depTCP && s.tcpDown {
			return true
		}
	}
	return false
}

// genLive perturbs the live children and the status.
func genLive(r *rand.Rand, s *scenario) {
	refs := phases.Children(&v1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Name: s.name}})
	n := r.IntN(4)
	if r.IntN(3) == 0 {
		n = 0
	}
	for range n {
		c := refs[r.IntN(len(refs))]
		e := liveEdit{kind: c.Kind, name: c.Name}
		e.op, e.field, e.value = genLiveOp(r, c.Kind)
		s.live = append(s.live, e)
		s.describe("%s", e)
		s.tag(map[string]string{"delete": "child deleted", "rollout": "StatefulSet mid-rollout", "edit": "child edited by hand",
			"apply": "child field owned by another applier"}[e.op])
	}
	if r.IntN(5) < 2 {
		s.status = genStatus(r, s)
		s.describe("%s", *s.status)
		s.tag(s.status.tag())
	}
}

// genLiveOp picks an edit of a child of kind.
func genLiveOp(r *rand.Rand, kind string) (op, field, value string) {
	op = pick(r, "delete", "edit", "edit", "apply")
	if kind == phases.KindStatefulSet && r.IntN(3) == 0 {
		op = "rollout"
	}
	if op == "delete" || op == "rollout" {
		return op, "", ""
	}
	fields := map[string][]string{
		phases.KindSecret:                {"data.host", "data.password", "label", "foreign-label"},
		phases.KindService:               {"selector", "label", "foreign-label"},
		phases.KindConfigMap:             {"data", "label", "foreign-label"},
		phases.KindStatefulSet:           {"replicas", "template-annotation", "label", "foreign-label"},
		phases.KindPodDisruptionBudget:   {"maxUnavailable", "label", "foreign-label"},
		phases.KindPersistentVolumeClaim: {"label", "foreign-label"},
		phases.KindCronJob:               {"schedule", "label", "foreign-label"},
	}
	field = pick(r, fields[kind]...)
	value = pick(r, "other", "other", "same")
	if field == "replicas" {
		value = fmt.Sprint(r.IntN(4))
	}
	return op, field, value
}

// tag names the status for the statistics: its phase, Failed by where its
// backoff window ends.
func (e statusEdit) tag() string {
	switch {
	case e.phase == "":
		return "status empty"
	case e.phase != v1alpha1.PhaseFailed:
		return "status " + string(e.phase)
	case e.lastFailure == nil:
		return "status Failed, no lastFailureTime"
	case *e.lastFailure+phases.RetryWindow(e.retryCount) <= 0:
		return "status Failed, backoff window over"
	}
	return "status Failed, inside the backoff window"
}

// genStatus sets the status phase, with backoff and verify times around the
// virtual clock's start.
func genStatus(r *rand.Rand, s *scenario) *statusEdit {
	// Every phase, Failed and Verifying (which have times) twice as often.
	e := &statusEdit{phase: pick(r, append([]v1alpha1.Phase{"", v1alpha1.PhaseFailed, v1alpha1.PhaseVerifying}, v1alpha1.Phases...)...)}
	switch e.phase {
	case v1alpha1.PhaseFailed:
		e.retryCount = int32(r.IntN(7))
		if r.IntN(6) > 0 {
			// In whole seconds: outside the retry window, inside it, or just failed.
			window := phases.RetryWindow(e.retryCount)
			d := -time.Second
			switch r.IntN(3) {
			case 0:
				d = -window - time.Duration(1+r.IntN(30))*time.Second
			case 1:
				d = -time.Duration(1+r.Int64N(int64(window/time.Second)-1)) * time.Second
			}
			e.lastFailure = &d
		}
	case v1alpha1.PhaseVerifying:
		if r.IntN(5) > 0 {
			d := -time.Duration(r.IntN(1500)) * time.Second
			e.verifyStart = &d
		}
	}
	return e
}
