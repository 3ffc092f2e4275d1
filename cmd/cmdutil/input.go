package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/reconcile/kube"
	"github.com/dbctl-io/dbctl/reconcile/load"
)

// InputOptions select the Databases a command works on (SPEC §4 Input): files
// (-f FILE|DIR|-), NAMEs read from the cluster, or --all / -A.
type InputOptions struct {
	Filenames     []string
	All           bool
	AllNamespaces bool
}

// AddFlags adds -f, --all and -A to cmd.
func (o *InputOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&o.Filenames, "filename", "f", nil,
		"Database specs: a file, a directory (*.yaml, *.yml, *.json) or - for stdin; repeatable")
	cmd.Flags().BoolVar(&o.All, "all", false, "every Database in the namespace")
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "every Database in every namespace")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
}

// Validate checks that exactly one way of selecting Databases is used.
func (o *InputOptions) Validate(args []string) error {
	n := 0
	for _, used := range []bool{len(o.Filenames) > 0, len(args) > 0, o.All || o.AllNamespaces} {
		if used {
			n++
		}
	}
	switch {
	case n == 0:
		return FlagErrorf("name the Databases: -f FILE|DIR|-, NAME..., --all or -A")
	case n > 1:
		return FlagErrorf("use only one of -f, NAME arguments, and --all/-A")
	}
	return nil
}

// FromFiles reports whether the Databases come from files.
func (o *InputOptions) FromFiles() bool { return len(o.Filenames) > 0 }

// Load reads the files (nothing is sent to the cluster). namespace is the namespace
// for documents that name none; explicit is true when -n was given.
func (o *InputOptions) Load(io *IOStreams, namespace string, explicit bool) ([]load.Item, error) {
	return load.Load(o.Filenames, load.Options{Stdin: io.In, Namespace: namespace, NamespaceExplicit: explicit})
}

// Targets resolves the selection into reconcile targets: the loaded documents, the
// named Databases, or every Database listed from the cluster.
func (o *InputOptions) Targets(ctx context.Context, io *IOStreams, clients *Clients, args []string) ([]reconcile.Target, error) {
	switch {
	case o.FromFiles():
		items, err := o.Load(io, clients.Namespace, clients.NamespaceExplicit)
		if err != nil {
			return nil, err
		}
		out := make([]reconcile.Target, 0, len(items))
		for _, it := range items {
			out = append(out, reconcile.Target{Namespace: it.Database.Namespace, Name: it.Database.Name,
				Object: it.Object, Source: fmt.Sprintf("%s: document %d", it.Source.File, it.Source.Document),
				File: it.Source.File, Line: it.Source.Line})
		}
		return out, nil
	case len(args) > 0:
		out := make([]reconcile.Target, 0, len(args))
		seen := map[string]bool{}
		for _, a := range args {
			if seen[a] {
				continue
			}
			seen[a] = true
			out = append(out, reconcile.Target{Namespace: clients.Namespace, Name: a})
		}
		return out, nil
	default:
		return ListTargets(ctx, clients.Client, clients.Namespace, o.AllNamespaces)
	}
}

// ListTargets lists the Databases of a namespace (or every namespace), sorted.
func ListTargets(ctx context.Context, c client.Client, namespace string, allNamespaces bool) ([]reconcile.Target, error) {
	list := &v1alpha1.DatabaseList{}
	var opts []client.ListOption
	where := "in every namespace"
	if !allNamespaces {
		opts = append(opts, client.InNamespace(namespace))
		where = "in namespace " + namespace
	}
	if err := c.List(ctx, list, opts...); err != nil {
		return nil, fmt.Errorf("listing Databases %s: %w", where, kube.Explain(err))
	}
	if len(list.Items) == 0 {
		if allNamespaces {
			return nil, errors.New("no Databases found in any namespace")
		}
		return nil, fmt.Errorf("no Databases found %s", where)
	}
	out := make([]reconcile.Target, 0, len(list.Items))
	for _, db := range list.Items {
		out = append(out, reconcile.Target{Namespace: db.Namespace, Name: db.Name})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}
