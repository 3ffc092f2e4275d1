package phases

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// engine is what differs between PostgreSQL and MySQL.
type engine struct {
	name      v1alpha1.Engine
	portName  string
	configKey string // the ConfigMap key and file name
	configDir string // where the ConfigMap is mounted
	dataDir   string // where the data volume is mounted
	uriScheme string
	args      []string
	env       func(db *v1alpha1.Database) []*corev1ac.EnvVarApplyConfiguration
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
	default:
		return nil, fmt.Errorf("unsupported engine %q (postgres or mysql)", e)
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
	configDir: "/etc/postgresql/dbctl",
	dataDir:   "/var/lib/postgresql/data",
	uriScheme: "postgresql",
	args:      []string{"-c", "config_file=/etc/postgresql/dbctl/postgresql.conf"},
	env: func(db *v1alpha1.Database) []*corev1ac.EnvVarApplyConfiguration {
		s := db.SecretName()
		return []*corev1ac.EnvVarApplyConfiguration{
			secretEnv("POSTGRES_USER", s, "username"),
			secretEnv("POSTGRES_PASSWORD", s, "password"),
			secretEnv("POSTGRES_DB", s, "username"),
			corev1ac.EnvVar().WithName("PGDATA").WithValue("/var/lib/postgresql/data/pgdata"),
		}
	},
	probe: []string{"sh", "-c", `exec pg_isready -h 127.0.0.1 -p 5432 -U "$POSTGRES_USER"`},
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
	env: func(db *v1alpha1.Database) []*corev1ac.EnvVarApplyConfiguration {
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

// uri is the client connection URI with the password, stored only in the Secret.
func (e *engine) uri(db *v1alpha1.Database, password string) string {
	u := url.URL{
		Scheme: e.uriScheme,
		User:   url.UserPassword(db.Username(), password),
		Host:   fmt.Sprintf("%s:%d", db.Host(), db.Port()),
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
