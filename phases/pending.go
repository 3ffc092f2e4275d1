package phases

import "github.com/dbctl-io/dbctl/api/v1alpha1"

// Pending is a Database dbctl has not started on. Its dependencies are checked
// before Provisioning; when one is unavailable it stays Pending.
func pending(db *v1alpha1.Database, obs *Observation) Decision {
	s := newStep(db, obs)
	if dependenciesDown(db, obs) {
		return s.waitDependencies(obs)
	}
	s.dependencies(obs)
	s.progress(v1alpha1.ReasonProgressing, "Provisioning: creating the credentials Secret and Services")
	return s.move(v1alpha1.PhaseProvisioning, "start provisioning")
}
