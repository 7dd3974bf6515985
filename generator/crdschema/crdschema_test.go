package crdschema

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const digest = "ghcr.io/acme/shop@sha256:1111111111111111111111111111111111111111111111111111111111111111"

func plattrApp(mutate func(spec, meta map[string]any)) map[string]any {
	spec := map[string]any{"image": digest, "port": int64(8080), "database": map[string]any{"enabled": true}}
	meta := map[string]any{"name": "shop", "labels": map[string]any{"plattr.dev/app": "shop"}}
	if mutate != nil {
		mutate(spec, meta)
	}
	return map[string]any{"apiVersion": "plattr.dev/v1alpha1", "kind": "Application", "metadata": meta, "spec": spec}
}

func argoApp(mutate func(spec, meta map[string]any)) map[string]any {
	spec := map[string]any{
		"project":     "default",
		"source":      map[string]any{"repoURL": "https://github.com/acme/env.git", "path": "envs/staging/shop", "targetRevision": "main"},
		"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": "staging"},
	}
	meta := map[string]any{"name": "staging-shop", "namespace": "argocd"}
	if mutate != nil {
		mutate(spec, meta)
	}
	return map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta, "spec": spec}
}

func envVars(n, nameLen, valueLen int) []any {
	out := make([]any, n)
	for i := range out {
		name := fmt.Sprintf("V%d", i)
		if nameLen > 0 {
			name = strings.Repeat("N", nameLen)
		}
		out[i] = map[string]any{"name": name, "value": strings.Repeat("v", valueLen)}
	}
	return out
}

type schemaCase struct {
	reason string
	schema func() *Schema
	obj    map[string]any
	want   string // a part of the error; empty: accepted
}

// The cases every test of the package runs: what plattr-gen must refuse
// before commit because the API server refuses it, and what it must let pass.
func schemaCases() map[string]schemaCase {
	return map[string]schemaCase{
		"plattr: valid": {"a release as render writes it", PlattrApplication, plattrApp(nil), ""},
		"plattr: defaults": {"port and replicas take the CRD's defaults", PlattrApplication, plattrApp(func(spec, _ map[string]any) {
			delete(spec, "port")
		}), ""},
		"plattr: 201 env vars": {"the CRD allows 200", PlattrApplication, plattrApp(func(spec, _ map[string]any) {
			spec["env"] = envVars(201, 0, 1)
		}), "spec.env: Too many: 201: must have at most 200 items"},
		"plattr: 40,000-character value": {"values are at most 32768", PlattrApplication, plattrApp(func(spec, _ map[string]any) {
			spec["env"] = envVars(1, 0, 40000)
		}), "spec.env[0].value: Too long: may not be more than 32768 bytes"},
		"plattr: 200-character name": {"names are at most 128", PlattrApplication, plattrApp(func(spec, _ map[string]any) {
			spec["env"] = envVars(1, 200, 1)
		}), "spec.env[0].name: Too long"},
		"plattr: duplicate env": {"env is a map keyed by name", PlattrApplication, plattrApp(func(spec, _ map[string]any) {
			spec["env"] = []any{map[string]any{"name": "A", "value": "1"}, map[string]any{"name": "A", "value": "2"}}
		}), "spec.env[1]: Duplicate value"},
		"plattr: 21 extensions": {"at most 20", PlattrApplication, plattrApp(func(spec, _ map[string]any) {
			var exts []any
			for i := 0; i < 21; i++ {
				exts = append(exts, fmt.Sprintf("e%d", i))
			}
			spec["database"] = map[string]any{"enabled": true, "extensions": exts}
		}), "spec.database.extensions: Too many: 21"},
		"plattr: host with a path": {"hosts are DNS names", PlattrApplication, plattrApp(func(spec, _ map[string]any) {
			spec["ingress"] = map[string]any{"host": "shop.example.com/../x"}
		}), "spec.ingress.host: Invalid value"},
		"plattr: unknown field": {"strict field validation", PlattrApplication, plattrApp(func(spec, _ map[string]any) {
			spec["privileged"] = true
		}), `unknown field "spec.privileged"`},
		"plattr: port out of range": {"1-65535", PlattrApplication, plattrApp(func(spec, _ map[string]any) {
			spec["port"] = int64(70000)
		}), "spec.port: Invalid value: 70000"},
		"plattr: empty image": {"an image is required", PlattrApplication, plattrApp(func(spec, _ map[string]any) {
			spec["image"] = ""
		}), "spec.image: Invalid value"},
		"plattr: upper-case name": {"object names are DNS subdomains", PlattrApplication, plattrApp(func(_, meta map[string]any) {
			meta["name"] = "Shop"
		}), "metadata.name: Invalid value: \"Shop\""},
		"plattr: bad label": {"label values are checked", PlattrApplication, plattrApp(func(_, meta map[string]any) {
			meta["labels"] = map[string]any{"plattr.dev/app": "a b"}
		}), "metadata.labels: Invalid value: \"a b\""},
		"argo: valid": {"a child Application as render writes it", ArgoCDApplication, argoApp(nil), ""},
		"argo: no destination": {"destination is required", ArgoCDApplication, argoApp(func(spec, _ map[string]any) {
			delete(spec, "destination")
		}), "spec.destination: Required value"},
		"argo: unknown field": {"strict field validation", ArgoCDApplication, argoApp(func(spec, _ map[string]any) {
			spec["hooks"] = "x"
		}), `unknown field "spec.hooks"`},
		"argo: source without repoURL": {"repoURL is required", ArgoCDApplication, argoApp(func(spec, _ map[string]any) {
			spec["source"] = map[string]any{"path": "envs/staging/shop"}
		}), "spec.source.repoURL: Required value"},
	}
}

