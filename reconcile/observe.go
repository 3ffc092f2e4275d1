package reconcile

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	// recreated are the StatefulSets a volume growth deleted in this step, as they
	// were: the step writes them again.
	recreated map[phases.Ref]*unstructured.Unstructured
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
	if err := observeBackups(ctx, c, db, s); err != nil {
		return nil, err
	}
	if phases.NeedsVolumes(db, s.obs) {
		if s.obs.Volumes, err = observeVolumes(ctx, c, db, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// observeBackups reads what the backup CronJob says and, when it reports a backup
// newer than status.lastBackup, the newest backup's record from its Job.
func observeBackups(ctx context.Context, c cluster, db *v1alpha1.Database, s *snapshot) error {
	st := phases.BackupStateOf(s.live[phases.Ref{Kind: phases.KindCronJob, Name: db.BackupCronJobName()}])
	s.obs.Backups = st
	if st == nil || st.LastSuccess.IsZero() {
		return nil
	}
	if last := db.Status.LastBackup; last != nil && !st.LastSuccess.After(last.CompletedAt.Time) {
		return nil
	}
	rec, err := c.latestBackup(ctx, db)
	s.obs.LastBackup = rec
	return err
}

// observeVolumes reads the Database's data PVCs; when a growth is wanted, each one
// to grow, and the deletion of each StatefulSet to recreate, is checked with a
// server-side dry run, so that a PVC that cannot grow refuses the growth, and a
// missing permission stops the run, before anything is touched.
func observeVolumes(ctx context.Context, c cluster, db *v1alpha1.Database, s *snapshot) ([]phases.Volume, error) {
	obs := s.obs
	pvcs, err := c.listVolumes(ctx, db)
	if err != nil {
		return nil, err
	}
	replicas := map[string]int32{}
	for _, w := range []*phases.Workload{obs.Workload, obs.ReplicaWorkload} {
		if w != nil {
			replicas[w.Name] = w.Replicas
		}
	}
	volumes := []phases.Volume{}
	for _, pvc := range pvcs {
		sts, ordinal, ok := phases.VolumeOwner(db, pvc.Name)
		if !ok {
			continue
		}
		volumes = append(volumes, volumeOf(pvc, ordinal < replicas[sts]))
	}
	obs.Volumes = volumes
	if g := phases.GrowthOf(db, obs); g != nil {
		for _, name := range g.StatefulSets {
			if err := c.deleteOrphan(ctx, s.liveOf(phases.Ref{Kind: phases.KindStatefulSet, Name: name}), true); err != nil {
				return nil, err
			}
		}
		for i := range volumes {
			if volumes[i].Requested.Cmp(g.To) >= 0 {
				continue
			}
			err := c.growVolume(ctx, db.Namespace, volumes[i].Name, g.To, true)
			switch {
			case (apierrors.IsForbidden(err) && !kube.IsRBACForbidden(err)) || apierrors.IsInvalid(err):
				volumes[i].NotExpandable = apiMessage(err) // the API server's admission or validation
			case err != nil:
				return nil, err
			}
		}
	}
	return volumes, nil
}

// volumeOf is what the growth needs of a PVC.
func volumeOf(pvc corev1.PersistentVolumeClaim, mounted bool) phases.Volume {
	v := phases.Volume{Name: pvc.Name, Mounted: mounted,
		Requested: pvc.Spec.Resources.Requests[corev1.ResourceStorage], Capacity: pvc.Status.Capacity[corev1.ResourceStorage]}
	for _, c := range pvc.Status.Conditions {
		if c.Type == corev1.PersistentVolumeClaimFileSystemResizePending && c.Status == corev1.ConditionTrue {
			v.FileSystemResizePending = true
		}
	}
	switch st := pvc.Status.AllocatedResourceStatuses[corev1.ResourceStorage]; st {
	case corev1.PersistentVolumeClaimControllerResizeInfeasible, corev1.PersistentVolumeClaimNodeResizeInfeasible:
		v.Infeasible = string(st)
		for _, c := range pvc.Status.Conditions {
			if c.Message != "" {
				v.Infeasible += ": " + c.Message
			}
		}
	}
	return v
}

// apiMessage is an API error's own message, without dbctl's context or the
// resource's name ("persistentvolumeclaims \"x\" is forbidden: ").
func apiMessage(err error) string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return err.Error()
	}
	msg := status.Status().Message
	if _, after, found := strings.Cut(msg, " is forbidden: "); found {
		return after
	}
	return msg
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
