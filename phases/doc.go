// Package phases is the Database state machine (SPEC §3) and the child objects each
// phase owns (SPEC §2). Everything here is pure: given a Database and an Observation
// of the cluster, Decide says what the next step is. The engine in package reconcile
// gathers observations, performs the step's actions and writes the status.
//
// One file per phase (pending.go … failed.go) holds that phase's decision and the
// objects it builds; machine.go holds the transitions and the re-derivation of the
// current phase from live state.
package phases
