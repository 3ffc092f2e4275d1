package cmdutil

import "k8s.io/client-go/tools/clientcmd"

func isEmptyConfig(err error) bool {
	return clientcmd.IsEmptyConfig(err)
}
