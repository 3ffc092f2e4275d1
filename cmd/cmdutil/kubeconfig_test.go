package cmdutil

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// TestClientsNeedACluster: without a cluster for the context, client-go would fall
// back to http://localhost:8080 and a reconcile would retry "connection refused"
// for its whole --timeout; dbctl says at once that no cluster is configured.
func TestClientsNeedACluster(t *testing.T) {
	const clusters = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: "https://10.0.0.1:6443"}
- name: local
  cluster: {server: "http://localhost:8080"}
contexts:
- name: prod
  context: {cluster: prod, namespace: shop}
- name: local
  context: {cluster: local}
`
	tests := map[string]struct {
		kubeconfig    string // file content; "-" for no file at all
		context       string
		cluster       string
		server        string
		env           map[string]string
		wantHost      string // empty: ErrNoCluster
		wantNamespace string
	}{
		"no kubeconfig file":           {kubeconfig: "-"},
		"an empty kubeconfig":          {kubeconfig: "apiVersion: v1\nkind: Config\n"},
		"no current context":           {kubeconfig: clusters},
		"--context":                    {kubeconfig: clusters, context: "prod", wantHost: "https://10.0.0.1:6443", wantNamespace: "shop"},
		"current context":              {kubeconfig: clusters + "current-context: prod\n", wantHost: "https://10.0.0.1:6443", wantNamespace: "shop"},
		"a cluster at the old default": {kubeconfig: clusters + "current-context: local\n", wantHost: "http://localhost:8080", wantNamespace: "default"},
		"--cluster at the old default": {kubeconfig: clusters, cluster: "local", wantHost: "http://localhost:8080", wantNamespace: "default"},
		"--server without kubeconfig":  {kubeconfig: "-", server: "https://10.0.0.2", wantHost: "https://10.0.0.2", wantNamespace: "default"},
		"KUBERNETES_MASTER":            {kubeconfig: "-", env: map[string]string{"KUBERNETES_MASTER": "http://localhost:8080"}, wantHost: "http://localhost:8080", wantNamespace: "default"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config")
			if tc.kubeconfig != "-" {
				if err := os.WriteFile(path, []byte(tc.kubeconfig), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// No ~/.kube/config, $KUBECONFIG or in-cluster environment from the machine.
			t.Setenv("HOME", dir)
			t.Setenv("KUBECONFIG", "")
			t.Setenv("KUBERNETES_SERVICE_HOST", "")
			t.Setenv("KUBERNETES_SERVICE_PORT", "")
			flags := genericclioptions.NewConfigFlags(false)
			if tc.kubeconfig != "-" {
				*flags.KubeConfig = path
			}
			*flags.Context, *flags.ClusterName, *flags.APIServer = tc.context, tc.cluster, tc.server
			qps, burst := float32(5), 10
			f := &Factory{ConfigFlags: flags, QPS: &qps, Burst: &burst, Getenv: func(k string) string { return tc.env[k] }}
			c, err := f.buildClients()
			if tc.wantHost == "" {
				if !errors.Is(err, ErrNoCluster) {
					t.Fatalf("buildClients = %v, want ErrNoCluster", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("buildClients: %v", err)
			}
			if c.Config.Host != tc.wantHost || c.Namespace != tc.wantNamespace {
				t.Fatalf("host %q namespace %q, want %q %q", c.Config.Host, c.Namespace, tc.wantHost, tc.wantNamespace)
			}
		})
	}
}
