package phases

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// Provisioning writes the credentials Secret and the two Services, then moves to
// Configuring. If the Secret is gone while the data (the StatefulSet or its PVCs)
// is still there, the Database goes Failed: a new password over old data would lock
// the application out, so a person must restore the Secret.
func provisioning(db *v1alpha1.Database, obs *Observation) Decision {
	s := newStep(db, obs)
	if msg, missing := credentialsLost(db, obs); missing {
		s.cond(v1alpha1.ConditionProvisioned, false, v1alpha1.ReasonCredentialsMissing, msg)
		return s.fail(v1alpha1.ReasonCredentialsMissing, msg)
	}
	s.cond(v1alpha1.ConditionProvisioned, true, v1alpha1.ReasonReconciled, "credentials Secret and Services applied")
	s.progress(v1alpha1.ReasonProgressing, "Configuring: rendering the engine configuration")
	return s.move(v1alpha1.PhaseConfiguring, "apply the credentials Secret and the Services", v1alpha1.PhaseProvisioning)
}

// credentialsLost reports a missing credentials Secret while data exists.
func credentialsLost(db *v1alpha1.Database, obs *Observation) (string, bool) {
	sec := obs.Child(Ref{Kind: KindSecret, Name: db.SecretName()})
	if sec == nil || sec.Exists || !obs.DataExists {
		return "", false
	}
	return fmt.Sprintf("the credentials Secret %s/%s is missing but the data still exists "+
		"(StatefulSet %s or PVCs data-%s-*): restore the Secret from your backup, then run dbctl reconcile again; "+
		"dbctl never generates a new password over existing data", db.Namespace, db.SecretName(),
		db.StatefulSetName(), db.Name), true
}

// PasswordBytes is the amount of randomness in a generated password.
const PasswordBytes = 32

// NewPassword returns a password of PasswordBytes random bytes from crypto/rand,
// base64url-encoded (43 characters, safe in URIs and config files).
func NewPassword() (string, error) {
	b := make([]byte, PasswordBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// buildSecret is the credentials Secret: the application user's password (never
// regenerated) and where to connect: host and uri the primary (read-write), and
// with replicas ro-host and ro-uri the replicas (read-only).
func buildSecret(db *v1alpha1.Database, e *engineSpec, in Inputs) (any, error) {
	data := map[string][]byte{
		"username": []byte(db.Username()),
		"password": []byte(in.Password),
		"host":     []byte(db.Host()),
		"port":     []byte(fmt.Sprint(db.Port())),
		"uri":      []byte(e.uri(db, db.Host(), in.Password)),
	}
	if db.Replicated() {
		data["ro-host"] = []byte(db.ReadOnlyHost())
		data["ro-uri"] = []byte(e.uri(db, db.ReadOnlyHost(), in.Password))
	}
	return withKeyOwner(corev1ac.Secret(db.SecretName(), db.Namespace).WithLabels(Labels(db)), db).
		WithType(corev1.SecretTypeOpaque).
		WithData(data), nil
}

// buildReplicationSecret is the replication user's Secret: its own password,
// generated once like the application's.
func buildReplicationSecret(db *v1alpha1.Database, _ *engineSpec, in Inputs) (any, error) {
	return withKeyOwner(corev1ac.Secret(db.ReplicationSecretName(), db.Namespace).WithLabels(Labels(db)), db).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{
			"username": []byte(v1alpha1.ReplicationUsername),
			"password": []byte(in.ReplicationPassword),
		}), nil
}

// withKeyOwner gives a Secret its owner reference only with deletionPolicy Delete:
// with Retain (the default) deleting the Database leaves its keys, which a
// Database created again under the name adopts (a Secret without an owner).
func withKeyOwner(s *corev1ac.SecretApplyConfiguration, db *v1alpha1.Database) *corev1ac.SecretApplyConfiguration {
	if db.Retained() {
		return s
	}
	return s.WithOwnerReferences(OwnerReference(db))
}

// KeptOwned reports whether live, a child the Database keeps when it is deleted
// (deletionPolicy Retain: the Secrets), still has the Database's owner reference
// (written by an earlier dbctl, or under Delete): the garbage collector would
// delete it with the Database, so it is disowned.
func KeptOwned(db *v1alpha1.Database, kind string, live metav1.Object) bool {
	return kind == KindSecret && db.Retained() && live != nil && IsOwnedBy(live, db)
}

func servicePort(db *v1alpha1.Database, e *engineSpec) *corev1ac.ServicePortApplyConfiguration {
	return corev1ac.ServicePort().
		WithName(e.paths.PortName).
		WithPort(db.Port()).
		WithTargetPort(intstr.FromString(e.paths.PortName)).
		WithProtocol(corev1.ProtocolTCP)
}

func buildHeadlessService(db *v1alpha1.Database, e *engineSpec, _ Inputs) (any, error) {
	return corev1ac.Service(db.HeadlessServiceName(), db.Namespace).
		WithLabels(Labels(db)).
		WithOwnerReferences(OwnerReference(db)).
		WithSpec(corev1ac.ServiceSpec().
			WithClusterIP(corev1.ClusterIPNone).
			WithPublishNotReadyAddresses(true).
			WithSelector(SelectorLabels(db)).
			WithPorts(servicePort(db, e))), nil
}

// buildService is the read-write endpoint: the primary pod only.
func buildService(db *v1alpha1.Database, e *engineSpec, _ Inputs) (any, error) {
	return clusterService(db, e, db.ServiceName(), RolePrimary), nil
}

// buildReadOnlyService is the read-only endpoint: the replica pods only.
func buildReadOnlyService(db *v1alpha1.Database, e *engineSpec, _ Inputs) (any, error) {
	return clusterService(db, e, db.ReadOnlyServiceName(), RoleReplica), nil
}

func clusterService(db *v1alpha1.Database, e *engineSpec, name, role string) *corev1ac.ServiceApplyConfiguration {
	return corev1ac.Service(name, db.Namespace).
		WithLabels(Labels(db)).
		WithOwnerReferences(OwnerReference(db)).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(RoleSelectorLabels(db, role)).
			WithPorts(servicePort(db, e)))
}
