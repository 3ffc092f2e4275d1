package phases

import (
	"fmt"

	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases/engine"
)

// Configuring writes the ConfigMap with the rendered engine config
// (postgresql.conf or my.cnf), then moves to Deploying.
func configuring(db *v1alpha1.Database, obs *Observation) Decision {
	s := newStep(db, obs)
	s.cond(v1alpha1.ConditionConfigured, true, v1alpha1.ReasonReconciled, "engine configuration applied")
	s.progress(v1alpha1.ReasonProgressing, "Deploying: applying the StatefulSet")
	return s.move(v1alpha1.PhaseDeploying, "apply the engine configuration", v1alpha1.PhaseConfiguring)
}

func buildConfigMap(db *v1alpha1.Database, _ *engineSpec, _ Inputs) (any, error) {
	data, err := files(db)
	if err != nil {
		return nil, fmt.Errorf("rendering the files of Database %s/%s: %w", db.Namespace, db.Name, err)
	}
	return corev1ac.ConfigMap(db.ConfigMapName(), db.Namespace).
		WithLabels(Labels(db)).
		WithOwnerReferences(OwnerReference(db)).
		WithData(data), nil
}

// ConfigHash is the hash of the rendered server configuration (not the scripts:
// a new script runs at a pod's next start); the pod template carries it in the
// dbctl.io/config-hash annotation so that a config change rolls the pods.
func ConfigHash(db *v1alpha1.Database) (string, error) {
	return engine.ConfigHash(engineInput(db))
}
