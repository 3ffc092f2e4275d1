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
	utilnet "k8s.io/apimachinery/pkg/util/net"

	"github.com/dbctl-io/dbctl/phases"
)

// Transient reports whether err is worth retrying in-process: the API server or the
// network misbehaving (5xx, 429, timeouts, refused or reset connections, a
// connection lost mid-request) or an optimistic-concurrency conflict. Forbidden,
// NotFound, Invalid, apply conflicts with other tools and anything dbctl does not
// recognise are not. Errors are recognised by their types (API status codes,
// errors.Is/As on network errors), never by their text; the one exception is
// delegated to client-go's own classifiers (utilnet.IsProbableEOF,
// IsHTTP2ConnectionLost), which net/http's unexported HTTP/2 errors leave no other
// way to tell.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var (
		conflict *ConflictError
		notOwned *phases.NotOwnedError
		status   apierrors.APIStatus
		netErr   net.Error
	)
	switch {
	case errors.Is(err, errSecretRace):
		return true
	case errors.As(err, &conflict), errors.As(err, &notOwned), errors.Is(err, context.Canceled):
		return false // another applier, another owner, an interrupt: retrying changes nothing
	case errors.Is(err, context.DeadlineExceeded):
		// A request's own timeout (--request-timeout): worth another try. When it
		// is the run's deadline, the retry policy stops anyway.
		return true
	case errors.As(err, &status):
		return apierrors.IsConflict(err) || apierrors.IsTooManyRequests(err) || status.Status().Code >= 500
	case errors.As(err, &netErr):
		return true // dial, TLS handshake and read timeouts, refused and reset connections
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		utilnet.IsProbableEOF(err) || utilnet.IsHTTP2ConnectionLost(err)
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
