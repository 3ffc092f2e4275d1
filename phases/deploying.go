package phases

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// Deploying writes the StatefulSet and the PodDisruptionBudget (or prunes it when
// replicas is 1), then moves to Verifying and starts the verify clock.
func deploying(db *v1alpha1.Database, obs *Observation) Decision {
	s := newStep(db, obs)
	s.cond(v1alpha1.ConditionDeployed, true, v1alpha1.ReasonReconciled, "StatefulSet applied")
	startVerify(s)
	return s.move(v1alpha1.PhaseVerifying, "apply the StatefulSet and PodDisruptionBudget", v1alpha1.PhaseDeploying)
}

// startVerify starts the Verifying phase's clock and marks the rollout pending.
func startVerify(s *stepper) {
	t := metav1.NewTime(s.now)
	s.db.Status.VerifyStartTime = &t
	s.cond(v1alpha1.ConditionVerified, false, v1alpha1.ReasonWaitingForRollout, "waiting for the StatefulSet rollout")
	s.progress(v1alpha1.ReasonWaitingForRollout, "Verifying: waiting for the StatefulSet rollout")
}

const (
	dataVolume        = "data"
	configVolume      = "config"
	replicationVolume = "replication"
)

// buildStatefulSet is the primary: StatefulSet <name>, one pod, <name>-0.
// whenDeleted is what deleting the StatefulSet (with the Database) does to its
// PVCs: deletionPolicy Retain keeps them (the data comes back with a Database of
// the same name), Delete lets them go.
func whenDeleted(db *v1alpha1.Database) appsv1.PersistentVolumeClaimRetentionPolicyType {
	if db.Retained() {
		return appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	return appsv1.DeletePersistentVolumeClaimRetentionPolicyType
}

func buildStatefulSet(db *v1alpha1.Database, e *engineSpec, _ Inputs) (any, error) {
	return statefulSet(db, e, db.StatefulSetName(), RolePrimary, 1, SelectorLabels(db))
}

// buildReplicaStatefulSet is the replicas: StatefulSet <name>-replica, replicas-1
// pods <name>-replica-<i> (0 at one replica: scaled down, its PVCs kept). Its
// selector names the role: pods of one StatefulSet share their labels, and the
// Services tell the primary from the replicas by it.
func buildReplicaStatefulSet(db *v1alpha1.Database, e *engineSpec, _ Inputs) (any, error) {
	return statefulSet(db, e, db.ReplicaStatefulSetName(), RoleReplica, db.ReplicaCount()-1, RoleSelectorLabels(db, RoleReplica))
}

// statefulSet builds a StatefulSet of role. The primary's selector (immutable) is
// the Database's pods', as dbctl always wrote it.
func statefulSet(db *v1alpha1.Database, e *engineSpec, name, role string, replicas int32, selector map[string]string) (any, error) {
	hash, err := ConfigHash(db)
	if err != nil {
		return nil, err
	}
	claim := corev1ac.PersistentVolumeClaimSpec().
		WithAccessModes(corev1.ReadWriteOnce).
		WithResources(corev1ac.VolumeResourceRequirements().
			WithRequests(corev1.ResourceList{corev1.ResourceStorage: db.Spec.Storage.Size}))
	if db.Spec.Storage.StorageClassName != nil {
		claim.WithStorageClassName(*db.Spec.Storage.StorageClassName)
	}
	template := corev1ac.PersistentVolumeClaim(dataVolume, "").
		WithLabels(SelectorLabels(db)).
		WithSpec(claim)
	template.Namespace = nil // a template has no namespace; an empty one would read as drift
	return appsv1ac.StatefulSet(name, db.Namespace).
		WithLabels(Labels(db)).
		WithOwnerReferences(OwnerReference(db)).
		WithSpec(appsv1ac.StatefulSetSpec().
			WithReplicas(replicas).
			WithServiceName(db.HeadlessServiceName()).
			WithPodManagementPolicy(appsv1.ParallelPodManagement).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(selector)).
			WithPersistentVolumeClaimRetentionPolicy(appsv1ac.StatefulSetPersistentVolumeClaimRetentionPolicy().
				WithWhenDeleted(whenDeleted(db)).
				WithWhenScaled(appsv1.RetainPersistentVolumeClaimRetentionPolicyType)).
			WithTemplate(podTemplate(db, e, role, hash)).
			WithVolumeClaimTemplates(template)), nil
}

