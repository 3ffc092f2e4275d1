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
	dataVolume   = "data"
	configVolume = "config"
)

func buildStatefulSet(db *v1alpha1.Database, e *engine, _ Inputs) (any, error) {
	hash, err := ConfigHash(db)
	if err != nil {
		return nil, err
	}
	container := corev1ac.Container().
		WithName(string(e.name)).
		WithImage(db.Image()).
		WithArgs(e.args...).
		WithPorts(corev1ac.ContainerPort().WithName(e.portName).WithContainerPort(db.Port()).WithProtocol(corev1.ProtocolTCP)).
		WithEnv(e.env(db)...).
		WithReadinessProbe(corev1ac.Probe().
			WithExec(corev1ac.ExecAction().WithCommand(e.probe...)).
			WithInitialDelaySeconds(5).
			WithPeriodSeconds(10).
			WithTimeoutSeconds(5).
			WithFailureThreshold(3)).
		WithVolumeMounts(
			corev1ac.VolumeMount().WithName(dataVolume).WithMountPath(e.dataDir),
			corev1ac.VolumeMount().WithName(configVolume).WithMountPath(e.configDir).WithReadOnly(true),
		)
	if len(e.args) == 0 {
		container.Args = nil
	}
	if res := resources(db.Spec.Resources); res != nil {
		container.WithResources(res)
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
	return appsv1ac.StatefulSet(db.StatefulSetName(), db.Namespace).
		WithLabels(Labels(db)).
		WithOwnerReferences(OwnerReference(db)).
		WithSpec(appsv1ac.StatefulSetSpec().
			WithReplicas(db.ReplicaCount()).
			WithServiceName(db.HeadlessServiceName()).
			WithPodManagementPolicy(appsv1.ParallelPodManagement).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(db))).
			WithPersistentVolumeClaimRetentionPolicy(appsv1ac.StatefulSetPersistentVolumeClaimRetentionPolicy().
				WithWhenDeleted(appsv1.RetainPersistentVolumeClaimRetentionPolicyType).
				WithWhenScaled(appsv1.RetainPersistentVolumeClaimRetentionPolicyType)).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(Labels(db)).
				WithAnnotations(map[string]string{AnnotationConfigHash: hash}).
				WithSpec(corev1ac.PodSpec().
					WithContainers(container).
					WithVolumes(corev1ac.Volume().WithName(configVolume).
						WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(db.ConfigMapName()))))).
			WithVolumeClaimTemplates(template)), nil
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

func buildPDB(db *v1alpha1.Database, _ *engine, _ Inputs) (any, error) {
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
