package engine

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dbctl-io/dbctl/test/golden"
)

func input(e Name, params map[string]string) Input {
	return Input{Engine: e, Parameters: params, StorageSize: resource.MustParse("10Gi")}
}

func mustFiles(t *testing.T, in Input) map[string]string {
	t.Helper()
	files, err := Files(in)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestFilesGolden: the rendered configuration with dbctl's defaults, and the
// scripts exactly as embedded.
func TestFilesGolden(t *testing.T) {
	for _, tc := range []struct {
		engine Name
		files  []string
	}{
		{Postgres, []string{FilePostgresConf, FilePostgresStorage, FilePostgresHBA, FilePostgresIdent, FileBootstrap, FileReady}},
		{MariaDB, []string{FileMyCnf, FileBootstrap, FileReady}},
		{MySQL, []string{FileMyCnf}},
	} {
		t.Run(string(tc.engine), func(t *testing.T) {
			files := mustFiles(t, input(tc.engine, nil))
			got := slices.Sorted(func(yield func(string) bool) {
				for k := range files {
					if !yield(k) {
						return
					}
				}
			})
			if want := slices.Sorted(slices.Values(tc.files)); !slices.Equal(got, want) {
				t.Fatalf("files %v, want %v", got, want)
			}
			for name, content := range files {
				if strings.HasSuffix(name, ".sh") {
					s, err := scripts.ReadFile("scripts/" + string(tc.engine) + "/" + name)
					if err != nil || string(s) != content {
						t.Errorf("%s is not the embedded script (%v)", name, err)
					}
					continue
				}
				golden.Assert(t, filepath.Join(string(tc.engine), name), content)
			}
		})
	}
}

// TestParameters: spec.parameters override dbctl's defaults but never the
// settings dbctl relies on, whatever their spelling.
func TestParameters(t *testing.T) {
	for name, tc := range map[string]struct {
		engine       Name
		params       map[string]string
		file         string
		want, reject []string
	}{
		"postgres override": {Postgres, map[string]string{"max_connections": "150", "Shared_Buffers": "64MB"}, FilePostgresConf,
			[]string{"max_connections = '150'\n", "shared_buffers = '64MB'\n"}, []string{"'100'", "'128MB'"}},
		"postgres fixed": {Postgres, map[string]string{"port": "1234", "LISTEN_ADDRESSES": "localhost", "hba_file": "/tmp/x",
			"data_directory": "/tmp", "password_encryption": "md5", "hot_standby": "off", "unix_socket_directories": "/tmp"}, FilePostgresConf,
			[]string{"port = '5432'\n", "listen_addresses = '*'\n", "hba_file = '/etc/dbctl/pg_hba.conf'\n", "hot_standby = 'on'\n"},
			[]string{"1234", "localhost", "/tmp", "md5", "hot_standby = 'off'"}},
		"postgres quoting": {Postgres, map[string]string{"application_name": `it's a \ test`}, FilePostgresConf,
			[]string{`application_name = 'it''s a \\ test'` + "\n"}, nil},
		"postgres logical": {Postgres, map[string]string{"wal_level": "logical"}, FilePostgresConf,
			[]string{"wal_level = 'logical'\n"}, []string{"'replica'"}},
		"postgres wal bound override": {Postgres, map[string]string{"max_slot_wal_keep_size": "1GB"}, FilePostgresConf,
			[]string{"max_slot_wal_keep_size = '1GB'\n"}, []string{"2560MB"}},
		"mariadb override": {MariaDB, map[string]string{"max-connections": "300", "character_set_server": "latin1"}, FileMyCnf,
			[]string{"max_connections = 300\n", "character_set_server = latin1\n"}, []string{"151", "utf8mb4\n"}},
		"mariadb fixed": {MariaDB, map[string]string{"bind-address": "127.0.0.1", "Port": "1", "loose-datadir": "/tmp",
			"skip-log-bin": "1", "disable_gtid_strict_mode": "1", "binlog_format": "STATEMENT", "enable-name-resolve": "1",
			"server-id": "7", "read_only": "ON", "skip_slave_start": "1", "skip-name-resolve": "OFF"}, FileMyCnf,
			[]string{"bind_address = 0.0.0.0\n", "port = 3306\n", "skip_name_resolve = ON\n", "binlog_format = ROW\n"},
			[]string{"127.0.0.1", "port = 1\n", "/tmp", "STATEMENT", "server_id =", "read_only =", "slave_start", "OFF",
				"name_resolve = 1", "log_bin = 1", "gtid_strict_mode = 1"}},
	} {
		t.Run(name, func(t *testing.T) {
			conf := mustFiles(t, input(tc.engine, tc.params))[tc.file]
			for _, w := range tc.want {
				if strings.Count(conf, w) != 1 {
					t.Errorf("want %q once in:\n%s", w, conf)
				}
			}
			for _, r := range tc.reject {
				if strings.Contains(conf, r) {
					t.Errorf("%q should not be in:\n%s", r, conf)
				}
			}
		})
	}
}

func TestMaxSlotWALKeepSize(t *testing.T) {
	for size, want := range map[string]string{"10Gi": "2560MB", "1Gi": "256MB", "100Mi": "25MB", "1Mi": "16MB", "1Ti": "262144MB"} {
		in := Input{Engine: Postgres, StorageSize: resource.MustParse(size)}
		if conf := mustFiles(t, in)[FilePostgresStorage]; !strings.Contains(conf, "max_slot_wal_keep_size = '"+want+"'\n") {
			t.Errorf("storage %s: want max_slot_wal_keep_size %s in:\n%s", size, want, conf)
		}
	}
	// postgresql.conf includes it first (spec.parameters after it win), and growing
	// the volumes changes no file the config hash covers: no server restarts.
	small, large := Input{Engine: Postgres, StorageSize: resource.MustParse("1Gi")}, Input{Engine: Postgres, StorageSize: resource.MustParse("50Gi")}
	if conf := mustFiles(t, small)[FilePostgresConf]; !strings.Contains(conf, "include_if_exists '/etc/dbctl/storage.conf'\n") {
		t.Errorf("postgresql.conf does not include storage.conf:\n%s", conf)
	}
	h1, _ := ConfigHash(small)
	h2, _ := ConfigHash(large)
	if h1 != h2 {
		t.Error("the config hash changes with the storage size: a volume growth would restart the servers")
	}
}

func TestFilesErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		in   Input
		want string
	}{
		"unknown engine":      {input("oracle", nil), `unsupported engine "oracle"`},
		"bad name":            {input(Postgres, map[string]string{"a b": "1"}), `invalid parameter name "a b"`},
		"line break":          {input(MariaDB, map[string]string{"x": "1\n[client]"}), "parameter x: the value must be one line"},
		"wal_level minimal":   {input(Postgres, map[string]string{"wal_level": "minimal"}), `wal_level "minimal" would break streaming replication`},
		"no storage postgres": {Input{Engine: Postgres}, "postgres: the storage size must be positive, got 0"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Files(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if _, err := ConfigHash(tc.in); err == nil {
				t.Fatal("ConfigHash: no error")
			}
		})
	}
}

