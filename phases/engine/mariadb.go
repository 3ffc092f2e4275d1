package engine

import (
	"fmt"
	"strings"
)

// mariadbDefaults are dbctl's defaults; spec.parameters override them.
func mariadbDefaults() map[string]string {
	return map[string]string{
		"binlog_expire_logs_seconds": "604800", // a replica may be away for a week and resume
		"character_set_server":       "utf8mb4",
		"collation_server":           "utf8mb4_unicode_ci",
		// The application (not SUPER) may create triggers and routines with the
		// binary log on: safe with the fixed ROW format.
		"log_bin_trust_function_creators": "ON",
		"master_retry_count":              "4294967295", // a replica keeps retrying a primary that is away (default: gives up after ~6 days)
		"max_connections":                 "151",
		"relay_log_recovery":              "ON", // a replica that crashed fetches its relay log again
		"sync_binlog":                     "1",
	}
}

// mariadbFixed are the settings dbctl relies on; spec.parameters cannot change
// them (the Services' port, the mounts, GTID replication, '%' accounts).
func mariadbFixed() []setting {
	return []setting{
		{"bind_address", "0.0.0.0"},
		{"port", "3306"},
		{"datadir", "/var/lib/mysql/data"},
		{"socket", "/run/mysqld/mysqld.sock"},
		{"pid_file", "/run/mysqld/mysqld.pid"},
		{"log_bin", "mariadb-bin"},
		{"relay_log", "mariadb-relay-bin"},
		{"binlog_format", "ROW"},
		{"log_slave_updates", "ON"},
		{"gtid_strict_mode", "ON"},
		{"skip_name_resolve", "ON"},
	}
}

// mariadbPerPod are set by the bootstrap script on the server's command line
// (role- and pod-specific); spec.parameters cannot set them either.
func mariadbPerPod() []string { return []string{"server_id", "read_only", "skip_slave_start"} }

// mariadbOptionName is the canonical form of a server option name: MariaDB reads
// dashes and underscores alike, ignores case, and takes loose-, skip-, disable-,
// enable- and maximum- prefixes on any option.
func mariadbOptionName(k string) string {
	n := strings.ReplaceAll(strings.ToLower(k), "-", "_")
	n = strings.TrimPrefix(n, "loose_")
	for _, p := range []string{"skip_", "disable_", "enable_", "maximum_"} {
		if base, ok := strings.CutPrefix(n, p); ok && mariadbReserved(base) {
			return base
		}
	}
	return n
}

func mariadbReserved(name string) bool {
	for _, f := range mariadbFixed() {
		if f.name == name || f.name == "skip_"+name {
			return true
		}
	}
	for _, p := range mariadbPerPod() {
		if p == name {
			return true
		}
	}
	return false
}

func mariadbFiles(in Input) (map[string]string, error) {
	return withScripts(MariaDB, map[string]string{FileMyCnf: mariadbConf(in.Parameters)})
}

func mariadbConf(user map[string]string) string {
	params := mariadbDefaults()
	for _, k := range sortedKeys(user) {
		if name := mariadbOptionName(k); !mariadbReserved(name) {
			params[name] = user[k]
		}
	}
	var b strings.Builder
	b.WriteString("# Rendered by dbctl from spec.parameters over dbctl's defaults. Do not edit.\n")
	b.WriteString("# server_id and read_only are per pod: the bootstrap script sets them on the command line.\n")
	b.WriteString("[mysqld]\n")
	for _, k := range sortedKeys(params) {
		fmt.Fprintf(&b, "%s = %s\n", k, params[k])
	}
	b.WriteString("\n# Fixed by dbctl: the port, paths and replication settings it relies on.\n")
	for _, f := range mariadbFixed() {
		fmt.Fprintf(&b, "%s = %s\n", f.name, f.value)
	}
	return b.String()
}

// mysqlConf is the mysql engine's my.cnf, byte for byte what dbctl rendered before
// this package (the official image's entrypoint runs a single instance).
func mysqlConf(user map[string]string) string {
	params := map[string]string{
		"bind-address":         "0.0.0.0",
		"max_connections":      "151",
		"character-set-server": "utf8mb4",
		"skip-name-resolve":    "ON",
	}
	for k, v := range user {
		params[k] = v
	}
	params["port"] = "3306"
	params["datadir"] = "/var/lib/mysql"
	var b strings.Builder
	b.WriteString("# Rendered by dbctl from spec.parameters and dbctl's defaults. Do not edit.\n[mysqld]\n")
	for _, k := range sortedKeys(params) {
		fmt.Fprintf(&b, "%s = %s\n", k, params[k])
	}
	return b.String()
}
