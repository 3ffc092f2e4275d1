package reconcile

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/kube"
)

// snapshot is one observation of a Database's children, with what the engine needs
// besides the phases.Observation: the live objects.
type snapshot struct {
	obs  *phases.Observation
	live phases.Live
	// The passwords of the credentials and replication Secrets: the live Secrets',
	// or new ones (generated true) for Secrets not created yet.
	password, replication passwordOf
}

// passwordOf is a Secret's password and whether it was generated for a Secret that
// does not exist yet.
type passwordOf struct {
	value     string
	generated bool
}

// liveOf is the live object of a child, nil when it does not exist.
func (s *snapshot) liveOf(r phases.Ref) *unstructured.Unstructured { return s.live[r] }

// statefulSets are the StatefulSets a rollout waits for, by name, as observed (nil
// when not seen): the primary's, and the replicas' when the spec has them written.
func (s *snapshot) statefulSets() map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, c := range s.obs.Children {
		if c.Kind == phases.KindStatefulSet && !c.Prune {
			out[c.Name] = s.live[c.Ref]
		}
	}
	return out
}

// observe reads every child the Database can have, builds the desired ones, and
// compares them (phases.Observe). pending are the passwords generated earlier in this
// run for Secrets not created yet (by Secret name).
func observe(ctx context.Context, c cluster, db *v1alpha1.Database, pending map[string]string, now time.Time) (*snapshot, error) {
	children := phases.Children(db)
	refs := make([]phases.Ref, len(children))
	for i, ch := range children {
		refs[i] = ch.Ref
	}
	live, err := c.readChildren(ctx, db, refs)
	if err != nil {
		return nil, err
	}
	s := &snapshot{live: live}
	if s.password, err = passwordFor(live, db.SecretName(), pending); err != nil {
		return nil, err
	}
	if s.replication, err = passwordFor(live, db.ReplicationSecretName(), pending); err != nil {
		return nil, err
	}
	desired, err := phases.Desired(db, phases.Inputs{Password: s.password.value, ReplicationPassword: s.replication.value})
	if err != nil {
		return nil, err
	}
	if s.obs, err = phases.Observe(db, desired, live, kube.FieldManager, now); err != nil {
		return nil, err
	}
	if !s.obs.DataExists && s.password.generated {
		if s.obs.DataExists, err = c.pvcsExist(ctx, db); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// passwordFor is the password of Secret name: the live Secret's, never
// regenerated; the one generated earlier in the run (pending); else a new one,
// used only if the Secret is created.
func passwordFor(live phases.Live, name string, pending map[string]string) (passwordOf, error) {
	if sec := live[phases.Ref{Kind: phases.KindSecret, Name: name}]; sec != nil {
		pw, err := secretPassword(sec)
		return passwordOf{value: pw}, err
	}
	if pw := pending[name]; pw != "" {
		return passwordOf{value: pw, generated: true}, nil
	}
	pw, err := phases.NewPassword()
	return passwordOf{value: pw, generated: true}, err
}

// Passwords are the passwords the snapshot holds (to register with a redactor).
func (s *snapshot) passwords() []string { return []string{s.password.value, s.replication.value} }

func secretPassword(sec *unstructured.Unstructured) (string, error) {
	enc, _, _ := unstructured.NestedString(sec.Object, "data", "password")
	if enc == "" {
		return "", fmt.Errorf("Secret %s/%s has no password key: restore it from your backup (dbctl never generates a new password for an existing Secret)",
			sec.GetNamespace(), sec.GetName())
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", fmt.Errorf("Secret %s/%s: the password key is not valid base64", sec.GetNamespace(), sec.GetName())
	}
	return string(b), nil
}
