package cmdutil

import (
	"errors"
	"fmt"

	"github.com/dbctl-io/dbctl/reconcile/exitcode"
)

// FailedError reports a Database that is Failed (exit 2).
type FailedError struct{ Err error }

func (e *FailedError) Error() string { return e.Err.Error() }
func (e *FailedError) Unwrap() error { return e.Err }

// RetryableError reports a stop that a later run can get past (exit 3).
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// SilentError carries an exit code whose meaning the command already printed
// (e.g. plan --detailed-exitcode with changes, status of a Database not Ready).
type SilentError struct{ Code exitcode.Code }

func (e *SilentError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// FlagError is a usage error: a bad flag or argument combination (exit 1, with a
// hint to --help).
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf builds a FlagError.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by a command to the process exit code: the one
// place errors become exit codes.
func ExitCode(err error) exitcode.Code {
	var (
		silent *SilentError
		failed *FailedError
		retry  *RetryableError
	)
	switch {
	case err == nil:
		return exitcode.OK
	case errors.As(err, &silent):
		return silent.Code
	case errors.As(err, &failed):
		return exitcode.Failed
	case errors.As(err, &retry):
		return exitcode.Retryable
	default:
		return exitcode.Error
	}
}