func TestSchema_Validate(t *testing.T) {
	for name, tc := range schemaCases() {
		t.Run(name, func(t *testing.T) {
			before := fmt.Sprint(tc.obj)
			err := tc.schema().Validate(tc.obj)
			assert.Equal(t, before, fmt.Sprint(tc.obj), "the object is not changed")
			if tc.want == "" {
				assert.NoError(t, err, tc.reason)
				return
			}
			require.Error(t, err, tc.reason)
			assert.Contains(t, err.Error(), tc.want, tc.reason)
			assert.Less(t, len(err.Error()), 2000, "a bounded message, however long the values")
		})
	}
}

// The real API server, with the same CRDs, gives the same verdict on every case:
// a dry-run create with strict field validation.
func TestSchema_AgreesWithTheAPIServer(t *testing.T) {
	c := testenv.StartCluster(t)
	ns := c.Namespace(t, "")
	for name, tc := range schemaCases() {
		t.Run(name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: tc.obj}
			u = u.DeepCopy()
			u.SetNamespace(ns)
			err := c.Client.Create(context.Background(), u, client.DryRunAll, client.FieldValidation("Strict"))
			ours := tc.schema().Validate(tc.obj)
			if ours == nil {
				assert.NoError(t, err, "we accept it: so does the API server (%s)", tc.reason)
				return
			}
			require.Error(t, err, "we refuse it (%v): so does the API server (%s)", ours, tc.reason)
			assert.True(t, apierrors.IsInvalid(err) || apierrors.IsBadRequest(err), "refused as invalid: %v", err)
		})
	}
}

// x-kubernetes-validations rules (CEL) are enforced, as the API server does.
func TestSchema_CELRules(t *testing.T) {
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: self.min <= self.max
              message: min must not exceed max
            properties:
              min: {type: integer}
              max: {type: integer}
`
	s, err := New([]byte(crd))
	require.NoError(t, err)
	obj := func(min, max int64) map[string]any {
		return map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"},
			"spec": map[string]any{"min": min, "max": max}}
	}
	assert.NoError(t, s.Validate(obj(1, 2)))
	assert.ErrorContains(t, s.Validate(obj(3, 2)), "min must not exceed max")
}

func TestSchema_WrongKind(t *testing.T) {
	err := PlattrApplication().Validate(argoApp(nil))
	assert.ErrorContains(t, err, "must be plattr.dev/v1alpha1 Application")
}
