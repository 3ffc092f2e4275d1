package reconcile

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/kube"
)

// childRef names a child to read.
type childRef struct {
	gvk  schema.GroupVersionKind
	name string
}

func (r childRef) key() string { return r.gvk.Kind + "/" + r.name }

// childRefs are every child a Database can have, whatever its spec.
func childRefs(db *v1alpha1.Database) []childRef {
	return []childRef{
		{schema.GroupVersionKind{Version: "v1", Kind: phases.KindSecret}, db.SecretName()},
		{schema.GroupVersionKind{Version: "v1", Kind: phases.KindService}, db.HeadlessServiceName()},
		{schema.GroupVersionKind{Version: "v1", Kind: phases.KindService}, db.ServiceName()},
		{schema.GroupVersionKind{Version: "v1", Kind: phases.KindConfigMap}, db.ConfigMapName()},
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: phases.KindStatefulSet}, db.StatefulSetName()},
		{schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: phases.KindPodDisruptionBudget}, db.PodDisruptionBudgetName()},
	}
}

// snapshot is one observation of a Database's children, with what the engine needs
// besides the phases.Observation: the live objects and the desired children.
type snapshot struct {
	obs     *phases.Observation
	live    map[string]*unstructured.Unstructured // by childRef.key(); absent when not found
	desired []phases.Child
	prune   []phases.Child
	// generated is true when the Secret does not exist and password is new.
	generated bool
	password  string
}

func (s *snapshot) liveOf(c phases.Child) *unstructured.Unstructured {
	return s.live[c.Kind+"/"+c.Name]
}

// NotOwnedError reports a child that exists but belongs to something else.
type NotOwnedError struct{ Kind, Namespace, Name, Database string }

func (e *NotOwnedError) Error() string {
	advice := fmt.Sprintf("rename the Database or delete the %s", e.Kind)
	if e.Kind == phases.KindSecret {
		advice = "if it was restored from a backup, remove its ownerReferences and run again (dbctl adopts a credentials Secret that has no owner); never delete it while the data exists"
	}
	return fmt.Sprintf("%s %s/%s exists but is not owned by Database %s: dbctl does not adopt objects it did not create; %s",
		e.Kind, e.Namespace, e.Name, e.Database, advice)
}

// observe reads the children (concurrently), builds the desired ones, and compares.
// password is the one generated earlier in this run for a Secret not yet created.
func (e *Engine) observe(ctx context.Context, db *v1alpha1.Database, password string) (*snapshot, error) {
	refs := childRefs(db)
	objs := make([]*unstructured.Unstructured, len(refs))
	errs := make([]error, len(refs))
	var wg sync.WaitGroup
	for i, r := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(r.gvk)
			err := e.Client.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: r.name}, u)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				errs[i] = fmt.Errorf("reading %s %s/%s: %w", r.gvk.Kind, db.Namespace, r.name, kube.Explain(err))
			default:
				objs[i] = u
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	s := &snapshot{live: map[string]*unstructured.Unstructured{}, obs: &phases.Observation{Now: e.now()}}
	for i, r := range refs {
		if objs[i] != nil {
			s.live[r.key()] = objs[i]
		}
	}

	// The password: the live Secret's, never regenerated; a new one only when there
	// is no Secret at all.
	if sec := s.live[refs[0].key()]; sec != nil {
		pw, err := secretPassword(sec)
		if err != nil {
			return nil, err
		}
		s.password = pw
	} else {
		s.generated = true
		s.password = password
		if s.password == "" {
			pw, err := phases.NewPassword()
			if err != nil {
				return nil, err
			}
			s.password = pw
		}
	}

	desired, err := phases.Desired(db, phases.Inputs{Password: s.password})
	if err != nil {
		return nil, err
	}
	s.desired = desired
	for _, c := range desired {
		cs := phases.ChildState{Child: c}
		live := s.liveOf(c)
		if live != nil {
			if !phases.IsOwnedBy(live, db) && !adoptable(c, live) {
				return nil, &NotOwnedError{Kind: c.Kind, Namespace: c.Namespace, Name: c.Name, Database: db.Name}
			}
			cs.Exists = true
			drift, err := phases.Drift(c.Desired, live, kube.FieldManager)
			if err != nil {
				return nil, err
			}
			cs.Drift = drift
		} else {
			cs.Drift = []string{"missing"}
		}
		s.obs.Children = append(s.obs.Children, cs)
	}
	for _, c := range phases.Prunable(db) {
		if live := s.liveOf(c); live != nil && phases.IsOwnedBy(live, db) {
			s.prune = append(s.prune, c)
			s.obs.Children = append(s.obs.Children, phases.ChildState{Child: c, Exists: true, Prune: true})
		}
	}

	sts := s.live[refs[4].key()]
	s.obs.Rollout = rollout(sts)
	s.obs.DataExists = sts != nil
	if !s.obs.DataExists && s.generated {
		exists, err := e.pvcsExist(ctx, db)
		if err != nil {
			return nil, err
		}
		s.obs.DataExists = exists
	}
	return s, nil
}

// adoptable: a credentials Secret without any controller is adopted (its owner
// reference added), not refused: it is how a Secret restored from a backup comes
// back, and its password is the one the data needs.
func adoptable(c phases.Child, live *unstructured.Unstructured) bool {
	return c.Kind == phases.KindSecret && len(live.GetOwnerReferences()) == 0
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

// rollout computes the StatefulSet's rollout with kstatus.
func rollout(sts *unstructured.Unstructured) phases.Rollout {
	if sts == nil {
		return phases.Rollout{Message: "StatefulSet does not exist"}
	}
	r := phases.Rollout{Exists: true}
	desired, found, _ := unstructured.NestedInt64(sts.Object, "spec", "replicas")
	if !found {
		desired = 1
	}
	ready, _, _ := unstructured.NestedInt64(sts.Object, "status", "readyReplicas")
	updated, _, _ := unstructured.NestedInt64(sts.Object, "status", "updatedReplicas")
	r.Desired, r.Ready, r.Updated = int32(desired), int32(ready), int32(updated)
	res, err := status.Compute(sts)
	if err != nil {
		r.Message = err.Error()
		return r
	}
	r.Current = res.Status == status.CurrentStatus
	r.Message = res.Message
	return r
}

// pvcsExist reports whether any PVC of the StatefulSet's volumeClaimTemplate
// (data-<name>-<ordinal>) exists: data that a new password must not be put over.
func (e *Engine) pvcsExist(ctx context.Context, db *v1alpha1.Database) (bool, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaimList"})
	if err := e.Client.List(ctx, list, client.InNamespace(db.Namespace)); err != nil {
		return false, fmt.Errorf("listing PersistentVolumeClaims in %s: %w", db.Namespace, kube.Explain(err))
	}
	re := regexp.MustCompile("^data-" + regexp.QuoteMeta(db.Name) + "-[0-9]+$")
	for _, pvc := range list.Items {
		if re.MatchString(pvc.GetName()) {
			return true, nil
		}
	}
	return false, nil
}
