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

	"github.com/dbctl-io/dbctl/reconcile/kube"
)

func TestTransient(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "statefulsets"}
	tests := map[string]struct {
		err  error
		want bool
	}{
		"nil":                  {nil, false},
		"500":                  {apierrors.NewInternalError(errors.New("boom")), true},
		"503":                  {apierrors.NewServiceUnavailable("busy"), true},
		"429":                  {apierrors.NewTooManyRequests("slow down", 1), true},
		"504 timeout":          {apierrors.NewTimeoutError("slow", 1), true},
		"server timeout":       {apierrors.NewServerTimeout(gr, "patch", 1), true},
		"optimistic conflict":  {apierrors.NewConflict(gr, "orders", errors.New("the object has been modified")), true},
		"connection refused":   {fmt.Errorf("get: %w", syscall.ECONNREFUSED), true},
		"connection reset":     {&net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		"unexpected EOF":       {fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		"a secret race":        {errSecretRace, true},
		"forbidden":            {apierrors.NewForbidden(gr, "orders", errors.New("no")), false},
		"not found":            {apierrors.NewNotFound(gr, "orders"), false},
		"crd missing":          {kube.ErrCRDMissing, false},
		"invalid":              {apierrors.NewInvalid(schema.GroupKind{Kind: "StatefulSet"}, "orders", nil), false},
		"bad request":          {apierrors.NewBadRequest("no"), false},
		"apply conflict":       {&ConflictError{Kind: "StatefulSet", Conflicts: []string{"argocd: .spec.replicas"}}, false},
		"not owned":            {&NotOwnedError{Kind: "Service"}, false},
		"a request timeout":    {fmt.Errorf("get: %w", context.DeadlineExceeded), true},
		"canceled":             {fmt.Errorf("x: %w", context.Canceled), false},
		"something unexpected": {errors.New("decoding: invalid character"), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Transient(tc.err); got != tc.want {
				t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
