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
	// generated is true when the Secret does not exist and password is new.
	generated bool
	password  string
}

// liveOf is the live object of a child, nil when it does not exist.
func (s *snapshot) liveOf(r phases.Ref) *unstructured.Unstructured { return s.live[r] }

// statefulSet is the live StatefulSet, nil when it does not exist.
func (s *snapshot) statefulSet(db *v1alpha1.Database) *unstructured.Unstructured {
	return s.live[phases.Ref{Kind: phases.KindStatefulSet, Name: db.StatefulSetName()}]
}

// observe reads every child the Database can have, builds the desired ones, and
// compares them (phases.Observe). password is the one generated earlier in this run
// for a Secret not yet created.
func observe(ctx context.Context, c cluster, db *v1alpha1.Database, password string, now time.Time) (*snapshot, error) {
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
	// The password: the live Secret's, never regenerated; a new one only when there
	// is no Secret at all.
	if sec := live[phases.Ref{Kind: phases.KindSecret, Name: db.SecretName()}]; sec != nil {
		if s.password, err = secretPassword(sec); err != nil {
			return nil, err
		}
	} else {
		s.generated, s.password = true, password
		if s.password == "" {
			if s.password, err = phases.NewPassword(); err != nil {
				return nil, err
			}
		}
	}
	desired, err := phases.Desired(db, phases.Inputs{Password: s.password})
	if err != nil {
		return nil, err
	}
	if s.obs, err = phases.Observe(db, desired, live, kube.FieldManager, now); err != nil {
		return nil, err
	}
	if !s.obs.DataExists && s.generated {
		if s.obs.DataExists, err = c.pvcsExist(ctx, db); err != nil {
			return nil, err
		}
	}
	return s, nil
}

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
