package cmdutil

import (
	"errors"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ErrNoCluster is returned when neither a kubeconfig, --server nor the in-cluster
// environment names a cluster.
var ErrNoCluster = errors.New("no cluster configured: set --kubeconfig, KUBECONFIG or ~/.kube/config " +
	"(or --context when the kubeconfig has no current context); plan --offline needs none")

// checkConfigured returns ErrNoCluster when cfg is client-go's legacy fallback:
// with no kubeconfig cluster for the context (no file, an empty one, or no current
// context) and no --server, client-go (like kubectl) sends every request to
// http://localhost:8080, and a reconcile would retry "connection refused" until
// its --timeout. A cluster that the kubeconfig, --server, $KUBERNETES_MASTER or the
// in-cluster environment names, even at that address, is used as is. context and
// cluster are the --context and --cluster flags.
func checkConfigured(cfg *rest.Config, raw clientcmdapi.Config, server, context, cluster string, getenv func(string) string) error {
	if server != "" || getenv("KUBERNETES_MASTER") != "" || cfg.Host != clientcmd.ClusterDefaults.Server {
		return nil
	}
	if context == "" {
		context = raw.CurrentContext
	}
	if cluster == "" {
		if c := raw.Contexts[context]; c != nil {
			cluster = c.Cluster
		}
	}
	if c := raw.Clusters[cluster]; c != nil && c.Server != "" {
		return nil
	}
	return ErrNoCluster
}

func isEmptyConfig(err error) bool {
	return clientcmd.IsEmptyConfig(err)
}
