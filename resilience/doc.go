// Package resilience holds dbctl's stability patterns (SPEC §5): one retry policy
// with exponential backoff for every in-process retry, a rate limiter per
// dependency, and a circuit breaker per dependency whose state persists in a file
// shared by concurrent dbctl processes.
//
// Each concept has its own file:
//
//   - backoff.go: Policy.Retry, built on github.com/cenkalti/backoff/v4; it never
//     waits past the context's deadline (it returns a *DeadlineError at once instead),
//     and Permanent errors are not retried.
//   - ratelimit.go: Limiters, one golang.org/x/time/rate.Limiter per dependency name.
//   - breaker.go: Record and Settings, the breaker's pure state transitions
//     (closed → open → half-open → closed or open again), with an explicit now so
//     that every transition is testable with an injected clock.
//   - statefile.go: Store, the JSON state file: read-modify-write under an exclusive
//     lock on "<path>.lock" (github.com/gofrs/flock), atomic replace
//     (github.com/google/renameio/v2), mode 0600. A missing or corrupt file means
//     every breaker is closed.
//   - guard.go: Guard.Check composes them for one dependency check, in the SPEC's
//     order: rate limiter → circuit breaker → the check with its timeout. The file
//     lock is never held while the dependency is being called.
//   - check.go: HTTPCheck and TCPCheck, and RedactURL/RedactText, which keep URL
//     credentials and query strings out of errors and out of the state file.
//
// Zero values are usable: a zero Policy retries on the seed schedule (5s, 10s, 20s,
// 40s … at most 5m, ±20% jitter), zero Settings open a breaker after 5 consecutive
// failures for a 1m cooldown, and a nil Clock is the real clock.
package resilience
