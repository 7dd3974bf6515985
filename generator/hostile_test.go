package generator

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/generator/manifest"
)

// What the API server would refuse in plattr.yaml is refused by render, naming
// plattr.yaml, the line and the field (the CRD is the one rule: its limits are
// not written again here). Before, each was committed.
func TestRender_RefusesWhatTheAPIServerWould(t *testing.T) {
	cfg := testConfig(t)
	tree := initTree(t, cfg)
	img, _ := ParseImage("r.example.com/x@"+digestA, false)
	many := func(n int, f func(i int) string) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(f(i))
		}
		return b.String()
	}
	cases := map[string]struct {
		reason, yaml, want string
	}{
		"201 env vars": {"the CRD allows 200", "name: shop\nenv:\n" + many(201, func(i int) string { return fmt.Sprintf("  V%03d: x\n", i) }),
			"plattr.yaml:2: env: Too many: 201: must have at most 200 items"},
		"40,000-character value": {"at most 32768", "name: shop\nenv:\n  BIG: " + strings.Repeat("v", 40000) + "\n",
			"plattr.yaml:3: env.BIG: Too long: may not be more than 32768 bytes"},
		"200-character name": {"at most 128", "name: shop\nenv:\n  " + strings.Repeat("N", 200) + ": x\n",
			"plattr.yaml:3: env." + strings.Repeat("N", 200) + ": Too long: may not be more than 128 bytes"},
		"21 extensions": {"at most 20", "name: shop\ndatabase:\n  enabled: true\n  extensions: [" + strings.TrimSuffix(many(21, func(i int) string { return fmt.Sprintf("e%d,", i) }), ",") + "]\n",
			"plattr.yaml:4: database.extensions: Too many: 21: must have at most 20 items"},
		"long health path": {"at most 256", "name: shop\nhealthCheck:\n  path: /" + strings.Repeat("p", 300) + "\n",
			"plattr.yaml:3: healthCheck.path: Too long"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := manifest.Parse("plattr.yaml", []byte(tc.yaml))
			require.NoError(t, err, "the manifest's own checks let it through; the schema does not")
			_, _, err = Render(cfg, Release{Manifest: m, Image: img, Env: "staging"}, tree)
			require.Error(t, err, tc.reason)
			assert.Contains(t, err.Error(), tc.want, tc.reason)
			assert.Less(t, len(err.Error()), 1000, "a bounded message")
		})
	}
}

// A person's env.yaml is checked on every render and promotion, after
// kustomize applies it: what the API server or the tenant boundary refuses is
// never committed, and the error names env.yaml.
func TestValidate_RefusesAHostileEnvYAML(t *testing.T) {
	tree, _ := treeWith(t)
	edit := func(env, add string) Files {
		p := "envs/" + env + "/hello/env.yaml"
		return Files{p: bytes.Replace(tree[p], []byte("spec:\n"), []byte("spec:\n"+add), 1)}
	}
	cases := map[string]struct {
		reason, env, add, want string
	}{
		"tag-only image": {"env.yaml may not change the release's image (render would report a digest that does not run)", "staging",
			"  image: r.example.com/x:latest\n", "envs/staging/hello/env.yaml: spec.image: the image is release.yaml's"},
		"another digest": {"not even to another digest: a release is what render and promote write", "staging",
			"  image: r.example.com/x@sha256:" + strings.Repeat("b", 64) + "\n", "env.yaml may not change it"},
		"another app's Secret": {"apps share a namespace", "staging",
			"  secretEnv:\n  - name: STOLEN\n    secretName: shop-postgres\n    key: PGPASSWORD\n", `spec.secretEnv[0].secretName: "shop-postgres" is the name of another app's postgres Secret`},
		"an injected variable": {"would override the database's URL", "staging",
			"  env:\n  - name: DATABASE_URL\n    value: postgres://evil\n", "spec.env[0].name: DATABASE_URL is set by Plattr"},
		"too many replicas": {"the CRD allows 100", "prod", "  replicas: 1000\n", "spec.replicas: Invalid value: 1000"},
		"an unknown field":  {"strict, as kubectl and Argo CD apply it", "staging", "  privileged: true\n", `unknown field "spec.privileged"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := Validate(edit(tc.env, tc.add), tree)
			require.Error(t, err, tc.reason)
			assert.Contains(t, err.Error(), tc.want, tc.reason)
		})
	}
}

// A production environment runs images pinned by digest: a release rendered
// with --allow-tag may go to staging, never to prod.
func TestValidate_ProductionNeedsADigest(t *testing.T) {
	cfg := testConfig(t)
	tree := initTree(t, cfg)
	m, err := manifest.Parse("plattr.yaml", []byte("name: shop\n"))
	require.NoError(t, err)
	img, err := ParseImage("r.example.com/shop:1.2", true)
	require.NoError(t, err)
	files, _, err := Render(cfg, Release{Manifest: m, Image: img, Env: "staging"}, tree)
	require.NoError(t, err)
	require.NoError(t, Validate(files, tree), "a tag outside production, with --allow-tag")
	files, _, err = Render(cfg, Release{Manifest: m, Image: img, Env: "prod"}, tree)
	require.NoError(t, err)
	err = Validate(files, tree)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `spec.image: a production environment runs images pinned by digest: image "r.example.com/shop:1.2" is pinned by tag only`)
}

// Source metadata becomes commit trailers and annotations: a newline in it
// would forge a trailer of its own. Each is refused, naming the flag.
func TestRender_RefusesForgedSourceMetadata(t *testing.T) {
	cfg := testConfig(t)
	tree := initTree(t, cfg)
	m, err := manifest.Parse("plattr.yaml", []byte("name: shop\n"))
	require.NoError(t, err)
	img, _ := ParseImage("r.example.com/x@"+digestA, false)
	for name, tc := range map[string]struct {
		source Source
		want   string
	}{
		"repo with a trailer":   {Source{Repo: "acme/shop\nPlattr-Environment: prod"}, "--source-repo"},
		"repo with a path":      {Source{Repo: "acme/shop/../x"}, "--source-repo"},
		"commit with a trailer": {Source{Commit: "3f9c1a2b\nSigned-off-by: Mallory <m@example.com>"}, "--source-commit"},
		"commit not hex":        {Source{Commit: "HEAD~1"}, "--source-commit"},
		"run URL with newline":  {Source{RunURL: "https://ci.example.com/run/1\nPlattr-App: other"}, "--ci-run"},
		"run URL javascript":    {Source{RunURL: "javascript:alert(1)"}, "--ci-run"},
		"run URL credentials":   {Source{RunURL: "https://u:pw@ci.example.com/run/1"}, "--ci-run"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Render(cfg, Release{Manifest: m, Image: img, Env: "staging", Source: tc.source}, tree)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n", "one line")
			assert.NotContains(t, err.Error(), "pw@")
		})
	}
	ok := Source{Repo: "acme/shop.web", Commit: strings.Repeat("a", 40), RunURL: "https://github.com/acme/shop/actions/runs/42"}
	_, _, err = Render(cfg, Release{Manifest: m, Image: img, Env: "staging", Source: ok}, tree)
	assert.NoError(t, err)
}
