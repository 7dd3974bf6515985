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

	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
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

// TestServiceSecrets_NamesEveryProvisioner: the Secret suffixes plattrv1's
// tenancy rule knows (and plattr-gen checks secretEnv against) are exactly the
// provisioners' names, each for the spec field that enables it.
func TestServiceSecrets_NamesEveryProvisioner(t *testing.T) {
	provs, closeAll, err := operator.Provisioners(operator.Config{}, nil)
	require.NoError(t, err)
	defer closeAll()
	enable := map[string]*plattrv1.ApplicationSpec{
		"database": {Database: &plattrv1.DatabaseSpec{Enabled: true}},
		"redis":    {Redis: &plattrv1.RedisSpec{Enabled: true}},
		"search":   {Search: &plattrv1.SearchSpec{Enabled: true}},
		"auth":     {Auth: &plattrv1.AuthSpec{Enabled: true}},
	}
	var names []string
	for _, p := range provs {
		names = append(names, p.Name())
		field, ok := plattrv1.ServiceSecrets[p.Name()]
		require.True(t, ok, "%s is in plattrv1.ServiceSecrets", p.Name())
		assert.True(t, p.Enabled(enable[field]), "%s is enabled by spec.%s", p.Name(), field)
	}
	assert.Len(t, plattrv1.ServiceSecrets, len(names))
}

// A Secret's password is kept for its own user only; anything else gets a new one.
func TestKeptPassword(t *testing.T) {
	kept, err := services.KeptPassword(services.Credentials{"U": []byte("app"), "P": []byte("s3cret")}, "U", "P", "app")
	require.NoError(t, err)
	assert.Equal(t, "s3cret", kept)
	for _, current := range []services.Credentials{nil, {"U": []byte("other"), "P": []byte("s3cret")}, {"U": []byte("app")}} {
		p, err := services.KeptPassword(current, "U", "P", "app")
		require.NoError(t, err)
		assert.Len(t, p, 32)
		assert.NotEqual(t, "s3cret", p)
	}
}

func TestCheckNames(t *testing.T) {
	assert.NoError(t, services.CheckNames(services.Instance{Env: "staging", App: "hello-pr-4"}, "things"))
	for _, bad := range []services.Instance{{Env: "staging", App: "Hello"}, {Env: "st.aging", App: "a"}, {Env: "s", App: "-a"}, {Env: "s", App: strings.Repeat("a", 64)}} {
		err := services.CheckNames(bad, "things")
		assert.ErrorIs(t, err, services.ErrInvalid, bad)
		assert.ErrorContains(t, err, "cannot name things (lower-case letters, digits, '-')")
	}
}
