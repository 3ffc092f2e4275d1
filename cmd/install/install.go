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

// WaitEstablished waits, with a watch (kube.WaitFor), until the CRD's Established
// condition is True. A CRD whose names were not accepted, or that is deleted, is an
// error.
func WaitEstablished(ctx context.Context, c client.WithWatch, crd *unstructured.Unstructured) error {
	if done, err := established(crd); done || err != nil {
		return err
	}
	name := crd.GetName()
	lw := kube.ListWatch(c, &apiextensionsv1.CustomResourceDefinitionList{}, client.MatchingFields{"metadata.name": name})
	var stop error // the condition's verdict, as opposed to a failed request
	err := kube.WaitFor(ctx, lw, &apiextensionsv1.CustomResourceDefinition{}, func(ev watch.Event) (bool, error) {
		var done bool
		switch obj, ok := ev.Object.(*apiextensionsv1.CustomResourceDefinition); {
		case ev.Type == watch.Deleted:
			stop = fmt.Errorf("CustomResourceDefinition %s was deleted while waiting for it to be established", name)
		case ok:
			done, stop = crdEstablished(obj)
		}
		return done, stop
	})
	switch {
	case err == nil || err == stop:
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("waiting for CustomResourceDefinition %s to be established: %w", name, ctx.Err())
	default:
		return fmt.Errorf("watching CustomResourceDefinition %s: %w", name, kube.Explain(err))
	}
}

func established(u *unstructured.Unstructured) (bool, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := runtimeFromUnstructured(u, crd); err != nil {
		return false, err
	}
	return crdEstablished(crd)
}

// crdEstablished reports whether crd is Established; names not accepted are an error.
func crdEstablished(crd *apiextensionsv1.CustomResourceDefinition) (bool, error) {
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
