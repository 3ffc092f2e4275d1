package phases

import (
	"fmt"
	"net/url"

	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases/engine"
)

// engineSpec is what differs between the engines, as far as the children are
// concerned; what runs inside the pods (config files, scripts, paths) is package
// engine's.
type engineSpec struct {
	name      v1alpha1.Engine
	uriScheme string
	// paths are where things are in the engine's pods.
	paths engine.Paths
	// env is the container's environment for a pod of role.
	env func(db *v1alpha1.Database, role string) []*corev1ac.EnvVarApplyConfiguration
}

// bootstrap reports whether the container runs dbctl's bootstrap script (postgres,
// mariadb), not the image's entrypoint (mysql).
func (e *engineSpec) bootstrap() bool { return e.paths.ReplicationDir != "" }

func engineFor(name v1alpha1.Engine) (*engineSpec, error) {
	paths, err := engine.Layout(engine.Name(name))
	if err != nil {
		return nil, err
	}
	e := &engineSpec{name: name, uriScheme: "mysql", paths: paths, env: bootstrapEnv}
	switch name {
	case v1alpha1.EnginePostgres:
		e.uriScheme = "postgresql"
	case v1alpha1.EngineMySQL:
		e.env = mysqlEnv
	}
	return e, nil
}

// files are the ConfigMap's data for db: the server config, and the bootstrap and
// readiness scripts (package engine).
func files(db *v1alpha1.Database) (map[string]string, error) {
	return engine.Files(engineInput(db))
}

func engineInput(db *v1alpha1.Database) engine.Input {
	params := make(map[string]string, len(db.Spec.Parameters))
	for k, v := range db.Spec.Parameters {
		params[k] = string(v)
	}
	in := engine.Input{Engine: engine.Name(db.Spec.Engine), Parameters: params, StorageSize: db.Spec.Storage.Size}
	if b := db.Spec.Backup; b != nil {
		in.Backup = &engine.BackupInput{Keep: int(b.Keep)}
	}
	if b := db.Spec.Bootstrap; b != nil && b.FromBackup != nil {
		in.Restore = &engine.RestoreInput{File: b.FromBackup.File}
	}
	return in
}

func secretEnv(name, secret, key string) *corev1ac.EnvVarApplyConfiguration {
	return corev1ac.EnvVar().WithName(name).WithValueFrom(corev1ac.EnvVarSource().
		WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(secret).WithKey(key)))
}

// bootstrapEnv is the environment of dbctl's bootstrap and readiness scripts (the
// contract of package engine): the pod's name and role, where the primary is, the
// application database, user and password (from the credentials Secret, so that a
// Secret change does not touch the pod template).
func bootstrapEnv(db *v1alpha1.Database, role string) []*corev1ac.EnvVarApplyConfiguration {
	s := db.SecretName()
	return []*corev1ac.EnvVarApplyConfiguration{
		corev1ac.EnvVar().WithName(engine.EnvPodName).WithValueFrom(corev1ac.EnvVarSource().
			WithFieldRef(corev1ac.ObjectFieldSelector().WithAPIVersion("v1").WithFieldPath("metadata.name"))),
		corev1ac.EnvVar().WithName(engine.EnvRole).WithValue(role),
		corev1ac.EnvVar().WithName(engine.EnvPrimaryHost).WithValue(db.PrimaryHost()),
		corev1ac.EnvVar().WithName(engine.EnvPort).WithValue(fmt.Sprint(db.Port())),
		secretEnv(engine.EnvDatabase, s, "username"),
		secretEnv(engine.EnvUser, s, "username"),
		secretEnv(engine.EnvPassword, s, "password"),
	}
}

// mysqlEnv is the official MySQL image entrypoint's environment: one instance.
func mysqlEnv(db *v1alpha1.Database, _ string) []*corev1ac.EnvVarApplyConfiguration {
	s := db.SecretName()
	return []*corev1ac.EnvVarApplyConfiguration{
		secretEnv("MYSQL_USER", s, "username"),
		secretEnv("MYSQL_PASSWORD", s, "password"),
		secretEnv("MYSQL_DATABASE", s, "username"),
		corev1ac.EnvVar().WithName("MYSQL_RANDOM_ROOT_PASSWORD").WithValue("yes"),
	}
}

// uri is the client connection URI to host with the password, stored only in the
// Secret.
func (e *engineSpec) uri(db *v1alpha1.Database, host, password string) string {
	u := url.URL{
		Scheme: e.uriScheme,
		User:   url.UserPassword(db.Username(), password),
		Host:   fmt.Sprintf("%s:%d", host, db.Port()),
		Path:   "/" + db.Username(),
	}
	return u.String()
}
