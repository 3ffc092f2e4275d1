package planfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/reconcile/render"
)

// File is a saved plan: the JSON plan (render.PlanDocument, its fields at the top
// level) and the saved section.
type File struct {
	render.PlanDocument
	Saved *Saved `json:"saved"`
}

// Saved is what reconcile --plan checks before it writes anything.
type Saved struct {
	// DbctlVersion and Commit are the dbctl that made the plan: another dbctl may
	// plan differently, so it applies only with the same one.
	DbctlVersion string `json:"dbctlVersion"`
	Commit       string `json:"commit,omitempty"`
	// CreatedAt is when the plan was made (information only: a plan does not
	// expire, its preconditions say whether it still holds).
	CreatedAt time.Time `json:"createdAt"`
	// Server is the API server the plan was computed against (no credentials): a
	// plan applies to that cluster only.
	Server string `json:"server"`
	// ForceConflicts is true for a plan made with --force-conflicts: reconcile
	// --plan then takes the fields the plan lists, and only with it.
	ForceConflicts bool `json:"forceConflicts"`
	// Databases are the preconditions of every Database of the plan.
	Databases []reconcile.SavedDatabase `json:"databases"`
}

// Version is dbctl's version and commit, as Saved records them.
type Version struct{ Version, Commit string }

func (v Version) String() string {
	if v.Commit == "" {
		return v.Version
	}
	return v.Version + " (commit " + v.Commit + ")"
}

// Write writes f to path, readable by its owner only (0600), replacing any file
// there only once the whole plan is written.
func Write(path string, f *File) error {
	var buf bytes.Buffer
	if err := render.WriteJSON(&buf, f); err != nil {
		return fmt.Errorf("encoding the plan: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".dbctl-plan-*")
	if err != nil {
		return fmt.Errorf("writing the plan %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the plan %s: %w", path, err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the plan %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the plan %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing the plan %s: %w", path, err)
	}
	return nil
}

// Read reads the saved plan at path and checks that it is one: a JSON plan of a
// known format with a saved section.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("plan file %s does not exist", path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the plan %s: %w", path, err)
	}
	f := &File{}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(f); err != nil {
		return nil, fmt.Errorf("%s is not a dbctl plan: %v", path, err)
	}
	switch {
	case f.FormatVersion == 0:
		return nil, fmt.Errorf("%s is not a dbctl plan: formatVersion is missing", path)
	case f.FormatVersion != render.PlanFormatVersion:
		return nil, fmt.Errorf("%s: formatVersion is %d, this dbctl reads %d: plan again with this dbctl", path, f.FormatVersion, render.PlanFormatVersion)
	case f.Saved == nil:
		return nil, fmt.Errorf("%s: saved is missing: the plan was written by plan -o json, not plan --out FILE, and cannot be applied", path)
	case f.Offline:
		return nil, fmt.Errorf("%s: offline is true: an offline plan is not computed from the cluster and cannot be applied", path)
	case len(f.Saved.Databases) != len(f.Databases):
		return nil, fmt.Errorf("%s: saved.databases has %d Databases, databases %d: the file was edited", path, len(f.Saved.Databases), len(f.Databases))
	}
	for i, d := range f.Saved.Databases {
		if d.Namespace == "" || d.Name == "" {
			return nil, fmt.Errorf("%s: saved.databases[%d]: namespace and name are required", path, i)
		}
		if d.Namespace != f.Databases[i].Namespace || d.Name != f.Databases[i].Name {
			return nil, fmt.Errorf("%s: saved.databases[%d] is %s/%s, databases[%d] %s/%s: the file was edited",
				path, i, d.Namespace, d.Name, i, f.Databases[i].Namespace, f.Databases[i].Name)
		}
	}
	return f, nil
}

// Check checks that the plan can be applied by dbctl v against server: the same
// dbctl, the same cluster, and no Database whose plan was refused.
func (f *File) Check(path string, v Version, server string) error {
	made := Version{Version: f.Saved.DbctlVersion, Commit: f.Saved.Commit}
	if made != v {
		return fmt.Errorf("%s was planned by dbctl %s, this is dbctl %s: another version may reconcile differently; plan again with this dbctl", path, made, v)
	}
	if f.Saved.Server != server {
		return fmt.Errorf("%s was planned against the API server %s, this run talks to %s: plan again against this cluster", path, f.Saved.Server, server)
	}
	for _, d := range f.Databases {
		if d.Refused != nil {
			return fmt.Errorf("%s: Database %s/%s was refused by the plan (%s): it cannot be applied", path, d.Namespace, d.Name, *d.Refused)
		}
	}
	return nil
}

// Find returns the preconditions of Database namespace/name, nil when the plan
// does not contain it.
func (f *File) Find(namespace, name string) *reconcile.SavedDatabase {
	for i := range f.Saved.Databases {
		if d := &f.Saved.Databases[i]; d.Namespace == namespace && d.Name == name {
			return d
		}
	}
	return nil
}
