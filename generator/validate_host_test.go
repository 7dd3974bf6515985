package generator

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/generator/manifest"
)

// treeWith is an env repo where hello is released to staging and prod.
func treeWith(t *testing.T) (MapTree, *Config) {
	t.Helper()
	cfg := testConfig(t)
	hello := loadManifest(t, filepath.Join("..", "examples", "hello", manifest.FileName))
	tree := initTree(t, cfg)
	img, _ := ParseImage("r.example.com/x@"+digestA, false)
	for _, env := range []string{"staging", "uat", "prod"} {
		files, _, err := Render(cfg, Release{Manifest: hello, Image: img, Env: env}, tree)
		require.NoError(t, err)
		apply(tree, files)
	}
	return tree, cfg
}

// withHost is env.yaml of hello in env with its host replaced.
func withHost(t *testing.T, tree MapTree, env, host string) Files {
	t.Helper()
	p := "envs/" + env + "/hello/env.yaml"
	old := "hello." + env + ".apps.example.com"
	if env == "prod" {
		old = "hello.apps.example.com"
	}
	require.Contains(t, string(tree[p]), "host: "+old)
	return Files{p: bytes.Replace(tree[p], []byte("host: "+old), []byte("host: "+host), 1)}
}

func TestValidate_ProductionHost(t *testing.T) {
	tree, _ := treeWith(t)
	for _, tc := range []struct {
		env, host string
		want      string // "" when allowed
		reason    string
	}{
		{"prod", "localhost", "is a loopback name", "a prod client would accept http://localhost redirects"},
		{"prod", "shop.localtest.me", "is a loopback name", "public DNS that answers 127.0.0.1"},
		{"prod", "app.localhost", "is a loopback name", "RFC 6761"},
		{"prod", "127.0.0.1", "is a loopback name", "loopback IP"},
		{"prod", "10.0.0.7", "is an IP address", "an IP literal cannot carry a public certificate"},
		{"prod", "intranet", "is not a DNS name", "a single label"},
		{"prod", "shop.example.123", "its last label is a number", "no TLD is numeric"},
		{"prod", `"shop.example.com:8443"`, "is not a DNS name", "a port is not part of a host"},
		{"prod", "shop.example.com", "", "the app's own public name"},
		{"prod", `""`, "", "no host: the operator's default <app>.<baseDomain>"},
		{"staging", "localhost", "", "the rule is production's; the operator still refuses it for Keycloak outside development"},
	} {
		t.Run(tc.env+" "+tc.host, func(t *testing.T) {
			err := Validate(withHost(t, tree, tc.env, tc.host), tree)
			if tc.want == "" {
				assert.NoError(t, err, tc.reason)
				return
			}
			require.Error(t, err, tc.reason)
			assert.Contains(t, err.Error(), tc.want, tc.reason)
			assert.Contains(t, err.Error(), "envs/prod/hello/env.yaml: spec.ingress.host: ", "names the file and the field")
			assert.Contains(t, err.Error(), "a production environment needs the app's public DNS name", "says what is allowed")
		})
	}
}

// Making an environment production checks the hosts it already has.
func TestValidate_ProductionHostWhenAnEnvironmentBecomesProduction(t *testing.T) {
	tree, cfg := treeWith(t)
	apply(tree, withHost(t, tree, "uat", "localhost"))
	require.NoError(t, Validate(Files{"envs/uat/hello/env.yaml": tree["envs/uat/hello/env.yaml"]}, tree), "uat is not production")
	cfg.Environments[1].Production = true
	data, err := cfg.Marshal()
	require.NoError(t, err)
	err = Validate(Files{ConfigFile: data}, tree)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `envs/uat/hello/env.yaml: spec.ingress.host: "localhost" is a loopback name`)
}

func TestCheckProductionHost_SharesTheLoopbackRule(t *testing.T) {
	// The same names the Keycloak provisioner refuses outside development.
	for _, host := range []string{"localhost", "LOCALHOST", "x.localtest.me", "127.1.2.3"} {
		assert.Error(t, CheckProductionHost(host), host)
	}
}
