package testenv_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/test/testenv"
)

func TestStart(t *testing.T) {
	start := time.Now()
	env := testenv.Start(t)
	t.Logf("envtest started in %v", time.Since(start).Round(time.Millisecond))
	ctx := context.Background()

	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "databases.dbctl.io"}, crd); err != nil {
		t.Fatalf("the Database CRD is not installed: %v", err)
	}

	ns := env.Namespace(t)
	if ns2 := env.Namespace(t); ns2 == ns || !strings.HasPrefix(ns, "teststart-") {
		t.Errorf("Namespace() = %q then %q, want two fresh names starting with teststart-", ns, ns2)
	}
	list := &v1alpha1.DatabaseList{}
	if err := env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing Databases: %v", err)
	}

	// The admin kubeconfig works.
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.List(ctx, &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NamespaceList"}}); err != nil {
		t.Errorf("admin kubeconfig: %v", err)
	}

	// Another user authenticates, and has no permissions.
	cfg, err = clientcmd.BuildConfigFromFlags("", env.KubeconfigFor(t, "alice", "devs"))
	if err != nil {
		t.Fatal(err)
	}
	alice, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	err = alice.List(ctx, &v1alpha1.DatabaseList{}, client.InNamespace(ns))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `"alice"`) {
		t.Errorf("alice listing Databases: got %v, want Forbidden for user alice", err)
	}

	// Stop ends the processes and removes the files.
	env.Stop()
	if _, err := os.Stat(env.Kubeconfig); !os.IsNotExist(err) {
		t.Errorf("after Stop, %s still exists", env.Kubeconfig)
	}
	env.Stop() // idempotent
}

func TestStartWithoutCRD(t *testing.T) {
	env := testenv.Start(t, testenv.WithoutCRD())
	crd := &apiextensionsv1.CustomResourceDefinition{}
	err := env.Client.Get(context.Background(), client.ObjectKey{Name: "databases.dbctl.io"}, crd)
	if !apierrors.IsNotFound(err) {
		t.Errorf("getting the CRD: got %v, want NotFound", err)
	}
}

func TestBinDirMissing(t *testing.T) {
	t.Setenv("KUBEBUILDER_ASSETS", t.TempDir())
	_, err := testenv.BinDir()
	if err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Errorf("BinDir() with empty KUBEBUILDER_ASSETS: got %v, want an error saying to run make tools", err)
	}
}
