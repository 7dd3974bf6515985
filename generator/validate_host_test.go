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
		{"prod", "shop.apps.example.com", "", "the app's own public name, on the base domain"},
		{"prod", "apps.example.com", "", "the base domain itself"},
		{"prod", "shop.example.org", `is not on the base domain or a listed domain (apps.example.com)`, "a domain the platform does not serve"},
		{"prod", "evilapps.example.com", "is not on the base domain", "a suffix of the name is not a subdomain"},
		{"staging", "localhost", "", "the rule is production's; the operator still refuses it for Keycloak outside development"},
		{"staging", "shop.example.org", "", "any domain outside production"},
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
			assert.Regexp(t, "a production environment needs the app's public DNS name|a production host must be one of them", err.Error(), "says what is allowed")
		})
	}
}

// What the API server's schema refuses in a host is refused first, with the
// API server's words (a port, upper case, a path).
func TestValidate_HostRefusedByTheSchema(t *testing.T) {
	tree, _ := treeWith(t)
	// An empty host too: leave host out for the default.
	for _, host := range []string{`"shop.example.com:8443"`, "LOCALHOST", "shop.example.com/../x", `""`} {
		err := Validate(withHost(t, tree, "prod", host), tree)
		require.Error(t, err, host)
		assert.Contains(t, err.Error(), "envs/prod/hello (release.yaml patched by env.yaml): object 1: the API server would refuse this Application: spec.ingress.host: Invalid value", host)
	}
}

// plattr-env.yaml's domains lists more domains a production host may be on.
func TestValidate_ProductionHostOnAListedDomain(t *testing.T) {
	tree, cfg := treeWith(t)
	require.Error(t, Validate(withHost(t, tree, "prod", "shop.example.org"), tree))
	cfg.Domains = []string{"example.org"}
	data, err := cfg.Marshal()
	require.NoError(t, err)
	tree[ConfigFile] = data
	assert.NoError(t, Validate(withHost(t, tree, "prod", "shop.example.org"), tree))
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
	cfg := &Config{BaseDomain: "localtest.me"}
	for _, host := range []string{"localhost", "LOCALHOST", "x.localtest.me", "127.1.2.3"} {
		assert.Error(t, cfg.CheckProductionHost(host), host)
	}
}
