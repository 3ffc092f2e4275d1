package load

import (
	"fmt"
	"strings"
)

// AgreementCase is a Database document on the edge of a validation rule, and
// whether dbctl accepts it. The same table is checked against the CRD (offline in
// agreement_test.go, and against a real API server by the e2e tests), so that a
// spec dbctl accepts is one the API server accepts and the other way round.
type AgreementCase struct {
	// Name says which rule and value, e.g. "replicas 0".
	Name string
	// YAML is the whole document, without a namespace.
	YAML string
	// Valid is whether Load accepts it.
	Valid bool
	// StricterThanCRD marks a document dbctl rejects (Valid is false) but the API
	// server accepts, on purpose: a rule the CRD lacks where the spec would make a
	// child object fail later (a storage class that is not a DNS subdomain, a tcp
	// port outside 1..65535), a null value in a
	// map such as parameters (the API server drops it: a forgotten value), or a field a
	// spec file must not set (status, metadata other than name, namespace, labels
	// and annotations). The API server's verdict is Valid || StricterThanCRD.
	StricterThanCRD bool
}

// agreementDoc is a valid minimal Database named name, with lines added to its
// metadata and spec (two-space indented YAML, under "metadata:" and "spec:").
func agreementDoc(name string, metadata, spec []string) string {
	var b strings.Builder
	b.WriteString("apiVersion: dbctl.io/v1alpha1\nkind: Database\nmetadata:\n")
	if name != "" {
		fmt.Fprintf(&b, "  name: %s\n", name)
	}
	for _, l := range metadata {
		b.WriteString("  " + l + "\n")
	}
	b.WriteString("spec:\n")
	defaults := map[string]string{"engine": "engine: postgres", "version": `version: "16"`, "storage": "storage: {size: 1Gi}"}
	for _, key := range []string{"engine", "version", "storage"} {
		overridden := false
		for _, l := range spec {
			if strings.HasPrefix(l, key+":") || l == "-"+key {
				overridden = true
			}
		}
		if !overridden {
			b.WriteString("  " + defaults[key] + "\n")
		}
	}
	for _, l := range spec {
		if !strings.HasPrefix(l, "-") {
			b.WriteString("  " + l + "\n")
		}
	}
	return b.String()
}

// specCase is a case that changes the spec of a valid Database; a line "-engine"
// removes a default line (engine, version, storage).
func specCase(name string, valid bool, spec ...string) AgreementCase {
	return AgreementCase{Name: name, YAML: agreementDoc("db", nil, spec), Valid: valid}
}

func metaCase(name string, valid bool, dbName string, metadata ...string) AgreementCase {
	return AgreementCase{Name: name, YAML: agreementDoc(dbName, metadata, nil), Valid: valid}
}

func stricter(c AgreementCase) AgreementCase {
	c.StricterThanCRD = true
	return c
}

// params is a parameters block with n entries p0..p(n-1).
func params(n int) string {
	entries := make([]string, n)
	for i := range entries {
		entries[i] = fmt.Sprintf("p%d: %q", i, "v")
	}
	return "parameters: {" + strings.Join(entries, ", ") + "}"
}

// deps is a dependencies block with n tcp dependencies d0..d(n-1).
func deps(n int) string {
	entries := make([]string, n)
	for i := range entries {
		entries[i] = fmt.Sprintf("{name: d%d, tcp: 'h:1'}", i)
	}
	return "dependencies: [" + strings.Join(entries, ", ") + "]"
}

// backup is a backup block with schedule (a YAML scalar) and 1Gi of storage.
func backup(schedule string) string {
	return "backup: {schedule: " + schedule + ", storage: {size: 1Gi}}"
}

func dep(fields string) string { return "dependencies: [{name: d, " + fields + "}]" }

