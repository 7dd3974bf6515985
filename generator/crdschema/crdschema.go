// Package crdschema checks an object against a CustomResourceDefinition the way
// the API server does when it is created: the schema's defaults are applied,
// then unknown fields (as strict field validation refuses them), the OpenAPI
// schema, the list-type invariants, the x-kubernetes-validations (CEL) rules and
// the object's metadata are checked, all with the apiextensions server's own
// code. It holds the CRDs of what plattr-gen commits: Plattr's Application
// (bases/crds) and Argo CD's Application (copied from the Argo CD module by
// `make generate`, so its version is go.mod's).
//
// It must not know where objects come from or go: callers name the file.
package crdschema

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/bases/crds"
)

//go:embed argocd-application-crd.yaml
var argoCDApplicationCRD []byte

// Schema is one version of a CRD, ready to check objects with.
type Schema struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	structural *structuralschema.Structural
	validator  validation.SchemaValidator
	cel        *cel.Validator // nil without x-kubernetes-validations
}

// New reads a CRD (YAML or JSON) and returns the schema of its storage version.
func New(crdData []byte) (*Schema, error) {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(crdData, &crd); err != nil {
		return nil, fmt.Errorf("read the CRD: %w", err)
	}
	for _, v := range crd.Spec.Versions {
		if !v.Storage {
			continue
		}
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("CRD %s version %s has no schema", crd.Name, v.Name)
		}
		var internal apiextensionsinternal.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			return nil, fmt.Errorf("convert the schema of CRD %s: %w", crd.Name, err)
		}
		structural, err := structuralschema.NewStructural(&internal)
		if err != nil {
			return nil, fmt.Errorf("CRD %s: the schema is not structural: %w", crd.Name, err)
		}
		validator, _, err := validation.NewSchemaValidator(&internal)
		if err != nil {
			return nil, fmt.Errorf("CRD %s: %w", crd.Name, err)
		}
		s := &Schema{
			gvk:        schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind},
			namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
			structural: structural,
			validator:  validator,
		}
		if hasRules(structural) {
			s.cel = cel.NewValidator(structural, true, celconfig.PerCallLimit)
		}
		return s, nil
	}
	return nil, fmt.Errorf("CRD %s has no storage version", crd.Name)
}

func hasRules(s *structuralschema.Structural) bool {
	if s == nil {
		return false
	}
	if len(s.XValidations) > 0 {
		return true
	}
	if hasRules(s.Items) || (s.AdditionalProperties != nil && hasRules(s.AdditionalProperties.Structural)) {
		return true
	}
	for _, p := range s.Properties {
		if hasRules(&p) {
			return true
		}
	}
	return false
}

// GroupVersionKind is the kind of the objects this schema checks.
func (s *Schema) GroupVersionKind() schema.GroupVersionKind { return s.gvk }

// maxErrors is how many field errors one message lists.
const maxErrors = 5

// maxErrorLen bounds one field error's text: an invalid value is quoted in it,
// and a value may be very long.
const maxErrorLen = 300

// Error is an object the API server would refuse: the fields its schema does
// not declare (strict field validation refuses them) and every field error, as
// the API server words them.
type Error struct {
	Unknown []string
	Errors  field.ErrorList
}

func (e *Error) Error() string {
	var parts []string
	for _, p := range e.Unknown {
		parts = append(parts, fmt.Sprintf("unknown field %q", p))
	}
	for _, fe := range e.Errors {
		msg := fe.Error()
		if len(msg) > maxErrorLen {
			msg = msg[:maxErrorLen] + "…"
		}
		parts = append(parts, msg)
	}
	if len(parts) > maxErrors {
		parts = append(parts[:maxErrors], fmt.Sprintf("and %d more", len(parts)-maxErrors))
	}
	return strings.Join(parts, "; ")
}

// Validate checks obj, a decoded JSON object, as the API server checks it on
// create: obj is not changed (the defaults are applied to a copy). The error is
// an *Error naming every field the API server would refuse.
func (s *Schema) Validate(obj map[string]any) error {
	u := &unstructured.Unstructured{Object: runtime.DeepCopyJSON(obj)}
	if u.GroupVersionKind() != s.gvk {
		return &Error{Errors: field.ErrorList{field.Invalid(field.NewPath("apiVersion"), u.GetAPIVersion()+" "+u.GetKind(),
			fmt.Sprintf("must be %s %s", s.gvk.GroupVersion(), s.gvk.Kind))}}
	}
	structuraldefaulting.Default(u.Object, s.structural)
	unknown := pruning.PruneWithOptions(runtime.DeepCopyJSON(u.Object), s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	var errs field.ErrorList
	errs = append(errs, apivalidation.ValidateObjectMetaAccessor(u, s.namespaced && u.GetNamespace() != "", apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	errs = append(errs, validation.ValidateCustomResource(nil, u.Object, s.validator)...)
	errs = append(errs, schemaobjectmeta.Validate(nil, u.Object, s.structural, false)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, s.structural, u.Object)...)
	if s.cel != nil && len(errs) == 0 {
		celErrs, _ := s.cel.Validate(context.Background(), nil, s.structural, u.Object, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	if len(unknown) > 0 || len(errs) > 0 {
		return &Error{Unknown: unknown, Errors: errs}
	}
	return nil
}

var (
	plattrOnce, argoOnce sync.Once
	plattrSchema         *Schema
	argoSchema           *Schema
)

// PlattrApplication is the schema of Plattr's Application (bases/crds).
func PlattrApplication() *Schema {
	plattrOnce.Do(func() { plattrSchema = mustNew(crds.Application) })
	return plattrSchema
}

// ArgoCDApplication is the schema of Argo CD's Application.
func ArgoCDApplication() *Schema {
	argoOnce.Do(func() { argoSchema = mustNew(argoCDApplicationCRD) })
	return argoSchema
}

// mustNew reads an embedded CRD: one that does not load is a broken build,
// which the package's tests catch.
func mustNew(data []byte) *Schema {
	s, err := New(data)
	if err != nil {
		panic(errors.Join(errors.New("crdschema: an embedded CRD does not load"), err))
	}
	return s
}
