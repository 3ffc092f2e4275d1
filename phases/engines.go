package phases

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// engine is what differs between the engines.
type engine struct {
	name      v1alpha1.Engine
	portName  string
	configKey string // the ConfigMap key and file name
	configDir string // where the ConfigMap is mounted
	dataDir   string // where the data volume is mounted
	uriScheme string
	// bootstrap: the container runs dbctl's bootstrap script from the ConfigMap as
	// uid (the image supplies only the binaries); else the image's entrypoint.
	bootstrap bool
	uid       int64
	command   []string
	args      []string
	env       func(db *v1alpha1.Database, role string) []*corev1ac.EnvVarApplyConfiguration
	probe     []string // readiness probe command
	defaults  map[string]string
	// fixed settings dbctl relies on (the port the Services point at, where the
	// data lives); spec.parameters cannot override them.
	fixed      map[string]string
	renderConf func(params map[string]string) string
}

func engineFor(e v1alpha1.Engine) (*engine, error) {
	switch e {
	case v1alpha1.EnginePostgres:
		return &postgres, nil
	case v1alpha1.EngineMySQL:
		return &mysql, nil
	case v1alpha1.EngineMariaDB:
		return &mariadb, nil
	default:
		return nil, fmt.Errorf("unsupported engine %q (postgres, mysql or mariadb)", e)
	}
}

func secretEnv(name, secret, key string) *corev1ac.EnvVarApplyConfiguration {
	return corev1ac.EnvVar().WithName(name).WithValueFrom(corev1ac.EnvVarSource().
		WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(secret).WithKey(key)))
}

var postgres = engine{
	name:      v1alpha1.EnginePostgres,
	portName:  "postgresql",
	configKey: "postgresql.conf",
	configDir: configDir,
	dataDir:   "/var/lib/postgresql/data",
	uriScheme: "postgresql",
	bootstrap: true,
	uid:       999,
	command:   []string{"bash", configDir + "/bootstrap.sh"},
	env:       bootstrapEnv,
	probe:     []string{"bash", configDir + "/ready.sh"},
	defaults: map[string]string{
		"listen_addresses":        "*",
		"max_connections":         "100",
		"shared_buffers":          "128MB",
		"password_encryption":     "scram-sha-256",
		"log_destination":         "stderr",
		"logging_collector":       "off",
		"unix_socket_directories": "/var/run/postgresql",
	},
	fixed: map[string]string{
		"port":           "5432",
		"data_directory": "/var/lib/postgresql/data/pgdata",
		"hba_file":       "/var/lib/postgresql/data/pgdata/pg_hba.conf",
	},
	// postgresql.conf: name = 'value', single quotes doubled inside values.
	renderConf: func(params map[string]string) string {
		var b strings.Builder
		b.WriteString("# Rendered by dbctl from spec.parameters and dbctl's defaults. Do not edit.\n")
		for _, k := range sortedKeys(params) {
			fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(params[k], "'", "''"))
		}
		return b.String()
	},
}

var mysql = engine{
	name:      v1alpha1.EngineMySQL,
	portName:  "mysql",
	configKey: "my.cnf",
	configDir: "/etc/mysql/conf.d",
	dataDir:   "/var/lib/mysql",
	uriScheme: "mysql",
	env: func(db *v1alpha1.Database, _ string) []*corev1ac.EnvVarApplyConfiguration {
		s := db.SecretName()
		return []*corev1ac.EnvVarApplyConfiguration{
			secretEnv("MYSQL_USER", s, "username"),
			secretEnv("MYSQL_PASSWORD", s, "password"),
			secretEnv("MYSQL_DATABASE", s, "username"),
			corev1ac.EnvVar().WithName("MYSQL_RANDOM_ROOT_PASSWORD").WithValue("yes"),
		}
	},
	probe: []string{"sh", "-c", `exec mysqladmin ping -h 127.0.0.1 -P 3306 --silent`},
	defaults: map[string]string{
		"bind-address":         "0.0.0.0",
		"max_connections":      "151",
		"character-set-server": "utf8mb4",
		"skip-name-resolve":    "ON",
	},
	fixed: map[string]string{
		"port":    "3306",
		"datadir": "/var/lib/mysql",
	},
	// my.cnf: a [mysqld] section of name = value lines.
	renderConf: func(params map[string]string) string {
		var b strings.Builder
		b.WriteString("# Rendered by dbctl from spec.parameters and dbctl's defaults. Do not edit.\n[mysqld]\n")
		for _, k := range sortedKeys(params) {
			fmt.Fprintf(&b, "%s = %s\n", k, params[k])
		}
		return b.String()
	},
}