// podTemplate is the pod of role: the engine's container, the config (and the
// replication credentials) mounted; replicas prefer nodes other than the
// primary's and each other's.
func podTemplate(db *v1alpha1.Database, e *engineSpec, role, hash string) *corev1ac.PodTemplateSpecApplyConfiguration {
	labels := Labels(db)
	labels[LabelRole] = role
	c := container(db, e, role)
	restore := restoreMount(db, role, c)
	spec := corev1ac.PodSpec().
		WithContainers(c).
		WithVolumes(corev1ac.Volume().WithName(configVolume).
			WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(db.ConfigMapName())))
	if e.bootstrap() {
		spec.WithSecurityContext(corev1ac.PodSecurityContext().
			WithRunAsUser(e.paths.UID).WithRunAsGroup(e.paths.GID).WithFSGroup(e.paths.GID).WithRunAsNonRoot(true).
			WithFSGroupChangePolicy(corev1.FSGroupChangeOnRootMismatch)).
			WithVolumes(corev1ac.Volume().WithName(replicationVolume).
				WithSecret(corev1ac.SecretVolumeSource().WithSecretName(db.ReplicationSecretName()).
					WithOptional(true).WithDefaultMode(0o440)))
	}
	if restore != nil {
		spec.WithVolumes(restore)
	}
	if role == RoleReplica {
		spec.WithAffinity(corev1ac.Affinity().WithPodAntiAffinity(corev1ac.PodAntiAffinity().
			WithPreferredDuringSchedulingIgnoredDuringExecution(
				awayFrom(100, RoleSelectorLabels(db, RolePrimary)),
				awayFrom(50, RoleSelectorLabels(db, RoleReplica)))))
	}
	return corev1ac.PodTemplateSpec().
		WithLabels(labels).
		WithAnnotations(map[string]string{AnnotationConfigHash: hash}).
		WithSpec(spec)
}

// awayFrom prefers, with weight, nodes without a pod that selector matches.
func awayFrom(weight int32, selector map[string]string) *corev1ac.WeightedPodAffinityTermApplyConfiguration {
	return corev1ac.WeightedPodAffinityTerm().WithWeight(weight).WithPodAffinityTerm(corev1ac.PodAffinityTerm().
		WithTopologyKey(corev1.LabelHostname).
		WithLabelSelector(metav1ac.LabelSelector().WithMatchLabels(selector)))
}

// container is the engine's container. An engine with dbctl's bootstrap runs the
// ConfigMap's bootstrap script and readiness script; MySQL runs its image's own
// entrypoint.
func container(db *v1alpha1.Database, e *engineSpec, role string) *corev1ac.ContainerApplyConfiguration {
	c := corev1ac.Container().
		WithName(string(e.name)).
		WithImage(db.Image()).
		WithPorts(corev1ac.ContainerPort().WithName(e.paths.PortName).WithContainerPort(db.Port()).WithProtocol(corev1.ProtocolTCP)).
		WithEnv(e.env(db, role)...).
		WithReadinessProbe(corev1ac.Probe().
			WithExec(corev1ac.ExecAction().WithCommand(e.paths.Readiness...)).
			WithInitialDelaySeconds(5).
			WithPeriodSeconds(10).
			WithTimeoutSeconds(5).
			WithFailureThreshold(3)).
		WithVolumeMounts(
			corev1ac.VolumeMount().WithName(dataVolume).WithMountPath(e.paths.DataMount),
			corev1ac.VolumeMount().WithName(configVolume).WithMountPath(e.paths.ConfigDir).WithReadOnly(true),
		)
	if len(e.paths.Command) > 0 {
		c.WithCommand(e.paths.Command...)
	}
	if len(e.paths.Args) > 0 {
		c.WithArgs(e.paths.Args...)
	}
	if e.bootstrap() {
		c.WithVolumeMounts(corev1ac.VolumeMount().WithName(replicationVolume).WithMountPath(e.paths.ReplicationDir).WithReadOnly(true))
	}
	if res := resources(db.Spec.Resources); res != nil {
		c.WithResources(res)
	}
	return c
}

func resources(r corev1.ResourceRequirements) *corev1ac.ResourceRequirementsApplyConfiguration {
	if len(r.Limits) == 0 && len(r.Requests) == 0 {
		return nil
	}
	ac := corev1ac.ResourceRequirements()
	if len(r.Limits) > 0 {
		ac.WithLimits(r.Limits)
	}
	if len(r.Requests) > 0 {
		ac.WithRequests(r.Requests)
	}
	return ac
}

func buildPDB(db *v1alpha1.Database, _ *engineSpec, _ Inputs) (any, error) {
	return policyv1ac.PodDisruptionBudget(db.PodDisruptionBudgetName(), db.Namespace).
		WithLabels(Labels(db)).
		WithOwnerReferences(OwnerReference(db)).
		WithSpec(policyv1ac.PodDisruptionBudgetSpec().
			WithMaxUnavailable(intstr.FromInt32(1)).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(db)))), nil
}

// verifyDeadline is when Verifying gives up: verifyStartTime + spec.verify.timeout.
func verifyDeadline(db *v1alpha1.Database, now time.Time) time.Time {
	start := now
	if db.Status.VerifyStartTime != nil {
		start = db.Status.VerifyStartTime.Time
	}
	return start.Add(db.VerifyTimeout())
}
