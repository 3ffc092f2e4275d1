package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/dbctl-io/dbctl/phases"
	"github.com/dbctl-io/dbctl/reconcile/kube"
)

func TestTransient(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "statefulsets"}
	tests := map[string]struct {
		err  error
		want bool
	}{
		"nil":                   {nil, false},
		"500":                   {apierrors.NewInternalError(errors.New("boom")), true},
		"503":                   {apierrors.NewServiceUnavailable("busy"), true},
		"429":                   {apierrors.NewTooManyRequests("slow down", 1), true},
		"504 timeout":           {apierrors.NewTimeoutError("slow", 1), true},
		"server timeout":        {apierrors.NewServerTimeout(gr, "patch", 1), true},
		"optimistic conflict":   {apierrors.NewConflict(gr, "orders", errors.New("the object has been modified")), true},
		"connection refused":    {fmt.Errorf("get: %w", syscall.ECONNREFUSED), true},
		"connection reset":      {&net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		"unexpected EOF":        {fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		"a secret race":         {errSecretRace, true},
		"forbidden":             {apierrors.NewForbidden(gr, "orders", errors.New("no")), false},
		"not found":             {apierrors.NewNotFound(gr, "orders"), false},
		"crd missing":           {kube.ErrCRDMissing, false},
		"invalid":               {apierrors.NewInvalid(schema.GroupKind{Kind: "StatefulSet"}, "orders", nil), false},
		"bad request":           {apierrors.NewBadRequest("no"), false},
		"apply conflict":        {&ConflictError{Kind: "StatefulSet", Conflicts: []string{"argocd: .spec.replicas"}}, false},
		"not owned":             {&phases.NotOwnedError{Kind: "Service"}, false},
		"an EOF in a message":   {errors.New("decoding manifest: unexpected EOF in YAML"), false},
		"http2 connection lost": {fmt.Errorf("get: %w", errors.New("http2: client connection lost")), true},
		"a request timeout":     {fmt.Errorf("get: %w", context.DeadlineExceeded), true},
		"canceled":              {fmt.Errorf("x: %w", context.Canceled), false},
		"something unexpected":  {errors.New("decoding: invalid character"), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Transient(tc.err); got != tc.want {
				t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestSpecRejected(t *testing.T) {
	gk := schema.GroupKind{Group: "dbctl.io", Kind: "Database"}
	invalid := apierrors.NewInvalid(gk, "orders", field.ErrorList{
		field.Invalid(field.NewPath("spec", "engine"), "mysql", "engine is immutable"),
		field.Invalid(field.NewPath("spec", "replicas"), 12, "must be at most 9"),
	})
	wrapped := fmt.Errorf("applying Database shop/orders: %w", invalid)
	fromFile := Target{Namespace: "shop", Name: "orders", Source: "db.yaml: document 2"}
	tests := map[string]struct {
		t    Target
		err  error
		want string
	}{
		"from a file": {fromFile, wrapped, "db.yaml: document 2: spec.engine: Invalid value: \"mysql\": engine is immutable\n" +
			"db.yaml: document 2: spec.replicas: Invalid value: 12: must be at most 9"},
		"from the cluster": {Target{Namespace: "shop", Name: "orders"}, wrapped, wrapped.Error()},
		"not invalid":      {fromFile, apierrors.NewForbidden(schema.GroupResource{Group: "dbctl.io", Resource: "databases"}, "orders", errors.New("no")), ""},
		"no causes":        {fromFile, apierrors.NewInvalid(gk, "orders", nil), ""},
	}
	for name, tc := range tests {
		got := specRejected(tc.t, tc.err)
		want := tc.want
		if want == "" {
			want = tc.err.Error()
		}
		if got.Error() != want {
			t.Errorf("%s: specRejected =\n%s\nwant\n%s", name, got, want)
		}
		if !errors.Is(got, tc.err) && !errors.Is(got, invalid) {
			t.Errorf("%s: the API error is lost", name)
		}
	}
}
