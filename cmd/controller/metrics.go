package controller

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/resilience"
)

// Metrics are dbctl's own metrics, beside controller-runtime's (reconciles, work
// queue, client requests) on the same endpoint:
//
//	dbctl_database_phase{namespace,name,phase}   1 for the Database's phase, 0 for the others
//	dbctl_database_ready{namespace,name}         1 when Ready
//	dbctl_breaker_state{dependency,state}        1 for the breaker's state (closed, open, half-open)
//	dbctl_breaker_failures{dependency}           its consecutive failures
//
// The breaker metrics follow every write of the breaker state by this process
// (ObservedStore) and its first read: they cost no request of their own.
type Metrics struct {
	phase    *prometheus.GaugeVec
	ready    *prometheus.GaugeVec
	breaker  *prometheus.GaugeVec
	failures *prometheus.GaugeVec

	mu    sync.Mutex
	known map[string]bool // dependencies with a breaker metric
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dbctl_database_phase",
			Help: "The phase of each Database: 1 for its phase, 0 for the others."}, []string{"namespace", "name", "phase"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dbctl_database_ready",
			Help: "1 when the Database is Ready, else 0."}, []string{"namespace", "name"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dbctl_breaker_state",
			Help: "The state of each dependency's circuit breaker: 1 for its state, 0 for the others."}, []string{"dependency", "state"}),
		failures: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dbctl_breaker_failures",
			Help: "Consecutive failures counted by each dependency's circuit breaker."}, []string{"dependency"}),
		known: map[string]bool{},
	}
	for _, c := range []*prometheus.GaugeVec{m.phase, m.ready, m.breaker, m.failures} {
		if err := registerGauge(reg, c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// registerGauge registers c on reg; when reg already has it (a second controller in
// one process: tests), c takes the registered one's place.
func registerGauge(reg prometheus.Registerer, c *prometheus.GaugeVec) error {
	err := reg.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(*prometheus.GaugeVec); ok {
			*c = *existing
			return nil
		}
	}
	return err
}

var allPhases = []v1alpha1.Phase{v1alpha1.PhasePending, v1alpha1.PhaseProvisioning, v1alpha1.PhaseConfiguring,
	v1alpha1.PhaseDeploying, v1alpha1.PhaseVerifying, v1alpha1.PhaseReady, v1alpha1.PhaseUpdating, v1alpha1.PhaseFailed}

func (m *Metrics) observe(key types.NamespacedName, res *reconcile.StepResult) {
	if m == nil || res.Database == nil {
		return
	}
	for _, p := range allPhases {
		v := 0.0
		if p == res.Phase {
			v = 1
		}
		m.phase.WithLabelValues(key.Namespace, key.Name, string(p)).Set(v)
	}
	ready := 0.0
	if res.Database.IsReady() {
		ready = 1
	}
	m.ready.WithLabelValues(key.Namespace, key.Name).Set(ready)
}

func (m *Metrics) forget(key types.NamespacedName) {
	if m == nil {
		return
	}
	m.phase.DeletePartialMatch(prometheus.Labels{"namespace": key.Namespace, "name": key.Name})
	m.ready.DeleteLabelValues(key.Namespace, key.Name)
}

var breakerStates = []resilience.State{resilience.StateClosed, resilience.StateOpen, resilience.StateHalfOpen}

// breakers sets the breaker metrics from a state; a breaker gone (reset) loses its
// metrics.
func (m *Metrics) breakers(sf resilience.StateFile) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for name, r := range sf.Breakers {
		seen[name] = true
		m.known[name] = true
		for _, s := range breakerStates {
			v := 0.0
			if r.State == s || (r.State == "" && s == resilience.StateClosed) {
				v = 1
			}
			m.breaker.WithLabelValues(name, string(s)).Set(v)
		}
		m.failures.WithLabelValues(name).Set(float64(r.Failures))
	}
	for name := range m.known {
		if !seen[name] {
			delete(m.known, name)
			m.breaker.DeletePartialMatch(prometheus.Labels{"dependency": name})
			m.failures.DeleteLabelValues(name)
		}
	}
}

// ObservedStore is a breaker state store that shows every state it writes in the
// metrics.
type ObservedStore struct {
	resilience.StateStore
	Metrics *Metrics
}

// Update runs fn through the store, then shows the state written.
func (s ObservedStore) Update(fn func(*resilience.StateFile) error) error {
	return s.UpdateContext(context.Background(), fn)
}

// UpdateContext runs fn through the store, then shows the state written.
func (s ObservedStore) UpdateContext(ctx context.Context, fn func(*resilience.StateFile) error) error {
	var written *resilience.StateFile
	err := s.StateStore.UpdateContext(ctx, func(sf *resilience.StateFile) error {
		written = sf
		return fn(sf)
	})
	if err == nil && written != nil {
		s.Metrics.breakers(*written)
	}
	return err
}
