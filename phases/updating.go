package phases

import "github.com/dbctl-io/dbctl/api/v1alpha1"

// Updating writes every child again (server-side apply makes unchanged ones no-ops)
// and prunes what must go, then moves to Verifying. Like Provisioning, it goes Failed
// instead when the credentials Secret is gone while the data exists.
func updating(db *v1alpha1.Database, obs *Observation) Decision {
	s := newStep(db, obs)
	if msg, missing := credentialsLost(db, obs); missing {
		s.cond(v1alpha1.ConditionProvisioned, false, v1alpha1.ReasonCredentialsMissing, msg)
		return s.fail(v1alpha1.ReasonCredentialsMissing, msg)
	}
	s.cond(v1alpha1.ConditionProvisioned, true, v1alpha1.ReasonReconciled, "credentials Secret and Services applied")
	s.cond(v1alpha1.ConditionConfigured, true, v1alpha1.ReasonReconciled, "engine configuration applied")
	s.cond(v1alpha1.ConditionDeployed, true, v1alpha1.ReasonReconciled, "StatefulSet applied")
	startVerify(s)
	return s.move(v1alpha1.PhaseVerifying, "apply every child",
		v1alpha1.PhaseProvisioning, v1alpha1.PhaseConfiguring, v1alpha1.PhaseDeploying)
}