// TestConfigHash: the hash follows the configuration files and nothing else, so
// that a change to a script does not restart running servers.
func TestConfigHash(t *testing.T) {
	for _, e := range []Name{Postgres, MariaDB, MySQL} {
		base := input(e, map[string]string{"max_connections": "150"})
		h1, err := ConfigHash(base)
		if err != nil {
			t.Fatal(err)
		}
		if h2, _ := ConfigHash(base); h2 != h1 {
			t.Errorf("%s: the hash is not stable: %s, %s", e, h1, h2)
		}
		if h3, _ := ConfigHash(input(e, map[string]string{"max_connections": "151"})); h3 == h1 {
			t.Errorf("%s: a parameter change does not change the hash", e)
		}
		files := mustFiles(t, base)
		l, _ := Layout(e)
		if configHash(files, l.ConfigFiles) != h1 {
			t.Fatalf("%s: configHash differs from ConfigHash", e)
		}
		for name := range files {
			changed := map[string]string{}
			for k, v := range files {
				changed[k] = v
			}
			changed[name] += "\n# changed\n"
			same := configHash(changed, l.ConfigFiles) == h1
			if config := slices.Contains(l.ConfigFiles, name); config == same {
				t.Errorf("%s: a change to %s (a config file: %v) changes the hash: %v", e, name, config, !same)
			}
		}
	}
	if hp, _ := ConfigHash(input(Postgres, nil)); hp == "" || len(hp) != 16 {
		t.Errorf("hash %q: want 16 hex digits", hp)
	}
}

func TestLayout(t *testing.T) {
	for _, e := range []Name{Postgres, MariaDB, MySQL} {
		l, err := Layout(e)
		if err != nil {
			t.Fatal(err)
		}
		files := mustFiles(t, input(e, nil))
		for _, name := range l.ConfigFiles {
			if _, ok := files[name]; !ok {
				t.Errorf("%s: config file %s is not rendered", e, name)
			}
		}
		for _, cmd := range [][]string{l.Command, l.Readiness} {
			if len(cmd) == 2 && cmd[0] == "bash" {
				if _, ok := files[strings.TrimPrefix(cmd[1], ConfigDir+"/")]; !ok {
					t.Errorf("%s: %v runs a file that is not rendered", e, cmd)
				}
			}
		}
		if l.UID != 999 || l.GID != 999 || l.Port == 0 || l.PortName == "" || len(l.Readiness) == 0 {
			t.Errorf("%s: incomplete layout %+v", e, l)
		}
		if e != MySQL && (!strings.HasPrefix(l.DataDir, l.DataMount+"/") || l.ConfigDir != ConfigDir || l.ReplicationDir != ReplicationDir) {
			t.Errorf("%s: layout %+v", e, l)
		}
	}
	if _, err := Layout("oracle"); err == nil {
		t.Error("Layout(oracle): no error")
	}
}

// TestScripts: every script parses (bash -n), is strict, and passes shellcheck
// when it is installed. Fragments (rendered into another script: the engines'
// dump and restore, the common restore) declare their shell for shellcheck and
// set nothing themselves.
func TestScripts(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	paths, err := filepath.Glob("scripts/*/*.sh")
	if err != nil || len(paths) != 10 {
		t.Fatalf("scripts: %v %v", paths, err)
	}
	fragments := []string{"backup-dump.sh", "restore-load.sh", "restore.sh"}
	for _, p := range paths {
		if out, err := exec.Command(bash, "-n", p).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", p, err, out)
		}
		b, _ := scripts.ReadFile(filepath.ToSlash(p))
		if slices.Contains(fragments, filepath.Base(p)) {
			if !strings.HasPrefix(string(b), "# shellcheck shell=bash\n") || strings.Contains(string(b), "\nset -") {
				t.Errorf("%s: a fragment starts with # shellcheck shell=bash and sets no options", p)
			}
			continue
		}
		if !strings.HasPrefix(string(b), "#!/usr/bin/env bash\n") || !strings.Contains(string(b), "\nset -euo pipefail\n") {
			t.Errorf("%s: want a bash shebang and set -euo pipefail", p)
		}
	}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		if out, err := exec.Command(sc, append([]string{"-s", "bash"}, paths...)...).CombinedOutput(); err != nil {
			t.Errorf("shellcheck: %v\n%s", err, out)
		}
	} else {
		t.Log("shellcheck is not installed: skipped")
	}
}