// mariadb runs dbctl's bootstrap like postgres; its config file is my.cnf.
var mariadb = engine{
	name:      v1alpha1.EngineMariaDB,
	portName:  "mysql",
	configKey: "my.cnf",
	configDir: configDir,
	dataDir:   "/var/lib/mysql",
	uriScheme: "mysql",
	bootstrap: true,
	uid:       999,
	command:   []string{"bash", configDir + "/bootstrap.sh"},
	env:       bootstrapEnv,
	probe:     []string{"bash", configDir + "/ready.sh"},
	defaults:  mysql.defaults,
	fixed: map[string]string{
		"port":    "3306",
		"datadir": "/var/lib/mysql/data",
	},
	renderConf: mysql.renderConf,
}

// Where dbctl's bootstrap engines find their files in the pod.
const (
	// configDir is where the ConfigMap (config, bootstrap and readiness scripts) is mounted.
	configDir = "/etc/dbctl"
	// replicationDir is where the replication Secret is mounted (optional: it
	// exists only with replicas, and appears in a running primary when a scale-up
	// creates it).
	replicationDir = "/etc/dbctl-replication"
)

// bootstrapEnv is the environment of dbctl's bootstrap and readiness scripts: the
// pod's name and role, where the primary is, the application database, user and
// password (from the credentials Secret).
func bootstrapEnv(db *v1alpha1.Database, role string) []*corev1ac.EnvVarApplyConfiguration {
	s := db.SecretName()
	return []*corev1ac.EnvVarApplyConfiguration{
		corev1ac.EnvVar().WithName("POD_NAME").WithValueFrom(corev1ac.EnvVarSource().
			WithFieldRef(corev1ac.ObjectFieldSelector().WithAPIVersion("v1").WithFieldPath("metadata.name"))),
		corev1ac.EnvVar().WithName("DBCTL_ROLE").WithValue(role),
		corev1ac.EnvVar().WithName("DBCTL_PRIMARY_HOST").WithValue(db.PrimaryHost()),
		corev1ac.EnvVar().WithName("DBCTL_PORT").WithValue(fmt.Sprint(db.Port())),
		secretEnv("DBCTL_DATABASE", s, "username"),
		secretEnv("DBCTL_USER", s, "username"),
		secretEnv("DBCTL_PASSWORD", s, "password"),
	}
}

// port is the engine's client port.
func (e *engine) port(db *v1alpha1.Database) int32 { return db.Port() }

// config renders the config file: the engine's defaults overridden by spec.parameters.
func (e *engine) config(db *v1alpha1.Database) string {
	params := make(map[string]string, len(e.defaults)+len(db.Spec.Parameters))
	for k, v := range e.defaults {
		params[k] = v
	}
	for k, v := range db.Spec.Parameters {
		params[k] = string(v)
	}
	for k, v := range e.fixed {
		params[k] = v
	}
	return e.renderConf(params)
}

// uri is the client connection URI to host with the password, stored only in the
// Secret.
func (e *engine) uri(db *v1alpha1.Database, host, password string) string {
	u := url.URL{
		Scheme: e.uriScheme,
		User:   url.UserPassword(db.Username(), password),
		Host:   fmt.Sprintf("%s:%d", host, db.Port()),
		Path:   "/" + db.Username(),
	}
	return u.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
