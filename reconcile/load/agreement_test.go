package load

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/config"
)

// crdValidator checks a document the way the API server checks a create of a
// Database with fieldValidation=Strict: unknown fields, pruning of nulls,
// defaulting, then the custom resource strategy's validation (metadata, OpenAPI
// schema, list maps, CEL rules), all from the generated CRD.
type crdValidator struct {
	structural *structuralschema.Structural
	validate   func(*unstructured.Unstructured) []string
}

func newCRDValidator(t testing.TB) *crdValidator {
	t.Helper()
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(config.CRD, &crd); err != nil {
		t.Fatalf("parse CRD: %v", err)
	}
	var internal apiextensions.CustomResourceValidation
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(crd.Spec.Versions[0].Schema, &internal, nil); err != nil {
		t.Fatalf("convert CRD schema: %v", err)
	}
	ss, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		t.Fatalf("structural schema: %v", err)
	}
	schemaValidator, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
	if err != nil {
		t.Fatalf("schema validator: %v", err)
	}
	strategy := customresource.NewStrategy(runtime.NewScheme(), true, v1alpha1.GroupVersionKind,
		schemaValidator, nil, ss, nil, nil, nil)
	return &crdValidator{structural: ss, validate: func(u *unstructured.Unstructured) []string {
		var msgs []string
		for _, e := range strategy.Validate(context.Background(), u) {
			msgs = append(msgs, e.Error())
		}
		return msgs
	}}
}

// check returns the API server's errors for a YAML document (none: accepted).
func (v *crdValidator) check(t testing.TB, doc string) []string {
	t.Helper()
	raw, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("YAML to JSON: %v", err)
	}
	var m map[string]any
	strict, err := sigsjson.UnmarshalStrict(raw, &m)
	if err != nil {
		return []string{err.Error()}
	}
	if len(strict) > 0 {
		return []string{fmt.Sprint(strict)}
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetNamespace("default")
	unknown := structuralpruning.PruneWithOptions(u.Object, v.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	if len(unknown) > 0 {
		return []string{"unknown fields: " + strings.Join(unknown, ", ")}
	}
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(u.Object, v.structural)
	structuraldefaulting.Default(u.Object, v.structural)
	return v.validate(u)
}

// TestCRDAgreement checks every case of CRDAgreementCases twice: Load must give
// its verdict, and the CRD (offline, with the API server's own code) must give
// the same one, or accept it when the case is StricterThanCRD.
func TestCRDAgreement(t *testing.T) {
	v := newCRDValidator(t)
	names := map[string]bool{}
	for _, c := range CRDAgreementCases {
		t.Run(c.Name, func(t *testing.T) {
			if names[c.Name] {
				t.Fatalf("duplicate case name")
			}
			names[c.Name] = true
			if c.StricterThanCRD && c.Valid {
				t.Fatalf("a StricterThanCRD case must not be Valid")
			}
			_, err := Load([]string{"-"}, Options{Stdin: strings.NewReader(c.YAML)})
			if got := err == nil; got != c.Valid {
				t.Errorf("Load: valid = %v, want %v; error: %v\n%s", got, c.Valid, err, c.YAML)
			}
			serverErrs := v.check(t, c.YAML)
			if got, want := len(serverErrs) == 0, c.Valid || c.StricterThanCRD; got != want {
				t.Errorf("CRD: accepted = %v, want %v; errors: %v\n%s", got, want, serverErrs, c.YAML)
			}
		})
	}
}
