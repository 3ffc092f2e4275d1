package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Transient reports whether err is worth retrying in-process: the API server or the
// network misbehaving (5xx, 429, timeouts, refused or reset connections) or an
// optimistic-concurrency conflict. Forbidden, NotFound, Invalid, apply conflicts
// with other tools and anything dbctl does not recognise are not.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errSecretRace) {
		return true
	}
	var conflict *ConflictError
	var notOwned *NotOwnedError
	if errors.As(err, &conflict) || errors.As(err, &notOwned) {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false // interrupted: the run is over
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// A request's own timeout (--request-timeout): worth another try. When it
		// is the run's deadline, the retry policy stops anyway.
		return true
	}
	switch {
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err),
		apierrors.IsConflict(err):
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Code >= 500
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset", "http2: client connection lost",
		"TLS handshake timeout", "i/o timeout", "EOF", "server is currently unable", "etcdserver"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// specRejected names the file, document and field of a Database from a file that
// the API server rejected as invalid (a rule only it can check, such as the engine
// being immutable), as the loader's errors do: "db.yaml: document 2: spec.engine:
// Invalid value: "mysql": engine is immutable". Other errors are returned as they are.
func specRejected(t Target, err error) error {
	var status apierrors.APIStatus
	if t.Source == "" || !apierrors.IsInvalid(err) || !errors.As(err, &status) {
		return err
	}
	var lines []string
	if d := status.Status().Details; d != nil {
		for _, c := range d.Causes {
			if c.Field != "" && c.Message != "" {
				lines = append(lines, fmt.Sprintf("%s: %s: %s", t.Source, c.Field, c.Message))
			}
		}
	}
	if len(lines) == 0 {
		return err
	}
	return &SpecError{Lines: lines, Err: err}
}

// SpecError is a Database spec the API server rejected, one line per field.
type SpecError struct {
	Lines []string
	Err   error
}

func (e *SpecError) Error() string { return strings.Join(e.Lines, "\n") }
func (e *SpecError) Unwrap() error { return e.Err }
