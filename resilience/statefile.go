package resilience

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dbctl-io/dbctl/reconcile/redact"

	"github.com/gofrs/flock"
	"github.com/google/renameio/v2"
)

// StateFileVersion is the version of the state file format this package reads and
// writes.
const StateFileVersion = 1

// EnvStatePath is the environment variable that overrides the default state path.
const EnvStatePath = "DBCTL_BREAKER_STATE"

// StateFile is the content of the breaker state file.
type StateFile struct {
	Version  int                `json:"version"`
	Breakers map[string]*Record `json:"breakers"`
}

// emptyStateFile is the state of a missing or corrupt file: every breaker closed.
func emptyStateFile() StateFile {
	return StateFile{Version: StateFileVersion, Breakers: map[string]*Record{}}
}

// Names returns the names of the breakers, sorted.
func (f StateFile) Names() []string {
	names := make([]string, 0, len(f.Breakers))
	for name := range f.Breakers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// DefaultStatePath returns $DBCTL_BREAKER_STATE, else
// $XDG_STATE_HOME/dbctl/breakers.json, else $HOME/.local/state/dbctl/breakers.json.
// A relative XDG_STATE_HOME is ignored, as the XDG specification requires.
func DefaultStatePath() (string, error) {
	if p := os.Getenv(EnvStatePath); p != "" {
		return p, nil
	}
	if dir := os.Getenv("XDG_STATE_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "dbctl", "breakers.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the breaker state file: set --breaker-state or %s: %w", EnvStatePath, err)
	}
	return filepath.Join(home, ".local", "state", "dbctl", "breakers.json"), nil
}

// Store reads and writes a breaker state file shared by concurrent dbctl
// processes. Writers serialise their read-modify-write with an exclusive lock on
// "<path>.lock" (and, within a process, a mutex per path) and replace the file
// atomically, so readers need no lock and no update is lost. A Store is safe for
// concurrent use.
type Store struct {
	path string
	warn *warner

	mu    sync.Mutex // guards swept
	swept bool
}

// Store is the StateStore of a file.
var _ StateStore = (*Store)(nil)

// NewStore returns the store of the state file at path. warn receives the warnings
// about a corrupt file (nil discards them); each distinct warning is given once.
func NewStore(path string, warn func(msg string)) *Store {
	return &Store{path: path, warn: &warner{warn: warn}}
}

// Path returns the path of the state file.
func (s *Store) Path() string { return s.path }

// Location is the path of the state file.
func (s *Store) Location() string { return s.path }

// pathLocks serialises the Stores of one process that share a path: the file lock
// alone would not where locks are per process (fcntl). Each is a one-slot channel,
// so that waiting for it can be cancelled.
var pathLocks sync.Map // absolute path -> chan struct{}

func (s *Store) lockPath(ctx context.Context) (unlock func(), err error) {
	key, err := filepath.Abs(s.path)
	if err != nil {
		key = s.path
	}
	v, _ := pathLocks.LoadOrStore(key, make(chan struct{}, 1))
	sem := v.(chan struct{})
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Load returns a snapshot of the state file, without locking: writers replace the
// file atomically, so it is always a complete version. A missing file is all
// closed; a corrupt one is reported to warn and read as all closed. The error is
// only for a file that cannot be read (permissions, a directory …).
func (s *Store) Load() (StateFile, error) {
	sf, _, _, err := s.read()
	return sf, err
}

// Update runs fn on the current state under the exclusive lock and writes the
// result atomically (temp file, fsync, rename; mode 0600; the parent directory is
// created 0700). When fn returns an error nothing is written and Update returns it.
// fn must be quick: it runs with the lock held, and must never call a dependency.
func (s *Store) Update(fn func(*StateFile) error) error {
	return s.UpdateContext(context.Background(), fn)
}

// lockRetry is how often UpdateContext retries a lock that another process holds.
const lockRetry = 2 * time.Millisecond

// UpdateContext is Update, giving up waiting for the lock when ctx ends.
func (s *Store) UpdateContext(ctx context.Context, fn func(*StateFile) error) error {
	unlock, err := s.lockPath(ctx)
	if err != nil {
		return fmt.Errorf("locking the breaker state file %s: %w", s.path, err)
	}
	defer unlock()

	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the directory of the breaker state file: %w", err)
	}
	lock := flock.New(s.path+".lock", flock.SetPermissions(0o600))
	if ctx.Done() == nil {
		if err := lock.Lock(); err != nil {
			return fmt.Errorf("locking the breaker state file %s: %w", lock.Path(), err)
		}
	} else {
		ok, err := lock.TryLockContext(ctx, lockRetry)
		if err != nil || !ok {
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("locking the breaker state file %s: %w", lock.Path(), err)
		}
	}
	defer lock.Unlock()

	sf, raw, corrupt, err := s.read()
	if err != nil {
		return err
	}
	if err := fn(&sf); err != nil {
		return err
	}
	data, err := encode(sf)
	if err != nil {
		return err
	}
	if !corrupt && bytes.Equal(data, raw) {
		return nil // nothing changed: spare the write
	}
	s.removeStaleTemps()
	return writeAtomic(s.path, data)
}

// Reset closes the named breakers by removing them from the state file, and
// returns their names. If a name is not in the file, nothing is reset and the
// error wraps ErrUnknownBreaker.
func (s *Store) Reset(names ...string) ([]string, error) {
	var reset []string
	if err := s.Update(resetNames(names, s.path, &reset)); err != nil {
		return nil, err
	}
	return reset, nil
}

// ResetAll closes every breaker and returns their names, sorted.
func (s *Store) ResetAll() ([]string, error) {
	var reset []string
	if err := s.Update(resetAll(&reset)); err != nil {
		return nil, err
	}
	return reset, nil
}

// read returns the state, the bytes it was decoded from, and whether the file was
// corrupt (then the state is empty and a warning was given).
func (s *Store) read() (sf StateFile, raw []byte, corrupt bool, err error) {
	raw, err = os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return emptyStateFile(), nil, false, nil
	}
	if err != nil {
		return StateFile{}, nil, false, fmt.Errorf("reading the breaker state file: %w", err)
	}
	sf, problem := decode(raw)
	if problem != "" {
		s.warn.once(fmt.Sprintf("breaker state file %s is corrupt (%s); treating every breaker as closed; it will be rewritten",
			s.path, problem))
		return emptyStateFile(), raw, true, nil
	}
	s.warn.once("") // the file is sound again: a new corruption is worth a new warning
	return sf, raw, false, nil
}

