package services_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// TestInjectedEnv_ListsEverySecretKey: each service package's exported Key*
// constants (the keys of the Secret it hands the app) are exactly the variables
// plattrv1.InjectedEnv gives that service, so a new key cannot be overridden by
// an env entry the generator lets through. Read from the sources, no server:
// each package's own tests check that Ensure writes those keys.
func TestInjectedEnv_ListsEverySecretKey(t *testing.T) {
	for pkg, svc := range map[string]string{
		"postgres": "database", "redis": "redis", "opensearch": "search", "keycloak": "auth",
	} {
		t.Run(pkg, func(t *testing.T) {
			keys := secretKeys(t, pkg)
			require.NotEmpty(t, keys, "the package declares its Secret keys as exported Key* constants")
			var listed []string
			for name, s := range plattrv1.InjectedEnv {
				if s == svc {
					listed = append(listed, name)
				}
			}
			assert.ElementsMatch(t, keys, listed)
		})
	}
}

// secretKeys are the values of the exported constants named Key* of the package
// in dir.
func secretKeys(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		require.NoError(t, err)
		for _, decl := range file.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Key") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					require.True(t, ok && lit.Kind == token.STRING, "%s: %s is a string literal", f, name.Name)
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					out = append(out, v)
				}
			}
		}
	}
	return out
}
