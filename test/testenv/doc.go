// Package testenv starts a real kube-apiserver and etcd for integration tests
// (sigs.k8s.io/controller-runtime/pkg/envtest), with the Database CRD installed from
// config/crd/bases.
//
// The binaries are the ones hack/k8s-tools.sh builds from the Go module proxy (`make
// tools`); envtest never downloads anything. KUBEBUILDER_ASSETS, when set, names another
// directory holding kube-apiserver and etcd. When the binaries are missing the test
// FAILS (it is never skipped) and says to run `make tools`.
//
// One environment per test package, started in TestMain:
//
//	var env *testenv.Env
//
//	func TestMain(m *testing.M) {
//		var stop func()
//		env, stop = testenv.Shared(m)
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
//
// or one per test with Start(t), stopped by t.Cleanup. An environment starts in about
// 2–3 s. Only the API server runs: no controllers (a StatefulSet never gets pods, a
// deleted namespace stays Terminating), so tests that need a rollout set the
// StatefulSet's status themselves or run against the kwok cluster of test/e2e.
//
// The control plane processes are stopped even when the test binary does not get to
// run its cleanup (a panic, `go test -timeout`, Ctrl-C, SIGKILL): see OnExit.
package testenv