// decode parses a state file; problem says what is wrong with a corrupt one.
func decode(raw []byte) (sf StateFile, problem string) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return StateFile{}, "the file is empty"
	}
	if err := json.Unmarshal(raw, &sf); err != nil {
		return StateFile{}, "invalid JSON: " + err.Error()
	}
	switch {
	case sf.Version == 0:
		return StateFile{}, "no version field"
	case sf.Version != StateFileVersion:
		return StateFile{}, fmt.Sprintf("unsupported version %d, this dbctl reads version %d", sf.Version, StateFileVersion)
	}
	if sf.Breakers == nil {
		sf.Breakers = map[string]*Record{}
	}
	for name, r := range sf.Breakers {
		switch {
		case r == nil:
			delete(sf.Breakers, name)
		case !r.State.Valid():
			return StateFile{}, fmt.Sprintf("breaker %q has an unknown state %q", name, r.State)
		case r.Failures < 0:
			return StateFile{}, fmt.Sprintf("breaker %q has a negative failure count", name)
		}
	}
	return sf, ""
}

// encode renders the state file, redacting what could hold a secret: targets and
// errors lose URL userinfo and query strings.
func encode(sf StateFile) ([]byte, error) {
	out := StateFile{Version: StateFileVersion, Breakers: make(map[string]*Record, len(sf.Breakers))}
	for name, r := range sf.Breakers {
		if r == nil {
			continue
		}
		c := *r
		c.Target = redact.URL(c.Target)
		c.LastError = redact.Text(c.LastError)
		out.Breakers[name] = &c
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the breaker state: %w", err)
	}
	return append(data, '\n'), nil
}

// writeAtomic replaces path with data: a temp file in the same directory, fsync,
// mode 0600 whatever the umask or the old file's mode, rename, then an fsync of the
// directory (best effort) so that the rename itself is durable.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	t, err := renameio.NewPendingFile(path, renameio.WithTempDir(dir), renameio.WithStaticPermissions(0o600))
	if err != nil {
		return fmt.Errorf("writing the breaker state file: %w", err)
	}
	defer t.Cleanup()
	if _, err := t.Write(data); err != nil {
		return fmt.Errorf("writing the breaker state file: %w", err)
	}
	if err := t.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("writing the breaker state file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// staleTempAge is how old a temp file must be before removeStaleTemps removes it.
const staleTempAge = time.Minute

// removeStaleTemps removes the temp files that writers killed mid-write left
// behind (renameio names them ".<base><digits>"), once per Store. It runs under the
// lock, so no live writer of this path is writing one; the age check spares the
// temps of another state file whose name extends this one's.
func (s *Store) removeStaleTemps() {
	s.mu.Lock()
	swept := s.swept
	s.swept = true
	s.mu.Unlock()
	if swept {
		return
	}
	dir, base := filepath.Dir(s.path), filepath.Base(s.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base
	for _, e := range entries {
		name := e.Name()
		suffix, ok := strings.CutPrefix(name, prefix)
		if !ok || suffix == "" || strings.Trim(suffix, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTempAge {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
}
