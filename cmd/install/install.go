// Package install implements `dbctl install`: server-side apply of the Database CRD.
package install

import (
	"context"
	"errors"
	"fmt"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/spf13/cobra"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/config"
	"github.com/dbctl-io/dbctl/reconcile/kube"
)

// Options of `dbctl install`.
type Options struct {
	IO      *cmdutil.IOStreams
	Clients func() (*cmdutil.Clients, error)

	Print          bool
	Timeout        time.Duration
	ForceConflicts bool
}

// NewCmdInstall builds `dbctl install`. runF replaces run in tests.
func NewCmdInstall(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Clients: f.Clients}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install or upgrade the Database CRD in the cluster",
		Long: `Server-side applies the Database CustomResourceDefinition (field manager "dbctl")
and waits until the API server has established it. Running it again changes nothing.
With --print, writes the CRD YAML to stdout and does not contact the cluster.`,
		Example: `  dbctl install
  dbctl install --print > crd.yaml`,
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Print, "print", false, "write the CRD YAML to stdout instead of applying it")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", time.Minute, "how long to wait for the CRD to be established")
	cmd.Flags().BoolVar(&opts.ForceConflicts, "force-conflicts", false, "take ownership of fields another field manager owns")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	if opts.Print {
		_, err := opts.IO.Out.Write(config.CRD)
		return err
	}
	clients, err := opts.Clients()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	result, crd, err := Apply(ctx, clients.Client, opts.ForceConflicts)
	if err != nil {
		return err
	}
	if err := WaitEstablished(ctx, clients.Client, crd); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "customresourcedefinition.apiextensions.k8s.io/%s %s\n", crd.GetName(), result)
	return nil
}

// CRDName is the name of the Database CRD.
const CRDName = "databases.dbctl.io"

// Apply server-side applies the embedded CRD. The result is "created", "configured"
// or "unchanged" (the resourceVersion did not move).
func Apply(ctx context.Context, c client.Client, force bool) (string, *unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(config.CRD, &obj.Object); err != nil {
		return "", nil, fmt.Errorf("decoding the embedded CRD: %w", err)
	}
	before := &metav1.PartialObjectMetadata{}
	before.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	existed := true
	if err := c.Get(ctx, client.ObjectKey{Name: obj.GetName()}, before); err != nil {
		if !apierrors.IsNotFound(err) {
			return "", nil, fmt.Errorf("reading CustomResourceDefinition %s: %w", obj.GetName(), kube.Explain(err))
		}
		existed = false
	}
	applyOpts := []client.ApplyOption{client.FieldOwner(kube.FieldManager)}
	if force {
		applyOpts = append(applyOpts, client.ForceOwnership)
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), applyOpts...); err != nil {
		return "", nil, fmt.Errorf("applying CustomResourceDefinition %s: %w", obj.GetName(), kube.Explain(err))
	}
	switch {
	case !existed:
		return "created", obj, nil
	case before.GetResourceVersion() == obj.GetResourceVersion():
		return "unchanged", obj, nil
	default:
		return "configured", obj, nil
	}
}

// WaitEstablished waits, with a watch, until the CRD's Established condition is True.
func WaitEstablished(ctx context.Context, c client.WithWatch, crd *unstructured.Unstructured) error {
	if done, err := established(crd); done || err != nil {
		return err
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinitionList"))
	w, err := c.Watch(ctx, list, &client.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", crd.GetName()),
		Raw:           &metav1.ListOptions{ResourceVersion: crd.GetResourceVersion()},
	})
	if err != nil {
		return fmt.Errorf("watching CustomResourceDefinition %s: %w", crd.GetName(), kube.Explain(err))
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for CustomResourceDefinition %s to be established: %w", crd.GetName(), ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				// The watch ended (e.g. the server closed it): look once more, then re-watch.
				if err := c.Get(ctx, client.ObjectKey{Name: crd.GetName()}, crd); err != nil {
					return fmt.Errorf("reading CustomResourceDefinition %s: %w", crd.GetName(), kube.Explain(err))
				}
				return WaitEstablished(ctx, c, crd)
			}
			if ev.Type == watch.Error {
				return fmt.Errorf("watching CustomResourceDefinition %s: %v", crd.GetName(), apierrors.FromObject(ev.Object))
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			if done, err := established(u); done || err != nil {
				return err
			}
		}
	}
}

func established(u *unstructured.Unstructured) (bool, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := runtimeFromUnstructured(u, crd); err != nil {
		return false, err
	}
	for _, c := range crd.Status.Conditions {
		switch {
		case c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue:
			return true, nil
		case c.Type == apiextensionsv1.NamesAccepted && c.Status == apiextensionsv1.ConditionFalse:
			return false, errors.New("CustomResourceDefinition " + crd.Name + " names not accepted: " + c.Message)
		}
	}
	return false, nil
}
