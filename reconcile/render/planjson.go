package render

import (
	"encoding/json"
	"io"

	"github.com/dbctl-io/dbctl/reconcile"
)

// PlanFormatVersion is the formatVersion of `dbctl plan -o json`
// (docs/plan-format.md). It changes only when a field is removed or changes
// meaning; new fields may be added within a version. Version 2: a spec reconcile
// would refuse is a Database with "refused" (version 1 had only an error), and
// changes carry their cost.
const PlanFormatVersion = 2

// PlanDocument is the JSON plan of one run.
type PlanDocument struct {
	FormatVersion int `json:"formatVersion"`
	// Offline is true for `plan --offline`.
	Offline   bool           `json:"offline"`
	Databases []PlanDatabase `json:"databases"`
	// Errors are the Databases that could not be planned.
	Errors []PlanError `json:"errors"`
	// Counts add up the Databases' counts.
	Counts Counts `json:"counts"`
	// HasChanges is true when any Database has changes (--detailed-exitcode 2).
	HasChanges bool `json:"hasChanges"`
}

// PlanDatabase is the plan of one Database.
type PlanDatabase struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Source is "file: document N", "" for a Database read from the cluster.
	Source string `json:"source"`
	// New is true when the Database does not exist yet.
	New     bool `json:"new"`
	Offline bool `json:"offline"`
	// Phase is the phase now; Path the phases reconcile would go through.
	Phase string   `json:"phase"`
	Path  []string `json:"path"`
	Notes []string `json:"notes"`
	// Refused says why reconcile would refuse the spec before any write, and what
	// to do instead; null when it would not.
	Refused *string `json:"refused"`
	// Database is the change to the Database object itself (not counted).
	Database   ChangeJSON   `json:"database"`
	Changes    []ChangeJSON `json:"changes"`
	Counts     Counts       `json:"counts"`
	HasChanges bool         `json:"hasChanges"`
}

// ChangeJSON is one object's change.
type ChangeJSON struct {
	Action    string `json:"action"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Phase is the phase that applies it; "" for the Database itself.
	Phase  string      `json:"phase"`
	Fields []FieldJSON `json:"fields"`
	// Conflict names the fields another applier owns, as "manager: .field"
	// pairs; null when there is none.
	Conflict *string `json:"conflict"`
	// Before and After are the live and the resulting object, cleaned of server
	// noise, Secret values masked; null when absent (a create, a delete) or not
	// known (the Database read from the cluster).
	Before map[string]any `json:"before"`
	After  map[string]any `json:"after"`
	// Cost is the change's effects on the running pods, most significant first;
	// empty when none. Summary says them in words.
	Cost        []reconcile.Effect `json:"cost"`
	CostSummary string             `json:"costSummary"`
}

// FieldJSON is one changed field of an update. Old and New are null when the field
// is absent on that side; for a Secret's data they are placeholders.
type FieldJSON struct {
	Path      string  `json:"path"`
	Old       *string `json:"old"`
	New       *string `json:"new"`
	Sensitive bool    `json:"sensitive"`
}

// PlanError is a Database whose plan failed.
type PlanError struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Source    string `json:"source"`
	Message   string `json:"message"`
	// File and Line locate the spec, for CI annotations (not in the JSON format).
	File string `json:"-"`
	Line int    `json:"-"`
}

// NewPlanDocument builds the JSON plan of the plans and the errors.
func NewPlanDocument(plans []*reconcile.Plan, errs []PlanError, offline bool) PlanDocument {
	doc := PlanDocument{FormatVersion: PlanFormatVersion, Offline: offline, Databases: []PlanDatabase{}, Errors: []PlanError{}}
	doc.Errors = append(doc.Errors, errs...)
	for _, p := range plans {
		d := PlanDatabase{Namespace: p.Namespace, Name: p.Name, Source: p.Source, New: p.New, Offline: p.Offline,
			Phase: string(p.Phase), Path: []string{}, Notes: []string{}, Changes: []ChangeJSON{},
			Counts: CountsOf(p), HasChanges: p.HasChanges()}
		for _, ph := range p.Path {
			d.Path = append(d.Path, string(ph))
		}
		if len(d.Path) == 0 {
			d.Path = append(d.Path, d.Phase)
		}
		if p.Offline {
			d.Notes = append(d.Notes, "offline: rendered against an empty cluster, without cluster access")
		}
		if p.Refused != "" {
			refused := p.Refused
			d.Refused = &refused
		}
		d.Notes = append(d.Notes, p.Notes...)
		db := p.Database
		if db.Action == "" {
			db.Action = reconcile.ActionUnchanged
		}
		if db.Kind == "" {
			db.Kind, db.Namespace, db.Name = "Database", p.Namespace, p.Name
		}
		d.Database = changeJSON(db)
		for _, c := range p.Changes {
			d.Changes = append(d.Changes, changeJSON(c))
		}
		doc.Databases = append(doc.Databases, d)
		doc.Counts = doc.Counts.Plus(d.Counts)
		doc.HasChanges = doc.HasChanges || d.HasChanges
	}
	return doc
}

func changeJSON(c reconcile.Change) ChangeJSON {
	out := ChangeJSON{Action: string(c.Action), Kind: c.Kind, Namespace: c.Namespace, Name: c.Name,
		Phase: string(c.Phase), Fields: []FieldJSON{}, Cost: append([]reconcile.Effect{}, c.Cost...),
		CostSummary: reconcile.CostText(c.Cost)}
	if c.Conflict != "" {
		conflict := c.Conflict
		out.Conflict = &conflict
	}
	for _, f := range c.Fields {
		f = sensitive(c.Kind, f)
		fj := FieldJSON{Path: f.Path, Sensitive: f.Sensitive}
		if f.Old != "" {
			old := f.Old
			fj.Old = &old
		}
		if f.New != "" {
			nw := f.New
			fj.New = &nw
		}
		out.Fields = append(out.Fields, fj)
	}
	before, after := displayObjects(c)
	if before != nil {
		out.Before = before.Object
	}
	if after != nil {
		out.After = after.Object
	}
	return out
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
