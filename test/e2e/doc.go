// Package e2e holds dbctl's end-to-end tests: the dbctl binary, built once per run,
// against a throwaway kwok cluster (hack/cluster.sh: a real kube-apiserver,
// kube-controller-manager and kube-scheduler, kwok simulating nodes and pods, PVCs
// provisioned at once), so StatefulSets really roll out.
//
// Run them with
//
//	make test-e2e        # = make tools; go test -tags e2e -count=1 -v ./test/e2e/...
//
// Every test file carries the build tag `e2e` (//go:build e2e), so `go test ./...`
// (make test) and `go vet ./...` skip them: they need the binaries of `make tools` and
// start a cluster, ~5 s plus the build of dbctl. Without the binaries they fail (they
// are never skipped) and say to run `make tools`.
//
// TestMain builds bin/dbctl into a temporary directory, starts a cluster named
// e2e-<pid>-<random> (so that runs, and a developer's own `dbctl` cluster, coexist)
// and deletes it at the end. A watchdog deletes it too when the test binary dies
// without cleaning up (a panic, `go test -timeout`, Ctrl-C, SIGKILL): see
// testenv.OnExit. Environment:
//
//	DBCTL_E2E_KEEP=1          keep the cluster at the end (its name and kubeconfig are printed;
//	                          delete it with DBCTL_CLUSTER=<name> hack/cluster.sh down)
//	DBCTL_E2E_CLUSTER=<name>  use (or create) the cluster <name> and keep it: fast reruns
//
// Helpers for tests: runDbctl (the binary with --kubeconfig), kubectl, newClient,
// namespace (a fresh namespace, deleted after the test); for reconcile tests
// (reconcile_helpers_test.go) runReconcile (parses -o json), resourceVersions,
// watchDatabase, cordonAll. Every dbctl output is recorded: no password read from a
// credentials Secret (getSecret, password) may appear in any of them, checked at the
// end of each test and of the run (SPEC §6). Before `dbctl install`, TestMain runs
// `dbctl reconcile` once from a file and once by name, for TestReconcileWithoutCRD,
// then installs the CRD for every test.
//
// Tests that cordon the nodes do not call t.Parallel: they run alone, before the
// parallel tests (which call t.Parallel first) start.
package e2e
