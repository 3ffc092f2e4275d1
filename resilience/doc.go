// Package resilience holds dbctl's stability patterns (SPEC §5): one retry policy
// with exponential backoff for every in-process retry, a rate limiter per
// dependency, and a circuit breaker per dependency whose state persists in a file
// or a ConfigMap shared by concurrent dbctl processes.
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
//   - store.go: StateStore, what the breakers ask of the place their state is kept
//     (Load, Update, Reset, ResetAll, Location), and the guarantees every store
//     gives: a missing or corrupt state means every breaker is closed (a corrupt one
//     is reported and rewritten), and concurrent updates are never lost.
//   - statefile.go: Store, the JSON state file: read-modify-write under an exclusive
//     lock on "<path>.lock" (github.com/gofrs/flock), atomic replace
//     (github.com/google/renameio/v2), mode 0600.
//   - clusterstore.go: ClusterStore, the same JSON in a ConfigMap (key
//     breakers.json): read-modify-write with the ConfigMap's resourceVersion as the
//     precondition, retried on conflict; created on first write.
//   - guard.go: Guard.Check composes them for one dependency check, in the SPEC's
//     order: rate limiter → circuit breaker → the check with its timeout. The
//     store is never called (nor the file lock held) while the dependency is being
//     called.
//   - check.go: HTTPCheck and TCPCheck, and RedactURL/RedactText, which keep URL
//     credentials and query strings out of errors and out of the state file.
//
// Zero values are usable: a zero Policy retries on the seed schedule (5s, 10s, 20s,
// 40s … at most 5m, ±20% jitter), zero Settings open a breaker after 5 consecutive
// failures for a 1m cooldown, and a nil Clock is the real clock.
package resilience
