package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbctl-io/dbctl/test/golden"
)

// latest restores the newest complete backup.
var latest = &RestoreInput{}

func withBackup(in Input, keep int, restore *RestoreInput) Input {
	if keep > 0 {
		in.Backup = &BackupInput{Keep: keep}
	}
	in.Restore = restore
	return in
}

// TestBackupGolden: backup.sh and the bootstrap.sh with a restore, as rendered.
func TestBackupGolden(t *testing.T) {
	for _, e := range []Name{Postgres, MariaDB} {
		t.Run(string(e), func(t *testing.T) {
			files := mustFiles(t, withBackup(input(e, nil), 3, latest))
			golden.Assert(t, filepath.Join(string(e), FileBackup), files[FileBackup])
			golden.Assert(t, filepath.Join(string(e), "bootstrap-restore.sh"), files[FileBootstrap])
		})
	}
}

// TestBackupIsOptIn: without Backup and Restore the files are exactly a
// Database's without backups; Backup only adds backup.sh, Restore only changes
// bootstrap.sh (the same script, the restore before its last line), and neither
// changes the config hash: no existing Database's ConfigMap changes, no server
// restarts.
func TestBackupIsOptIn(t *testing.T) {
	for _, e := range []Name{Postgres, MariaDB} {
		base := input(e, map[string]string{"max_connections": "150"})
		plain := mustFiles(t, base)
		hash, _ := ConfigHash(base)
		for _, tc := range []struct {
			keep    int
			restore *RestoreInput
			changed []string
		}{
			{3, nil, []string{FileBackup}},
			{0, latest, []string{FileBootstrap}},
			{1, &RestoreInput{File: "20261130T120000.123Z.pgdump"}, []string{FileBackup, FileBootstrap}},
		} {
			in := withBackup(base, tc.keep, tc.restore)
			files := mustFiles(t, in)
			var changed []string
			for name, content := range files {
				if old, ok := plain[name]; !ok || old != content {
					changed = append(changed, name)
				}
			}
			if slices.Sort(changed); !slices.Equal(changed, tc.changed) {
				t.Errorf("%s keep %d restore %v: changed files %v, want %v", e, tc.keep, tc.restore, changed, tc.changed)
			}
			if h, _ := ConfigHash(in); h != hash {
				t.Errorf("%s keep %d restore %v: the config hash changes", e, tc.keep, tc.restore)
			}
			if tc.restore == nil {
				continue
			}
			b := files[FileBootstrap]
			prefix := strings.TrimSuffix(plain[FileBootstrap], "main \"$@\"\n")
			if !strings.HasPrefix(b, prefix) || !strings.HasSuffix(b, "\nrestore_main \"$@\"\n") ||
				!strings.Contains(b, "readonly RESTORE_FILE='"+tc.restore.File+"'\n") {
				t.Errorf("%s: the bootstrap with a restore is not the bootstrap, then the restore, then restore_main", e)
			}
		}
	}
}

func TestBackupErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		in   Input
		want string
	}{
		"keep 0":        {Input{Engine: Postgres, StorageSize: input(Postgres, nil).StorageSize, Backup: &BackupInput{}}, "backup: keep must be 1 to 1000, got 0"},
		"keep too many": {withBackup(input(MariaDB, nil), MaxBackupKeep+1, nil), "backup: keep must be 1 to 1000, got 1001"},
		"file blank":    {withBackup(input(Postgres, nil), 0, &RestoreInput{File: " "}), `restore: the file must be a backup's file name`},
		"file a path":   {withBackup(input(Postgres, nil), 0, &RestoreInput{File: "../orders/x.pgdump"}), `got "../orders/x.pgdump"`},
		"file hidden":   {withBackup(input(MariaDB, nil), 0, &RestoreInput{File: ".x.sql.gz.partial"}), `got ".x.sql.gz.partial"`},
		"file quote":    {withBackup(input(MariaDB, nil), 0, &RestoreInput{File: "x'; rm -rf /"}), "restore: the file must be"},
		"file too long": {withBackup(input(MariaDB, nil), 0, &RestoreInput{File: strings.Repeat("x", 254)}), "restore: the file must be"},
		"mysql backup":  {withBackup(input(MySQL, nil), 1, nil), "mysql: backups and restores need dbctl's bootstrap"},
		"mysql restore": {withBackup(input(MySQL, nil), 0, latest), "mysql: backups and restores need dbctl's bootstrap"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Files(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	for _, file := range []string{"", "latest", strings.Repeat("x", 253), "orders-copy_1.pgdump"} {
		if _, err := Files(withBackup(input(Postgres, nil), 0, &RestoreInput{File: file})); err != nil {
			t.Errorf("file %q: %v", file, err)
		}
	}
}

// TestBackupContract: the scripts use the paths, names and variables the Go API
// documents.
func TestBackupContract(t *testing.T) {
	for _, e := range []Name{Postgres, MariaDB} {
		files := mustFiles(t, withBackup(input(e, nil), 7, &RestoreInput{File: "x.dump"}))
		for file, wants := range map[string][]string{
			FileBackup: {"readonly DIR=" + BackupDir + "\n", "readonly KEEP=7\n", EnvTerminationLog + ":-" + DefaultTerminationLog,
				EnvPrimaryHost, EnvPort, EnvDatabase, EnvUser, EnvPassword, EnvWaitTimeout},
			FileBootstrap: {"readonly RESTORE_DIR=" + RestoreDir + "\n", "readonly RESTORE_MARKER=" + RestoreMarker + "\n"},
		} {
			for _, w := range wants {
				if !strings.Contains(files[file], w) {
					t.Errorf("%s %s does not contain %q", e, file, w)
				}
			}
		}
		l, _ := Layout(e)
		if !slices.Equal(l.BackupCommand, []string{"bash", ConfigDir + "/" + FileBackup}) {
			t.Errorf("%s: backup command %v", e, l.BackupCommand)
		}
	}
	if l, _ := Layout(MySQL); l.BackupCommand != nil {
		t.Errorf("mysql: backup command %v", l.BackupCommand)
	}
}

// TestRestoreInitdb: the restore initialises its data directory with
// exactly the primary's initdb.
func TestRestoreInitdb(t *testing.T) {
	initdb := func(file, dir string) string {
		b, err := scripts.ReadFile("scripts/postgres/" + file)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		i := strings.Index(s, "initdb -D ")
		end := strings.Index(s[i:], ">/dev/null")
		if i < 0 || end < 0 {
			t.Fatalf("%s: no initdb", file)
		}
		return strings.Join(strings.Fields(strings.ReplaceAll(strings.ReplaceAll(s[i:i+end], "\\\n", " "), dir, "DIR")), " ")
	}
	if b, r := initdb(FileBootstrap, `"$dir"`), initdb("restore-load.sh", `"$1"`); b != r {
		t.Fatalf("the restore's initdb differs from the bootstrap's:\n%s\n%s", r, b)
	}
}

// TestRenderedScripts: the rendered backup.sh and bootstrap.sh with a restore
// parse, and pass shellcheck when it is installed.
func TestRenderedScripts(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, e := range []Name{Postgres, MariaDB} {
		files := mustFiles(t, withBackup(input(e, nil), 3, latest))
		for _, name := range []string{FileBackup, FileBootstrap} {
			p := filepath.Join(dir, string(e)+"-"+name)
			if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
			if out, err := exec.Command("bash", "-n", p).CombinedOutput(); err != nil {
				t.Errorf("bash -n %s: %v\n%s", p, err, out)
			}
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

func TestParseBackupResult(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	good := `{"file":"20261130T120000.123Z.sql.gz","sizeBytes":42,"sha256":"` + sum + `","completedAt":"2026-11-30T12:00:01Z"}` + "\n"
	r, err := ParseBackupResult(good)
	want := BackupResult{File: "20261130T120000.123Z.sql.gz", SizeBytes: 42, SHA256: sum,
		CompletedAt: time.Date(2026, 11, 30, 12, 0, 1, 0, time.UTC)}
	if err != nil || r != want {
		t.Fatalf("got %+v, %v; want %+v", r, err, want)
	}
	for name, tc := range map[string]struct{ message, want string }{
		"empty":        {"", "reading the backup's termination message: EOF"},
		"logs":         {"error: the dump failed", "reading the backup's termination message"},
		"unknown":      {strings.Replace(good, `"sizeBytes"`, `"size"`, 1), `unknown field "size"`},
		"file":         {strings.Replace(good, "20261130T120000.123Z.sql.gz", ".x.partial", 1), `names no backup file: ".x.partial"`},
		"sha":          {strings.Replace(good, sum, "abc", 1), `no sha256 checksum: "abc"`},
		"size":         {strings.Replace(good, `"sizeBytes":42`, `"sizeBytes":0`, 1), "has no size: 0"},
		"completed at": {strings.Replace(good, `,"completedAt":"2026-11-30T12:00:01Z"`, "", 1), "no completion time"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseBackupResult(tc.message); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestFill: every placeholder exactly once.
func TestFill(t *testing.T) {
	if s, err := fill("x", "a @A@ b", "@A@", "1"); err != nil || s != "a 1 b" {
		t.Fatalf("got %q, %v", s, err)
	}
	for _, s := range []string{"none", "@A@ @A@"} {
		if _, err := fill("x", s, "@A@", "1"); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}
