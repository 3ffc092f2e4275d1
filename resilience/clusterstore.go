package resilience

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/reconcile/kube"
)

// ClusterStateKey is the key of the breaker state in its ConfigMap.
const ClusterStateKey = "breakers.json"

// DefaultClusterStoreTimeout bounds the requests of the ClusterStore methods that
// take no context (Load, Update, Reset, ResetAll).
const DefaultClusterStoreTimeout = 30 * time.Second

// Backoff between the attempts of an update that lost a race: full jitter, from
// conflictBackoffMin doubling up to conflictBackoffMax, so that writers that
// collided spread out instead of colliding again.
const (
	conflictBackoffMin = 2 * time.Millisecond
	conflictBackoffMax = 200 * time.Millisecond
)

// ClusterStore keeps the breaker state in a ConfigMap (key breakers.json, the same
// versioned JSON as the state file), so that dbctl processes on different machines
// (CI runners, the shards of an Indexed Job, the controller's replicas) share their
// breakers. An update is a read-modify-write with the ConfigMap's resourceVersion as
// its precondition (an update, or a create that fails with AlreadyExists when the
// ConfigMap does not exist yet); a writer that loses the race reads again and runs
// its fn again, so no update is lost, and nothing is held between the read and the
// write. A ClusterStore is safe for concurrent use.
type ClusterStore struct {
	client    client.Client
	namespace string
	name      string
	warn      *warner
	timeout   time.Duration
}

// ClusterStore is the StateStore of a ConfigMap.
var _ StateStore = (*ClusterStore)(nil)

// NewClusterStore returns the store of ConfigMap name in namespace, read and written
// with c. warn receives the warnings about a corrupt state (nil discards them); each
// distinct warning is given once.
func NewClusterStore(c client.Client, namespace, name string, warn func(msg string)) *ClusterStore {
	return &ClusterStore{client: c, namespace: namespace, name: name, warn: &warner{warn: warn},
		timeout: DefaultClusterStoreTimeout}
}

// Location is "ConfigMap NAMESPACE/NAME".
func (s *ClusterStore) Location() string {
	return "ConfigMap " + s.namespace + "/" + s.name
}

// Load returns the state the ConfigMap holds. A missing ConfigMap, or one without
// the key, is every breaker closed; a corrupt state is reported to warn and read as
// every breaker closed. The error is for a ConfigMap that cannot be read.
func (s *ClusterStore) Load() (StateFile, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	_, sf, _, err := s.read(ctx)
	return sf, err
}

// Update is UpdateContext with the store's request timeout.
func (s *ClusterStore) Update(fn func(*StateFile) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	return s.UpdateContext(ctx, fn)
}

// UpdateContext reads the ConfigMap, runs fn on its state and writes the result with
// the resourceVersion it read as the precondition (creating the ConfigMap when there
// was none). On a conflict, or when another writer created the ConfigMap first, it
// reads again and runs fn again, until ctx ends. When fn returns an error nothing is
// written and UpdateContext returns it; when fn changes nothing, nothing is written.
func (s *ClusterStore) UpdateContext(ctx context.Context, fn func(*StateFile) error) error {
	wait := conflictBackoffMin
	for {
		cm, sf, corrupt, err := s.read(ctx)
		if err != nil {
			return err
		}
		if err := fn(&sf); err != nil {
			return err
		}
		data, err := encode(sf)
		if err != nil {
			return err
		}
		if cm != nil && !corrupt && cm.Data[ClusterStateKey] == string(data) {
			return nil // nothing changed: spare the write
		}
		err = s.write(ctx, cm, string(data))
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("writing the breaker state %s: %w", s.Location(), kube.Explain(err))
		}
		t := time.NewTimer(rand.N(wait) + 1)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("writing the breaker state %s: gave up after conflicting writes: %w", s.Location(), ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, conflictBackoffMax)
	}
}

// Reset closes the named breakers by removing them from the state, and returns
// their names. If a name is not in the state, nothing is reset and the error wraps
// ErrUnknownBreaker.
func (s *ClusterStore) Reset(names ...string) ([]string, error) {
	var reset []string
	if err := s.Update(resetNames(names, s.Location(), &reset)); err != nil {
		return nil, err
	}
	return reset, nil
}

// ResetAll closes every breaker and returns their names, sorted.
func (s *ClusterStore) ResetAll() ([]string, error) {
	var reset []string
	if err := s.Update(resetAll(&reset)); err != nil {
		return nil, err
	}
	return reset, nil
}

// read returns the ConfigMap (nil when there is none), its state, and whether the
// state was corrupt (then it is empty and a warning was given).
func (s *ClusterStore) read(ctx context.Context) (cm *corev1.ConfigMap, sf StateFile, corrupt bool, err error) {
	cm = &corev1.ConfigMap{}
	err = s.client.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: s.name}, cm)
	if apierrors.IsNotFound(err) {
		return nil, emptyStateFile(), false, nil
	}
	if err != nil {
		return nil, StateFile{}, false, fmt.Errorf("reading the breaker state %s: %w", s.Location(), kube.Explain(err))
	}
	raw, ok := cm.Data[ClusterStateKey]
	_, binary := cm.BinaryData[ClusterStateKey]
	var problem string
	switch {
	case binary:
		problem = "key " + ClusterStateKey + " is in binaryData, not data"
	case !ok:
		// Created empty (e.g. by an admin, so that dbctl needs no create verb):
		// every breaker closed, nothing to warn about.
		s.warn.once("")
		return cm, emptyStateFile(), false, nil
	case strings.TrimSpace(raw) == "":
		problem = "key " + ClusterStateKey + " is empty"
	default:
		sf, problem = decode([]byte(raw))
	}
	if problem != "" {
		s.warn.once(fmt.Sprintf("breaker state %s is corrupt (%s); treating every breaker as closed; it will be rewritten",
			s.Location(), problem))
		return cm, emptyStateFile(), true, nil
	}
	s.warn.once("") // sound again: a new corruption is worth a new warning
	return cm, sf, false, nil
}

// write stores data in cm: an update carrying cm's resourceVersion, or, when cm is
// nil, a create.
func (s *ClusterStore) write(ctx context.Context, cm *corev1.ConfigMap, data string) error {
	if cm == nil {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: s.name,
			Labels: map[string]string{
				"app.kubernetes.io/name":       "dbctl",
				"app.kubernetes.io/component":  "breaker-state",
				"app.kubernetes.io/managed-by": "dbctl",
			}}}
		cm.Data = map[string]string{ClusterStateKey: data}
		return s.client.Create(ctx, cm)
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[ClusterStateKey] = data
	delete(cm.BinaryData, ClusterStateKey)
	return s.client.Update(ctx, cm)
}
