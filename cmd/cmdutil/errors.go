package cmdutil

import (
	"errors"
	"fmt"
)

// Exit codes (SPEC §4). They are mapped from errors in one place: ExitCode.
const (
	// ExitOK: success; for reconcile and status, the Database is Ready.
	ExitOK = 0
	// ExitError: bad input, a cluster error that is not retryable, anything unexpected.
	ExitError = 1
	// ExitFailed: a Database is Failed and needs a person. For plan with
	// --detailed-exitcode it means "there are changes".
	ExitFailed = 2
	// ExitRetryable: a retryable stop: not Ready yet, a dependency unavailable, a
	// circuit open, a backoff window not over, a timeout, an interrupt.
	ExitRetryable = 3
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
type SilentError struct{ Code int }

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

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var silent *SilentError
	if errors.As(err, &silent) {
		return silent.Code
	}
	var failed *FailedError
	var retry *RetryableError
	switch {
	case errors.As(err, &failed):
		return ExitFailed
	case errors.As(err, &retry):
		return ExitRetryable
	default:
		return ExitError
	}
}

// Severity orders exit codes for a run over several Databases: the result is the
// most severe of theirs, 1 > 2 > 3 > 0 (SPEC §4).
func Severity(code int) int {
	switch code {
	case ExitError:
		return 3
	case ExitFailed:
		return 2
	case ExitRetryable:
		return 1
	case ExitOK:
		return 0
	default:
		return 4 // an unknown code is treated as the most severe
	}
}

// WorstExitCode returns the most severe of the codes (ExitOK for none).
func WorstExitCode(codes ...int) int {
	worst := ExitOK
	for _, c := range codes {
		if Severity(c) > Severity(worst) {
			worst = c
		}
	}
	return worst
}
