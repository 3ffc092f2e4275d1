package phases

import (
	"crypto/sha256"
	"encoding/hex"

	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// Configuring writes the ConfigMap with the rendered engine config
// (postgresql.conf or my.cnf), then moves to Deploying.
func configuring(db *v1alpha1.Database, obs *Observation) Decision {
	s := newStep(db, obs)
	s.cond(v1alpha1.ConditionConfigured, true, v1alpha1.ReasonReconciled, "engine configuration applied")
	s.progress(v1alpha1.ReasonProgressing, "Deploying: applying the StatefulSet")
	return s.move(v1alpha1.PhaseDeploying, "apply the engine configuration", v1alpha1.PhaseConfiguring)
}

func buildConfigMap(db *v1alpha1.Database, e *engine, _ Inputs) (any, error) {
	return corev1ac.ConfigMap(db.ConfigMapName(), db.Namespace).
		WithLabels(Labels(db)).
		WithOwnerReferences(OwnerReference(db)).
		WithData(map[string]string{e.configKey: e.config(db)}), nil
}

// ConfigHash is the hash of the rendered config; the pod template carries it in the
// dbctl.io/config-hash annotation so that a config change rolls the pods.
func ConfigHash(db *v1alpha1.Database) (string, error) {
	e, err := engineFor(db.Spec.Engine)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(e.config(db)))
	return hex.EncodeToString(sum[:8]), nil
}
