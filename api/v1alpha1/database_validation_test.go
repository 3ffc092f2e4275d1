package v1alpha1

import (
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func validDatabase() *Database {
	replicas := int32(3)
	class := "fast"
	return &Database{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop", Labels: map[string]string{"team": "payments"}},
		Spec: DatabaseSpec{
			Engine:     EnginePostgres,
			Version:    "16",
			Replicas:   &replicas,
			Storage:    StorageSpec{Size: resource.MustParse("10Gi"), StorageClassName: &class},
			Parameters: map[string]ParameterValue{"max_connections": "200"},
			Credentials: CredentialsSpec{
				Username: "orders_app",
			},
			Dependencies: []Dependency{
				{Name: "backup", URL: "https://backup.internal/healthz", Timeout: &metav1.Duration{Duration: time.Second}},
				{Name: "kafka", TCP: "kafka.internal:9092"},
			},
			Verify: VerifySpec{Timeout: &metav1.Duration{Duration: time.Minute}},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		mutate func(db *Database)
		want   []string // "field: detail"
	}{
		"valid": {mutate: func(db *Database) {}},
		"valid with no optional": {mutate: func(db *Database) {
			db.Spec = DatabaseSpec{Engine: EngineMySQL, Version: "8.4", Storage: StorageSpec{Size: resource.MustParse("1")}}
		}},
		"valid after Default":           {mutate: func(db *Database) { db.Spec.Replicas = nil; db.Default() }},
		"name missing":                  {mutate: func(db *Database) { db.Name = "" }, want: []string{"metadata.name: required"}},
		"name of 51 chars, one replica": {mutate: func(db *Database) { db.Name = "a" + strings.Repeat("b", 50); db.Spec.Replicas = ptr(int32(1)) }},
		"name of 44 chars, replicas":    {mutate: func(db *Database) { db.Name = "a" + strings.Repeat("b", 43) }},
		"name of 45 chars, replicas": {mutate: func(db *Database) { db.Name = "a" + strings.Repeat("b", 44) }, want: []string{
			"metadata.name: must be at most 44 characters with spec.replicas above 1, so that the replica StatefulSet <name>-replica's pods get valid labels, got 45"}},
		"mariadb with replicas": {mutate: func(db *Database) { db.Spec.Engine, db.Spec.Version = EngineMariaDB, "11.4" }},
		"mysql with replicas": {mutate: func(db *Database) { db.Spec.Engine, db.Spec.Version = EngineMySQL, "8.4" }, want: []string{
			"spec.replicas: engine mysql runs one instance only: use engine mariadb for a primary with streaming replicas, or replicas: 1"}},
		"mysql with one replica": {mutate: func(db *Database) { db.Spec.Engine, db.Spec.Replicas = EngineMySQL, ptr(int32(1)) }},
		"username replicator": {mutate: func(db *Database) { db.Spec.Credentials.Username = "replicator" }, want: []string{
			"spec.credentials.username: replicator, postgres and root are reserved: the replication user and the servers' administrators"}},
		"username root": {mutate: func(db *Database) { db.Spec.Credentials.Username = "root" }, want: []string{
			"spec.credentials.username: replicator, postgres and root are reserved: the replication user and the servers' administrators"}},
		"name of 52 chars": {
			mutate: func(db *Database) { db.Name = "a" + strings.Repeat("b", 51) },
			want:   []string{"metadata.name: must be at most 51 characters so that every child name (<name>-credentials, <name>-headless, pods, PVCs data-<name>-<ordinal>) is a valid DNS label, got 52"},
		},
		"name uppercase": {
			mutate: func(db *Database) { db.Name = "Orders" },
			want:   []string{`metadata.name: must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit), got "Orders"`},
		},
		"name shown cut short": {
			mutate: func(db *Database) { db.Name = strings.Repeat("X", 100) },
			want: []string{
				"metadata.name: must be at most 51 characters so that every child name (<name>-credentials, <name>-headless, pods, PVCs data-<name>-<ordinal>) is a valid DNS label, got 100",
				`metadata.name: must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit), got "` + strings.Repeat("X", 64) + `"...`,
			},
		},
		"namespace invalid": {
			mutate: func(db *Database) { db.Namespace = "a_b" },
			want:   []string{`metadata.namespace: must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters), got "a_b"`},
		},
		"label key invalid": {
			mutate: func(db *Database) { db.Labels = map[string]string{"-a": "b"} },
			want:   []string{`metadata.labels[-a]: invalid label key "-a": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`},
		},
		"annotations too big": {
			mutate: func(db *Database) { db.Annotations = map[string]string{"a": strings.Repeat("x", 256*1024)} },
			want:   []string{"metadata.annotations: keys and values must total at most 262144 bytes"},
		},
		"engine missing":   {mutate: func(db *Database) { db.Spec.Engine = "" }, want: []string{"spec.engine: required: postgres, mysql or mariadb"}},
		"engine unknown":   {mutate: func(db *Database) { db.Spec.Engine = "oracle" }, want: []string{`spec.engine: must be postgres, mysql or mariadb, got "oracle"`}},
		"version missing":  {mutate: func(db *Database) { db.Spec.Version = "" }, want: []string{`spec.version: required: "MAJOR" or "MAJOR.MINOR", e.g. "16"`}},
		"version too long": {mutate: func(db *Database) { db.Spec.Version = "12345" }, want: []string{`spec.version: must be "MAJOR" or "MAJOR.MINOR" with 1 to 4 digits each (e.g. "16", "8.4"), got "12345"`}},
		"image too long":   {mutate: func(db *Database) { db.Spec.Image = strings.Repeat("é", 513) }, want: []string{"spec.image: must be at most 512 characters, got 513"}},
		"image 512 runes":  {mutate: func(db *Database) { db.Spec.Image = strings.Repeat("é", 512) }},
		"replicas 0":       {mutate: func(db *Database) { db.Spec.Replicas = new(int32) }, want: []string{"spec.replicas: must be between 1 and 9, got 0"}},
		"replicas 10": {
			mutate: func(db *Database) { r := int32(10); db.Spec.Replicas = &r },
			want:   []string{"spec.replicas: must be between 1 and 9, got 10"},
		},
		"size missing":        {mutate: func(db *Database) { db.Spec.Storage.Size = resource.Quantity{} }, want: []string{`spec.storage.size: required: a quantity such as "10Gi"`}},
		"size 0":              {mutate: func(db *Database) { db.Spec.Storage.Size = resource.MustParse("0") }, want: []string{`spec.storage.size: must be a positive quantity such as "10Gi", got "0"`}},
		"size -1Gi":           {mutate: func(db *Database) { db.Spec.Storage.Size = resource.MustParse("-1Gi") }, want: []string{`spec.storage.size: must be a positive quantity such as "10Gi", got "-1Gi"`}},
		"storage class empty": {mutate: func(db *Database) { c := ""; db.Spec.Storage.StorageClassName = &c }},
		"storage class invalid": {
			mutate: func(db *Database) { c := "Fast"; db.Spec.Storage.StorageClassName = &c },
			want:   []string{`spec.storage.storageClassName: must be a DNS subdomain (lower-case letters, digits, '-' and '.'), got "Fast"`},
		},
		"claims duplicated": {
			mutate: func(db *Database) { db.Spec.Resources.Claims = []corev1.ResourceClaim{{Name: "gpu"}, {Name: "gpu"}} },
			want:   []string{`spec.resources.claims[1].name: duplicate name "gpu" (also spec.resources.claims[0].name)`},
		},
		"too many parameters": {
			mutate: func(db *Database) {
				for i := 0; i < 65; i++ {
					db.Spec.Parameters["p"+strconv.Itoa(i)] = "v"
				}
			},
			want: []string{"spec.parameters: must have at most 64 entries, got 66"},
		},
		"parameter name and value invalid, value not shown": {
			mutate: func(db *Database) {
				db.Spec.Parameters = map[string]ParameterValue{"bad name": ParameterValue("s3cr3t\r\n" + strings.Repeat("s3cr3t", 200))}
			},
			want: []string{
				`spec.parameters[bad name]: invalid parameter name "bad name": must match ^[a-zA-Z_][a-zA-Z0-9_.-]{0,62}$`,
				"spec.parameters[bad name]: value must be at most 1024 characters, got 1208 (value redacted)",
				"spec.parameters[bad name]: value must be on one line: it contains a line break (value redacted)",
			},
		},
		"username invalid": {
			mutate: func(db *Database) { db.Spec.Credentials.Username = "root-user" },
			want:   []string{`spec.credentials.username: must match ^[a-z_][a-z0-9_]{0,31}$ (lower-case letters, digits and '_', at most 32 characters), got "root-user"`},
		},
		"too many dependencies": {
			mutate: func(db *Database) {
				db.Spec.Dependencies = nil
				for i := 0; i < 17; i++ {
					db.Spec.Dependencies = append(db.Spec.Dependencies, Dependency{Name: "d" + strings.Repeat("d", i), TCP: "h:1"})
				}
			},
			want: []string{"spec.dependencies: must have at most 16 entries, got 17"},
		},
		"dependency checks": {
			mutate: func(db *Database) {
				zero := &metav1.Duration{}
				db.Spec.Dependencies = []Dependency{
					{Name: "", URL: "https://a", TCP: "a:1"},
					{Name: "Bad_Name"},
					{Name: "dup", URL: "gopher://user:pw@host/?q=secret#frag", Timeout: zero},
					{Name: "dup", TCP: "host:70000"},
					{Name: "u", URL: "http://user:pw@[::1"},
					{Name: "t", TCP: "host"},
				}
			},
			want: []string{
				"spec.dependencies[0].name: required",
				"spec.dependencies[0]: exactly one of url or tcp must be set, not both",
				`spec.dependencies[1].name: must be a DNS label (lower-case letters, digits and '-', at most 63 characters), got "Bad_Name"`,
				"spec.dependencies[1]: exactly one of url or tcp must be set",
				`spec.dependencies[2].url: must be an http or https URL with a host, got "gopher://host/"`,
				`spec.dependencies[2].timeout: must be a positive duration, got "0s"`,
				`spec.dependencies[3].tcp: port must be between 1 and 65535, got "host:70000"`,
				`spec.dependencies[3].name: duplicate name "dup" (also spec.dependencies[2].name)`,
				"spec.dependencies[4].url: must be an http or https URL with a host (value redacted: it does not parse as a URL)",
				`spec.dependencies[5].tcp: must be host:port (e.g. "backup.internal:9000"), got "host"`,
			},
		},
		"verify timeout negative": {
			mutate: func(db *Database) { db.Spec.Verify.Timeout = &metav1.Duration{Duration: -time.Second} },
			want:   []string{`spec.verify.timeout: must be a positive duration, got "-1s"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db := validDatabase()
			tc.mutate(db)
			var got []string
			for _, e := range db.Validate() {
				got = append(got, e.Field+": "+e.Detail)
				if strings.Contains(e.Error(), "s3cr3t") || strings.Contains(e.Error(), "pw@") || strings.Contains(e.Error(), "secret") {
					t.Errorf("a secret is in %q", e.Error())
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