// CRDAgreementCases are the edge values of every rule of the CRD and of Validate.
var CRDAgreementCases = []AgreementCase{
	// metadata.name: a DNS-1035 label of at most 51 characters.
	metaCase("name of 1 char", true, "a"),
	metaCase("name of 51 chars", true, "a"+strings.Repeat("b", 50)),
	metaCase("name of 52 chars", false, "a"+strings.Repeat("b", 51)),
	{Name: "name of 44 chars, 3 replicas", YAML: agreementDoc("a"+strings.Repeat("b", 43), nil, []string{"replicas: 3"}), Valid: true},
	{Name: "name of 45 chars, 3 replicas", YAML: agreementDoc("a"+strings.Repeat("b", 44), nil, []string{"replicas: 3"})},
	{Name: "name of 51 chars, 1 replica", YAML: agreementDoc("a"+strings.Repeat("b", 50), nil, []string{"replicas: 1"}), Valid: true},
	{Name: "name of 45 chars, backups", YAML: agreementDoc("a"+strings.Repeat("b", 44), nil, []string{backup(`"0 3 * * *"`)}), Valid: true},
	{Name: "name of 46 chars, backups", YAML: agreementDoc("a"+strings.Repeat("b", 45), nil, []string{backup(`"0 3 * * *"`)})},
	metaCase("name with uppercase", false, "Orders"),
	metaCase("name starting with a digit", false, "1orders"),
	metaCase("name ending with a dash", false, "orders-"),
	metaCase("name with a dot", false, "orders.shop"),
	metaCase("name with unicode", false, "ordérs"),
	metaCase("name missing", false, ""),
	metaCase("labels valid", true, "db", "labels: {app.kubernetes.io/part-of: shop, tier: data}"),
	metaCase("label key with a space", false, "db", "labels: {'a b': x}"),
	metaCase("label value of 64 chars", false, "db", "labels: {a: "+strings.Repeat("x", 64)+"}"),
	metaCase("annotation key invalid", false, "db", "annotations: {'a/b/c': x}"),
	metaCase("annotation with a long value", true, "db", "annotations: {note: "+strings.Repeat("x", 2000)+"}"),
	stricter(metaCase("metadata.finalizers", false, "db", "finalizers: [example.com/x]")),

	// backup: a cron schedule, keep 1..1000, a storage like the data's.
	specCase("backup daily", true, backup(`"0 3 * * *"`)),
	specCase("backup of mysql", false, "engine: mysql", backup(`"0 3 * * *"`)),
	specCase("backup of mariadb", true, "engine: mariadb", backup(`"0 3 * * *"`)),
	specCase("restore into mysql", false, "engine: mysql", "bootstrap: {fromBackup: {database: orders}}"),
	specCase("backup @hourly", true, backup(`"@hourly"`)),
	specCase("backup with a time zone", true, backup(`"CRON_TZ=Europe/Paris 0 3 * * *"`)),
	specCase("backup of four fields", false, backup(`"0 3 * *"`)),
	specCase("backup of six fields", false, backup(`"0 0 3 * * *"`)),
	specCase("backup @fortnightly", false, backup(`"@fortnightly"`)),
	specCase("backup without schedule", false, "backup: {storage: {size: 1Gi}}"),
	specCase("backup keep 1", true, "backup: {schedule: '@daily', keep: 1, storage: {size: 1Gi}}"),
	specCase("backup keep 1000", true, "backup: {schedule: '@daily', keep: 1000, storage: {size: 1Gi}}"),
	specCase("backup keep 1001", false, "backup: {schedule: '@daily', keep: 1001, storage: {size: 1Gi}}"),
	specCase("backup keep -1", false, "backup: {schedule: '@daily', keep: -1, storage: {size: 1Gi}}"),
	specCase("backup storage 0", false, "backup: {schedule: '@daily', storage: {size: '0'}}"),
	specCase("backup without storage", false, "backup: {schedule: '@daily'}"),
	// bootstrap.fromBackup: another Database of the namespace, a file name.
	specCase("restore the latest", true, "bootstrap: {fromBackup: {database: orders}}"),
	specCase("restore a file", true, "bootstrap: {fromBackup: {database: orders, file: orders-20261130T030000Z.dump}}"),
	specCase("restore a path", false, "bootstrap: {fromBackup: {database: orders, file: ../x}}"),
	specCase("restore from an invalid name", false, "bootstrap: {fromBackup: {database: Orders}}"),
	specCase("restore from itself", false, "bootstrap: {fromBackup: {database: db}}"),
	specCase("restore without a source", false, "bootstrap: {fromBackup: {}}"),
	// deletionPolicy: Retain or Delete.
	specCase("deletionPolicy Retain", true, "deletionPolicy: Retain"),
	specCase("deletionPolicy Delete", true, "deletionPolicy: Delete"),
	specCase("deletionPolicy Orphan", false, "deletionPolicy: Orphan"),

	// engine: required, postgres, mysql or mariadb; mysql with one replica only.
	specCase("engine postgres", true, "engine: postgres"),
	specCase("engine mysql", true, "engine: mysql"),
	specCase("engine mariadb", true, "engine: mariadb"),
	specCase("engine mariadb, 3 replicas", true, "engine: mariadb", "replicas: 3"),
	specCase("engine mysql, 3 replicas", false, "engine: mysql", "replicas: 3"),
	specCase("engine mysql, 1 replica", true, "engine: mysql", "replicas: 1"),
	specCase("engine missing", false, "-engine"),
	specCase("engine empty", false, `engine: ""`),
	specCase("engine oracle", false, "engine: oracle"),
	specCase("engine capitalised", false, "engine: Postgres"),

	// version: required, ^[0-9]{1,4}(\.[0-9]{1,4})?$, a string.
	specCase("version 8.4", true, `version: "8.4"`),
	specCase("version 1234.1234", true, `version: "1234.1234"`),
	specCase("version 12345", false, `version: "12345"`),
	specCase("version 16.1.2", false, `version: "16.1.2"`),
	specCase("version v16", false, "version: v16"),
	specCase("version 16 with a newline", false, `version: "16\n"`),
	specCase("version empty", false, `version: ""`),
	specCase("version missing", false, "-version"),
	specCase("version an integer", false, "version: 16"),

	// image: at most 512 characters.
	specCase("image of 512 chars", true, "image: "+strings.Repeat("i", 512)),
	specCase("image of 513 chars", false, "image: "+strings.Repeat("i", 513)),
	specCase("image of 512 two-byte chars", true, "image: "+strings.Repeat("é", 512)),

	// replicas: 1..9.
	specCase("replicas 0", false, "replicas: 0"),
	specCase("replicas 1", true, "replicas: 1"),
	specCase("replicas 9", true, "replicas: 9"),
	specCase("replicas 10", false, "replicas: 10"),
	specCase("replicas -1", false, "replicas: -1"),
	specCase("replicas null", true, "replicas: null"),
	specCase("replicas a string", false, `replicas: "3"`),
	specCase("replicas 1.5", false, "replicas: 1.5"),
	specCase("replicas 2^31", false, "replicas: 2147483648"),
	specCase("replicas 3.0", true, "replicas: 3.0"),
	specCase("replicas 1e400", false, "replicas: 1e400"),
	specCase("replicas 99999999999999999999", false, "replicas: 99999999999999999999"),

	// storage.size: required, a quantity > 0.
	specCase("size 1", true, `storage: {size: "1"}`),
	specCase("size integer 1", true, "storage: {size: 1}"),
	specCase("size 1n", true, "storage: {size: 1n}"),
	specCase("size 500m", true, "storage: {size: 500m}"),
	specCase("size +1Gi", true, "storage: {size: +1Gi}"),
	specCase("size 1e3", true, `storage: {size: "1e3"}`),
	specCase("size 0.0000000001", true, `storage: {size: "0.0000000001"}`),
	specCase("size 1e400 plain", false, "storage: {size: 1e400}"),
	specCase("size 8Ei", false, "storage: {size: 8Ei}"),
	specCase("size 7Ei", true, "storage: {size: 7Ei}"),
	specCase("size 1gi", false, "storage: {size: 1gi}"),
	specCase("size 0", false, `storage: {size: "0"}`),
	specCase("size integer 0", false, "storage: {size: 0}"),
	specCase("size 0Gi", false, "storage: {size: 0Gi}"),
	specCase("size -1Gi", false, "storage: {size: -1Gi}"),
	specCase("size 1.5 as a number", false, "storage: {size: 1.5}"),
	specCase("size abc", false, "storage: {size: abc}"),
	specCase("size 1 GB", false, `storage: {size: "1 GB"}`),
	specCase("size missing", false, "storage: {storageClassName: fast}"),
	specCase("storage missing", false, "-storage"),

	// storage.storageClassName: at most 253 characters (dbctl: a DNS subdomain).
	specCase("storage class fast", true, "storage: {size: 1Gi, storageClassName: fast}"),
	specCase("storage class empty", true, `storage: {size: 1Gi, storageClassName: ""}`),
	specCase("storage class of 253 chars", true, "storage: {size: 1Gi, storageClassName: "+strings.Repeat("s", 253)+"}"),
	specCase("storage class of 254 chars", false, "storage: {size: 1Gi, storageClassName: "+strings.Repeat("s", 254)+"}"),
	stricter(specCase("storage class not a DNS subdomain", false, "storage: {size: 1Gi, storageClassName: Fast_SSD}")),

	// resources: quantities; claims a list map keyed by a required name.
	specCase("resources valid", true, "resources: {limits: {cpu: '2', memory: 1Gi}, requests: {cpu: 500m}}"),
	specCase("resources integer", true, "resources: {limits: {cpu: 2}}"),
	specCase("resources bad quantity", false, "resources: {limits: {cpu: two}}"),
	specCase("resources a float", false, "resources: {requests: {cpu: 0.5}}"),
	specCase("resources claim without name", false, "resources: {claims: [{request: r}]}"),
	specCase("resources claims duplicated", false, "resources: {claims: [{name: a}, {name: a}]}"),

	// parameters: at most 64, names ^[a-zA-Z_][a-zA-Z0-9_.-]{0,62}$, values one
	// line of at most 1024 characters.
	specCase("parameters 64", true, params(64)),
	specCase("parameters 65", false, params(65)),
	specCase("parameter name with dots and dashes", true, `parameters: {innodb.buffer-pool_size: "1G"}`),
	specCase("parameter name of 63 chars", true, "parameters: {"+strings.Repeat("p", 63)+": v}"),
	specCase("parameter name of 64 chars", false, "parameters: {"+strings.Repeat("p", 64)+": v}"),
	specCase("parameter name starting with a digit", false, "parameters: {1p: v}"),
	specCase("parameter name with a space", false, "parameters: {'p q': v}"),
	specCase("parameter value of 1024 chars", true, "parameters: {p: "+strings.Repeat("v", 1024)+"}"),
	specCase("parameter value of 1025 chars", false, "parameters: {p: "+strings.Repeat("v", 1025)+"}"),
	specCase("parameter value of 1024 two-byte chars", true, "parameters: {p: "+strings.Repeat("é", 1024)+"}"),
	specCase("parameter value with LF", false, `parameters: {p: "a\nb"}`),
	specCase("parameter value with CR", false, `parameters: {p: "a\rb"}`),
	specCase("parameter value empty", true, `parameters: {p: ""}`),
	specCase("parameter value an integer", false, "parameters: {max_connections: 200}"),
	stricter(specCase("parameter value null", false, "parameters: {p: null}")),
	specCase("parameters null", true, "parameters: null"),

	// credentials.username: ^[a-z_][a-z0-9_]{0,31}$.
	specCase("username app_1", true, "credentials: {username: app_1}"),
	specCase("username of 32 chars", true, "credentials: {username: "+strings.Repeat("u", 32)+"}"),
	specCase("username of 33 chars", false, "credentials: {username: "+strings.Repeat("u", 33)+"}"),
	specCase("username uppercase", false, "credentials: {username: App}"),
	specCase("username replicator", false, "credentials: {username: replicator}"),
	specCase("username postgres", false, "credentials: {username: postgres}"),
	specCase("username root", false, "credentials: {username: root}"),
	specCase("username replicator2", true, "credentials: {username: replicator2}"),
	specCase("username starting with a digit", false, "credentials: {username: 1app}"),
	specCase("username empty", false, `credentials: {username: ""}`),
	specCase("credentials empty", true, "credentials: {}"),

	// dependencies: at most 16, unique names, exactly one of url and tcp.
	specCase("dependencies 16", true, deps(16)),
	specCase("dependencies 17", false, deps(17)),
	specCase("dependencies with the same name", false, "dependencies: [{name: a, tcp: 'h:1'}, {name: a, tcp: 'h:2'}]"),
	specCase("dependency name of 63 chars", true, "dependencies: [{name: "+strings.Repeat("n", 63)+", tcp: 'h:1'}]"),
	specCase("dependency name starting with a digit", true, "dependencies: [{name: 1a, tcp: 'h:1'}]"),
	specCase("dependency name of 64 chars", false, "dependencies: [{name: "+strings.Repeat("n", 64)+", tcp: 'h:1'}]"),
	specCase("dependency name uppercase", false, "dependencies: [{name: Store, tcp: 'h:1'}]"),
	specCase("dependency name missing", false, "dependencies: [{tcp: 'h:1'}]"),
	specCase("dependency null", false, "dependencies: [null]"),
	specCase("dependency with url and tcp", false, dep("url: 'https://h', tcp: 'h:1'")),
	specCase("dependency with neither url nor tcp", false, dep("timeout: 5s")),
	specCase("dependency url https", true, dep("url: 'https://backup.internal/healthz'")),
	specCase("dependency url with userinfo and port", true, dep("url: 'http://u:p@h:8080/x?y=1'")),
	specCase("dependency url scheme uppercase", true, dep("url: 'HTTPS://h'")),
	specCase("dependency url ftp", false, dep("url: 'ftp://h'")),
	specCase("dependency url without scheme", false, dep("url: 'h/healthz'")),
	specCase("dependency url without host", false, dep("url: 'https:///x'")),
	specCase("dependency url with only a port", false, dep("url: 'http://:80'")),
	specCase("dependency url with a fragment", true, dep("url: 'http://h/x#y'")),
	specCase("dependency url with port 99999", true, dep("url: 'http://h:99999'")),
	specCase("dependency url with a space", true, dep("url: 'http://h/a b'")),
	specCase("dependency url of 2049 chars", false, dep("url: 'http://h/"+strings.Repeat("x", 2041)+"'")),
	specCase("dependency url empty with tcp", false, dep("url: '', tcp: 'h:1'")),
	specCase("dependency tcp host:port", true, dep("tcp: 'db.example.com:5432'")),
	specCase("dependency tcp port 65535", true, dep("tcp: 'h:65535'")),
	specCase("dependency tcp without port", false, dep("tcp: h")),
	specCase("dependency tcp starting with a dash", false, dep("tcp: '-h:1'")),
	specCase("dependency tcp with a scheme", false, dep("tcp: 'tcp://h:1'")),
	specCase("dependency tcp IPv6", false, dep("tcp: '[::1]:5432'")),
	specCase("dependency tcp IPv4", true, dep("tcp: '10.0.0.1:5432'")),
	stricter(specCase("dependency tcp port 0", false, dep("tcp: 'h:0'"))),
	stricter(specCase("dependency tcp port 65536", false, dep("tcp: 'h:65536'"))),
	specCase("dependency timeout 1ms", true, dep("tcp: 'h:1', timeout: 1ms")),
	specCase("dependency timeout 0s", false, dep("tcp: 'h:1', timeout: 0s")),
	specCase("dependency timeout -1s", false, dep("tcp: 'h:1', timeout: -1s")),
	specCase("dependency timeout without unit", false, dep("tcp: 'h:1', timeout: '5'")),
	specCase("dependency timeout an integer", false, dep("tcp: 'h:1', timeout: 5")),
	specCase("dependency timeout 1h30m", true, dep("tcp: 'h:1', timeout: 1h30m")),
	specCase("dependency timeout 0", false, dep("tcp: 'h:1', timeout: '0'")),
	specCase("dependency timeout 1d", false, dep("tcp: 'h:1', timeout: 1d")),
	specCase("dependency timeout null", true, dep("tcp: 'h:1', timeout: null")),

	// verify.timeout: a positive duration.
	specCase("verify timeout 1h", true, "verify: {timeout: 1h}"),
	specCase("verify timeout 0s", false, "verify: {timeout: 0s}"),
	specCase("verify timeout abc", false, "verify: {timeout: abc}"),

	// structure
	specCase("unknown spec field", false, "replica: 3"),
	specCase("unknown nested field", false, "storage: {size: 1Gi, class: fast}"),
	stricter(AgreementCase{Name: "status set", YAML: agreementDoc("db", nil, nil) + "status: {phase: Ready}\n"}),
}
