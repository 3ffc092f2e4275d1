package load

import (
	"strings"
	"testing"
)

// base is mysqlMinimal: 9 lines, so a line appended to its spec is line 10.
const base = mysqlMinimal

func withSpec(lines ...string) string {
	return base + "  " + strings.Join(lines, "\n  ") + "\n"
}

func TestLoadBad(t *testing.T) {
	aliasBomb := "a: &a [x, x, x, x, x, x, x, x, x]\n"
	for _, l := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		prev := string(rune(l[0] - 1))
		aliasBomb += l + ": &" + l + " [" + strings.Repeat("*"+prev+", ", 8) + "*" + prev + "]\n"
	}
	tests := map[string]struct {
		files map[string]string
		paths []string // default: bad.yaml
		stdin string
		opts  Options
		want  string
	}{
		"YAML syntax error": {
			files: map[string]string{"bad.yaml": base + "  replicas: [1, 2\n"},
			want:  "bad.yaml:10: document 1: invalid YAML: did not find expected ',' or ']'",
		},
		"wrong kind": {
			files: map[string]string{"bad.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"},
			want:  "bad.yaml:2: document 1: kind: must be Database, got string \"Deployment\" (apiVersion \"apps/v1\"): dbctl reads only Database objects",
		},
		"wrong apiVersion": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "v1alpha1", "v1beta1", 1)},
			want:  "bad.yaml:1: document 1: apiVersion: must be dbctl.io/v1alpha1, got string \"dbctl.io/v1beta1\"",
		},
		"missing kind": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "kind: Database\n", "", 1)},
			want:  "bad.yaml:1: document 1: kind: required: Database",
		},
		"unknown top-level field": {
			files: map[string]string{"bad.yaml": base + "extra: 1\n"},
			want:  "bad.yaml:10: document 1: extra: unknown field",
		},
		"unknown spec field": {
			files: map[string]string{"bad.yaml": withSpec("replica: 3")},
			want:  "bad.yaml:10: document 1: spec.replica: unknown field",
		},
		"unknown nested field": {
			files: map[string]string{"bad.yaml": withSpec("dependencies:", "- name: a", "  tcp: 'h:1'", "  timeot: 5s")},
			want:  "bad.yaml:13: document 1: spec.dependencies[0].timeot: unknown field",
		},
		"field with the wrong case": {
			files: map[string]string{"bad.yaml": withSpec("Replicas: 3")},
			want:  "bad.yaml:10: document 1: spec.Replicas: unknown field",
		},
		"metadata field not allowed": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "  name: ledger\n", "  name: ledger\n  resourceVersion: \"1\"\n", 1)},
			want:  "bad.yaml:5: document 1: metadata.resourceVersion: not allowed in a Database file: metadata may only have name, namespace, labels and annotations",
		},
		"status in the file": {
			files: map[string]string{"bad.yaml": base + "status:\n  phase: Ready\n"},
			want:  "bad.yaml:10: document 1: status: status is set by dbctl; remove it",
		},
		"duplicate key": {
			files: map[string]string{"bad.yaml": withSpec("replicas: 2", "replicas: 3")},
			want:  "bad.yaml:11: document 1: spec.replicas: duplicate key (first at line 10)",
		},
		"replicas a word": {
			files: map[string]string{"bad.yaml": withSpec("replicas: three")},
			want:  "bad.yaml:10: document 1: spec.replicas: must be an integer, got string \"three\"",
		},
		"version a number": {
			files: map[string]string{"bad.yaml": strings.Replace(base, `"8.4"`, "8.4", 1)},
			want:  "bad.yaml:7: document 1: spec.version: must be a string, got number 8.4 (quote it)",
		},
		"parameter value a number is not shown": {
			files: map[string]string{"bad.yaml": withSpec("parameters: {max_connections: 1234567}")},
			want:  "bad.yaml:10: document 1: spec.parameters[max_connections]: must be a string, got integer (quote it; value redacted)",
		},
		"storage a string": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "  storage:\n    size: 1Gi\n", "  storage: 1Gi\n", 1)},
			want:  "bad.yaml:8: document 1: spec.storage: must be an object, got string \"1Gi\"",
		},
		"name of 52 characters": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "ledger", "a"+strings.Repeat("b", 51), 1)},
			want:  "bad.yaml:4: document 1: metadata.name: must be at most 51 characters so that every child name (<name>-credentials, <name>-headless, pods, PVCs data-<name>-<ordinal>) is a valid DNS label, got 52",
		},
		"name with uppercase": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "ledger", "Ledger", 1)},
			want:  "bad.yaml:4: document 1: metadata.name: must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit), got \"Ledger\"",
		},
		"name with unicode": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "ledger", "lédger", 1)},
			want:  "bad.yaml:4: document 1: metadata.name: must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit), got \"lédger\"",
		},
		"name missing": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "  name: ledger\n", "  labels: {a: b}\n", 1)},
			want:  "bad.yaml:3: document 1: metadata.name: required",
		},
		"namespace invalid": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "  name: ledger\n", "  name: ledger\n  namespace: Shop\n", 1)},
			want:  "bad.yaml:5: document 1: metadata.namespace: must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters), got \"Shop\"",
		},
		"label value invalid": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "  name: ledger\n", "  name: ledger\n  labels: {tier: 'no spaces'}\n", 1)},
			want:  "bad.yaml:5: document 1: metadata.labels[tier]: invalid label value \"no spaces\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
		},
		"engine unknown": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "mysql", "oracle", 1)},
			want:  "bad.yaml:6: document 1: spec.engine: must be postgres, mysql or mariadb, got \"oracle\"",
		},
		"engine missing": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "  engine: mysql\n", "", 1)},
			want:  "bad.yaml:6: document 1: spec.engine: required",
		},
		"version pattern": {
			files: map[string]string{"bad.yaml": strings.Replace(base, `"8.4"`, `"8.4.1"`, 1)},
			want:  "bad.yaml:7: document 1: spec.version: must be \"MAJOR\" or \"MAJOR.MINOR\" with 1 to 4 digits each (e.g. \"16\", \"8.4\"), got \"8.4.1\"",
		},
		"image too long": {
			files: map[string]string{"bad.yaml": withSpec("image: " + strings.Repeat("i", 513))},
			want:  "bad.yaml:10: document 1: spec.image: must be at most 512 characters, got 513",
		},
		"replicas 0": {
			files: map[string]string{"bad.yaml": withSpec("replicas: 0")},
			want:  "bad.yaml:10: document 1: spec.replicas: must be between 1 and 9, got 0",
		},
		"replicas 10": {
			files: map[string]string{"bad.yaml": withSpec("replicas: 10")},
			want:  "bad.yaml:10: document 1: spec.replicas: must be between 1 and 9, got 10",
		},
		"replicas 1e400": {
			files: map[string]string{"bad.yaml": withSpec("replicas: 1e400")},
			want:  "bad.yaml:10: document 1: spec.replicas: must be an integer, got out-of-range number 1e400",
		},
		"replicas 99999999999999999999": {
			files: map[string]string{"bad.yaml": withSpec("replicas: 99999999999999999999")},
			want:  "bad.yaml:10: document 1: spec.replicas: must be a 32-bit integer, got number 99999999999999999999",
		},
		"replicas 1e400 in JSON": {
			files: map[string]string{"bad.json": `{"apiVersion":"dbctl.io/v1alpha1","kind":"Database","metadata":{"name":"x"},"spec":{"engine":"mysql","version":"8","storage":{"size":"1Gi"},"replicas":1e400}}`},
			paths: []string{"bad.json"},
			want:  "bad.json:1: document 1: spec.replicas: must be an integer, got out-of-range number 1e400",
		},
		"size 0": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "size: 1Gi", "size: 0", 1)},
			want:  "bad.yaml:9: document 1: spec.storage.size: must be a positive quantity such as \"10Gi\", got \"0\"",
		},
		"size -1Gi": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "size: 1Gi", "size: -1Gi", 1)},
			want:  "bad.yaml:9: document 1: spec.storage.size: must be a positive quantity such as \"10Gi\", got \"-1Gi\"",
		},
		"size not a quantity": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "size: 1Gi", "size: 1 GB", 1)},
			want:  "bad.yaml:9: document 1: spec.storage.size: must be a quantity such as \"10Gi\", got string \"1 GB\"",
		},
		"size missing": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "size: 1Gi", "storageClassName: fast", 1)},
			want:  "bad.yaml:9: document 1: spec.storage.size: required",
		},
		"storage class not a DNS subdomain": {
			files: map[string]string{"bad.yaml": strings.Replace(base, "size: 1Gi", "size: 1Gi\n    storageClassName: Fast_SSD", 1)},
			want:  "bad.yaml:10: document 1: spec.storage.storageClassName: must be a DNS subdomain (lower-case letters, digits, '-' and '.'), got \"Fast_SSD\"",
		},
		"too many parameters": {
			files: map[string]string{"bad.yaml": withSpec(params(65))},
			want:  "bad.yaml:10: document 1: spec.parameters: must have at most 64 entries, got 65",
		},
		"parameter name invalid": {
			files: map[string]string{"bad.yaml": withSpec("parameters:", "  1st: x")},
			want:  "bad.yaml:11: document 1: spec.parameters[1st]: invalid parameter name \"1st\": must match ^[a-zA-Z_][a-zA-Z0-9_.-]{0,62}$",
		},
		"parameter value with a line break is not shown": {
			files: map[string]string{"bad.yaml": withSpec("parameters:", `  password: "hunter2\nx"`)},
			want:  "bad.yaml:11: document 1: spec.parameters[password]: value must be on one line: it contains a line break (value redacted)",
		},
		"parameter value too long is not shown": {
			files: map[string]string{"bad.yaml": withSpec("parameters:", "  secret: "+strings.Repeat("hunter2", 150))},
			want:  "bad.yaml:11: document 1: spec.parameters[secret]: value must be at most 1024 characters, got 1050 (value redacted)",
		},
		"username invalid": {
			files: map[string]string{"bad.yaml": withSpec("credentials: {username: Admin}")},
			want:  "bad.yaml:10: document 1: spec.credentials.username: must match ^[a-z_][a-z0-9_]{0,31}$ (lower-case letters, digits and '_', at most 32 characters), got \"Admin\"",
		},
		"username empty": {
			files: map[string]string{"bad.yaml": withSpec("credentials: {username: ''}")},
			want:  "bad.yaml:10: document 1: spec.credentials.username: must not be empty: remove it to get the default \"app\"",
		},
		"too many dependencies": {
			files: map[string]string{"bad.yaml": withSpec(deps(17))},
			want:  "bad.yaml:10: document 1: spec.dependencies: must have at most 16 entries, got 17",
		},
		"dependency names not unique": {
			files: map[string]string{"bad.yaml": withSpec("dependencies:", "- {name: s3, tcp: 'h:1'}", "- {name: s3, tcp: 'h:2'}")},
			want:  "bad.yaml:12: document 1: spec.dependencies[1].name: duplicate name \"s3\" (also spec.dependencies[0].name)",
		},
		"dependency name invalid": {
			files: map[string]string{"bad.yaml": withSpec("dependencies:", "- {name: S3, tcp: 'h:1'}")},
			want:  "bad.yaml:11: document 1: spec.dependencies[0].name: must be a DNS label (lower-case letters, digits and '-', at most 63 characters), got \"S3\"",
		},
		"dependency with url and tcp": {
			files: map[string]string{"bad.yaml": withSpec("dependencies:", "- name: s3", "  url: https://s3", "  tcp: 's3:443'")},
			want:  "bad.yaml:11: document 1: spec.dependencies[0]: exactly one of url or tcp must be set, not both",
		},
		"dependency with neither url nor tcp": {
			files: map[string]string{"bad.yaml": withSpec("dependencies:", "- name: s3")},
			want:  "bad.yaml:11: document 1: spec.dependencies[0]: exactly one of url or tcp must be set",
		},
		"dependency url scheme, userinfo not shown": {
			files: map[string]string{"bad.yaml": withSpec("dependencies:", "- name: s3", "  url: ftp://admin:hunter2@s3.internal/x?token=hunter2")},
			want:  "bad.yaml:12: document 1: spec.dependencies[0].url: must be an http or https URL with a host, got \"ftp://s3.internal/x\"",
		},
		"dependency url unparseable, not shown": {
			files: map[string]string{"bad.yaml": withSpec("dependencies:", "- name: s3", "  url: 'http://admin:hunter2@s3 internal'")},
			want:  "bad.yaml:12: document 1: spec.dependencies[0].url: must be an http or https URL with a host (value redacted: it does not parse as a URL)",
		},
		"dependency tcp without port": {
			files: map[string]string{"bad.yaml": withSpec("dependencies:", "- {name: pg, tcp: pg.internal}")},
			want:  "bad.yaml:11: document 1: spec.dependencies[0].tcp: must be host:port (e.g. \"backup.internal:9000\"), got \"pg.internal\"",
		},
		"dependency tcp port 0": {
			files: map[string]string{"bad.yaml": withSpec("dependencies:", "- {name: pg, tcp: 'pg:0'}")},
			want:  "bad.yaml:11: document 1: spec.dependencies[0].tcp: port must be between 1 and 65535, got \"pg:0\"",
		},
		"dependency timeout 0s": {
			files: map[string]string{"bad.yaml": withSpec("dependencies:", "- {name: pg, tcp: 'pg:5432', timeout: 0s}")},
			want:  "bad.yaml:11: document 1: spec.dependencies[0].timeout: must be a positive duration, got \"0s\"",
		},
		"dependency timeout not a duration": {
			files: map[string]string{"bad.yaml": withSpec("dependencies:", "- {name: pg, tcp: 'pg:5432', timeout: 5}")},
			want:  "bad.yaml:11: document 1: spec.dependencies[0].timeout: must be a duration such as \"5s\" or \"10m\", got integer 5",
		},
		"verify timeout negative": {
			files: map[string]string{"bad.yaml": withSpec("verify: {timeout: -1m}")},
			want:  "bad.yaml:10: document 1: spec.verify.timeout: must be a positive duration, got \"-1m0s\"",
		},
		"several errors in one document": {
			files: map[string]string{"bad.yaml": withSpec("replicas: 0", "replica: 1", "credentials: {username: Admin}")},
			want:  "bad.yaml:10: document 1: spec.replicas: must be between 1 and 9, got 0\nbad.yaml:11: document 1: spec.replica: unknown field\nbad.yaml:12: document 1: spec.credentials.username: must match ^[a-z_][a-z0-9_]{0,31}$ (lower-case letters, digits and '_', at most 32 characters), got \"Admin\"",
		},
		"empty file": {
			files: map[string]string{"bad.yaml": ""},
			want:  "bad.yaml: no Database: the file is empty",
		},
		"only comments": {
			files: map[string]string{"bad.yaml": "# TODO\n\n# later\n"},
			want:  "bad.yaml: no Database: the file has only comments or empty documents",
		},
		"not a mapping": {
			files: map[string]string{"bad.yaml": "- apiVersion: dbctl.io/v1alpha1\n"},
			want:  "bad.yaml:1: document 1: must be a Database object, got a list",
		},
		"a directory with one bad document among good ones": {
			files: map[string]string{"dbs/a.yaml": postgresFull, "dbs/b.yaml": mysqlMinimal + "---\n" + strings.Replace(mysqlMinimal, "ledger", "ledger2\n  nmespace: x", 1), "dbs/c.json": `{}`},
			paths: []string{"dbs"},
			want:  "dbs/b.yaml:15: document 2: metadata.nmespace: unknown field\ndbs/c.json:1: document 1: kind: required: Database",
		},
		"namespace mismatch with -n": {
			files: map[string]string{"bad.yaml": postgresFull},
			opts:  Options{Namespace: "prod", NamespaceExplicit: true},
			want:  "bad.yaml:6: document 1: metadata.namespace: the namespace from the provided object \"shop\" does not match the namespace \"prod\". You must pass '--namespace=shop' to perform this operation.",
		},
		"the same name in two files": {
			files: map[string]string{"a.yaml": mysqlMinimal, "b.yaml": "# copy\n" + mysqlMinimal},
			paths: []string{"a.yaml", "b.yaml"},
			want:  "b.yaml:5: document 1: metadata.name: database \"default/ledger\" is defined twice: also in a.yaml:1 (document 1)",
		},
		"a missing file": {
			paths: []string{"nope.yaml"},
			want:  "nope.yaml: cannot read: no such file or directory",
		},
		"a directory without specs": {
			files: map[string]string{"empty/README.md": "x"},
			paths: []string{"empty"},
			want:  "empty: directory has no *.yaml, *.yml or *.json file",
		},
		"stdin twice": {
			stdin: mysqlMinimal,
			paths: []string{"-", "-"},
			want:  "<stdin>: standard input (\"-\") can be read only once",
		},
		"JSON syntax error": {
			files: map[string]string{"bad.json": "{\n  \"apiVersion\": \"dbctl.io/v1alpha1\",\n  \"kind\": \"Database\"\n  \"spec\": {}\n}\n"},
			paths: []string{"bad.json"},
			want:  "bad.json:4: document 1: invalid JSON: invalid character '\"' after object key:value pair",
		},
		"JSON duplicate key": {
			files: map[string]string{"bad.json": `{"apiVersion":"dbctl.io/v1alpha1","kind":"Database","metadata":{"name":"x","name":"y"},"spec":{"engine":"mysql","version":"8","storage":{"size":"1Gi"}}}`},
			paths: []string{"bad.json"},
			want:  "bad.json:1: document 1: metadata.name: duplicate key (first at line 1)",
		},
		"file over 1 MiB": {
			files: map[string]string{"bad.yaml": base + "# " + strings.Repeat("x", MaxFileSize) + "\n"},
			want:  "bad.yaml: file is too large: 1048713 bytes, the limit is 1048576 bytes (1 MiB)",
		},
		"stdin over 1 MiB": {
			stdin: base + "# " + strings.Repeat("x", MaxFileSize) + "\n",
			paths: []string{"-"},
			want:  "<stdin>: input is too large: more than 1048576 bytes, the limit is 1048576 bytes (1 MiB)",
		},
		"too many documents": {
			files: map[string]string{"bad.yaml": strings.Repeat("---\n# empty\n", MaxDocuments+1)},
			want:  "bad.yaml: more than 256 documents in one file",
		},
		"depth bomb": {
			files: map[string]string{"bad.yaml": base + "  x: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"},
			want:  "bad.yaml:10: document 1: nested more than 32 levels deep",
		},
		"alias bomb": {
			files: map[string]string{"bad.yaml": aliasBomb},
			want:  "bad.yaml:1: document 1: more than 20000 values in one document (counting aliases as expanded)",
		},
		"binary data": {
			files: map[string]string{"bad.yaml": "apiVersion: v1\n\x89PNG\r\n\x1a\n\xff\xd8"},
			want:  "bad.yaml:2: invalid UTF-8: not a text file",
		},
		"NUL bytes": {
			files: map[string]string{"bad.yaml": base + "  image: \"a\x00b\"\n"},
			want:  "bad.yaml:10: contains a NUL byte: not a text file",
		},
		"a control character": {
			files: map[string]string{"bad.yaml": base + "  image: \"a\x1bb\"\n"},
			want:  "bad.yaml:10: contains the control character U+001B: not a text file",
		},
		"custom YAML tag": {
			files: map[string]string{"bad.yaml": withSpec("image: !secret x")},
			want:  "bad.yaml:10: document 1: unsupported YAML tag \"!secret\"",
		},
		"binary YAML value": {
			files: map[string]string{"bad.yaml": withSpec("image: !!binary aGVsbG8=")},
			want:  "bad.yaml:10: document 1: binary values (!!binary) are not supported",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			writeFiles(t, tc.files)
			paths := tc.paths
			if paths == nil {
				paths = []string{"bad.yaml"}
			}
			opts := tc.opts
			opts.Stdin = strings.NewReader(tc.stdin)
			items, err := Load(paths, opts)
			if err == nil {
				t.Fatalf("no error")
			}
			if items != nil {
				t.Errorf("items returned with an error: %v", items)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error:\n got: %s\nwant: %s", got, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("a secret is in the error: %s", err)
			}
		})
	}
}
