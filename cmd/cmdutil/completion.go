package cmdutil

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// completionTimeout bounds the cluster request behind a <TAB>.
const completionTimeout = 5 * time.Second

// CompleteDatabaseNames completes NAME arguments with the Databases of the
// namespace (-n, else the kubeconfig's), read from the cluster; names already given
// are left out. Without a cluster it offers nothing (and no file names).
func CompleteDatabaseNames(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		clients, err := f.Clients()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		list := &v1alpha1.DatabaseList{}
		if err := clients.Client.List(ctx, list, client.InNamespace(clients.Namespace)); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		given := map[string]bool{}
		for _, a := range args {
			given[a] = true
		}
		var out []cobra.Completion
		for _, db := range list.Items {
			if !given[db.Name] && strings.HasPrefix(db.Name, toComplete) {
				out = append(out, cobra.CompletionWithDesc(db.Name, string(db.Status.Phase)))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteNamespaces completes -n with the cluster's namespaces.
func CompleteNamespaces(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		clients, err := f.Clients()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		list := &corev1.NamespaceList{}
		if err := clients.Client.List(ctx, list); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, ns := range list.Items {
			if strings.HasPrefix(ns.Name, toComplete) {
				out = append(out, ns.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
