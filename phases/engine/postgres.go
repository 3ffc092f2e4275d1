package engine

import (
	"fmt"
	"strconv"
	"strings"
)

// PostgresReplicationGroup is the role every replication user is a member of:
// pg_hba.conf allows replication connections to its members only, whatever the
// replication Secret's username is.
const PostgresReplicationGroup = "dbctl_replication"

// postgresDefaults are dbctl's defaults; spec.parameters override them.
func postgresDefaults(in Input) map[string]string {
	return map[string]string{
		"log_destination":       "stderr",
		"logging_collector":     "off",
		"max_connections":       "100",
		"max_replication_slots": "10",
		"max_wal_senders":       "10",
		"shared_buffers":        "128MB",
		"wal_level":             "replica",
	}
}

// postgresFixed are the settings dbctl relies on; spec.parameters cannot change
// them (the Services' port, the mounts, authentication, hot standby).
func postgresFixed() []setting {
	return []setting{
		{"listen_addresses", "*"},
		{"port", "5432"},
		{"unix_socket_directories", "/var/run/postgresql"},
		{"data_directory", "/var/lib/postgresql/data/pgdata"},
		{"hba_file", ConfigDir + "/" + FilePostgresHBA},
		{"ident_file", ConfigDir + "/" + FilePostgresIdent},
		{"password_encryption", "scram-sha-256"},
		{"hot_standby", "on"},
	}
}

// walKeepMB is the default max_slot_wal_keep_size: a quarter of the volume, at
// least one 16MB WAL segment, so that a replica that is gone for good cannot
// fill the primary's disk with WAL kept for its slot. It is in storage.conf, which
// ConfigHash does not cover: growing the volumes does not restart the servers (the
// larger bound applies at their next start).
func walKeepMB(in Input) string {
	mb := in.StorageSize.Value() / 4 / (1 << 20)
	return strconv.FormatInt(max(mb, 16), 10)
}

func postgresFiles(in Input) (map[string]string, error) {
	if in.StorageSize.Sign() <= 0 {
		return nil, fmt.Errorf("postgres: the storage size must be positive, got %s", in.StorageSize.String())
	}
	conf, err := postgresConf(in)
	if err != nil {
		return nil, err
	}
	return withScripts(Postgres, map[string]string{
		FilePostgresConf:    conf,
		FilePostgresStorage: postgresStorageConf(in),
		FilePostgresHBA:     postgresHBA,
		FilePostgresIdent:   postgresIdent,
	})
}

// postgresStorageConf holds the settings derived from the volume size, included
// first by postgresql.conf (so that spec.parameters override them there).
func postgresStorageConf(in Input) string {
	return "# Rendered by dbctl from spec.storage.size (read at the server's start). Do not edit.\n" +
		"max_slot_wal_keep_size = " + pgQuote(walKeepMB(in)+"MB") + "\n"
}

func postgresConf(in Input) (string, error) {
	params := postgresDefaults(in)
	fixed := map[string]bool{}
	for _, f := range postgresFixed() {
		fixed[f.name] = true
	}
	for _, k := range sortedKeys(in.Parameters) {
		name := strings.ToLower(k) // PostgreSQL setting names are case-insensitive
		if !fixed[name] {
			params[name] = in.Parameters[k]
		}
	}
	if l := strings.ToLower(params["wal_level"]); l != "replica" && l != "logical" {
		return "", fmt.Errorf("postgres: wal_level %q would break streaming replication: use replica or logical", params["wal_level"])
	}
	var b strings.Builder
	b.WriteString("# Rendered by dbctl from spec.parameters over dbctl's defaults. Do not edit.\n")
	fmt.Fprintf(&b, "include_if_exists %s\n", pgQuote(ConfigDir+"/"+FilePostgresStorage))
	for _, k := range sortedKeys(params) {
		fmt.Fprintf(&b, "%s = %s\n", k, pgQuote(params[k]))
	}
	b.WriteString("\n# Fixed by dbctl: the port, paths, authentication and hot standby it relies on.\n")
	for _, f := range postgresFixed() {
		fmt.Fprintf(&b, "%s = %s\n", f.name, pgQuote(f.value))
	}
	return b.String(), nil
}

// pgQuote writes a postgresql.conf string: single quotes doubled, backslashes
// escaped (the config file parser reads C-style escapes in quoted values).
func pgQuote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(v) + "'"
}

const postgresHBA = `# Rendered by dbctl. Do not edit.
# TYPE  DATABASE     USER                ADDRESS  METHOD
# The unix socket: the server's own OS user (postgres) only, for the bootstrap,
# the readiness probe and kubectl exec.
local   all          postgres                     peer
# Streaming replication: members of ` + PostgresReplicationGroup + ` only (the replication
# Secret's user), and they may do nothing else.
host    replication  +` + PostgresReplicationGroup + `  all      scram-sha-256
host    all          +` + PostgresReplicationGroup + `  all      reject
# Every other TCP connection, loopback included, needs a password.
host    all          all                 all      scram-sha-256
`

const postgresIdent = `# Rendered by dbctl. Do not edit.
# No user name maps: the unix socket allows the server's own OS user only.
`
