package render

import (
	"testing"

	"github.com/dbctl-io/dbctl/reconcile"
)

func TestFieldText(t *testing.T) {
	for _, tc := range []struct {
		kind string
		f    reconcile.FieldChange
		want string
	}{
		{"StatefulSet", reconcile.FieldChange{Path: "spec.replicas", Old: "3", New: "1"}, "spec.replicas: 3 → 1"},
		{"StatefulSet", reconcile.FieldChange{Path: "spec.minReadySeconds", New: "5"}, "spec.minReadySeconds: (absent) → 5"},
		{"StatefulSet", reconcile.FieldChange{Path: "spec.minReadySeconds", Old: "5"}, "spec.minReadySeconds: 5 → (absent)"},
		{"ConfigMap", reconcile.FieldChange{Path: "data.postgresql.conf", Old: "a\nb\n", New: "a\nc\n"}, "data.postgresql.conf: (changed, see diff)"},
		{"Secret", reconcile.FieldChange{Path: "data.username", Old: reconcile.SensitiveChanged, New: reconcile.SensitiveChanged, Sensitive: true},
			"data.username: (sensitive value changed)"},
		{"Secret", reconcile.FieldChange{Path: "data.extra", New: reconcile.SensitiveValue, Sensitive: true},
			"data.extra: (absent) → (sensitive value)"},
		// A last check: a Secret's data that is not masked never shows.
		{"Secret", reconcile.FieldChange{Path: "data.password", Old: "czNjcjN0", New: "bjN3"}, "data.password: (sensitive value changed)"},
		{"Secret", reconcile.FieldChange{Path: "data", Old: "{password: czNjcjN0}"}, "data: (sensitive value changed) → (absent)"},
	} {
		if got := fieldText(tc.kind, tc.f); got != tc.want {
			t.Errorf("fieldText(%s, %+v) = %q, want %q", tc.kind, tc.f, got, tc.want)
		}
	}
}
