// Package reconcile is dbctl's engine: it reads a Database (applying it from a file
// first when it came from one), observes its children, asks package phases for the
// next step, performs it with server-side apply, writes the status only when it
// changed, and waits (for the rollout with a watch, for a dependency with backoff,
// for a Failed Database's retry window) until the Database is Ready, Failed, or the
// run's deadline ends it with a retryable stop.
//
// Plan computes the same steps without writing anything, with server-side dry-run.
package reconcile
