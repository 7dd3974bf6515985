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
		"duplicate key":    {"kustomize took the first of two", "prod", "  replicas: 1000\n", `key "replicas" already set in map`},
		"an unknown field": {"strict, as kubectl and Argo CD apply it", "staging", "  privileged: true\n", `unknown field "spec.privileged"`},
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
		"repo climbing":         {Source{Repo: "acme/.."}, "--source-repo"},
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

// Found by an attack from outside: each was committed before.
func TestValidate_AttackFindings(t *testing.T) {
	tree, cfg := treeWith(t)
	img, _ := ParseImage("r.example.com/x@"+digestA, false)
	evil, err := manifest.Parse("plattr.yaml", []byte("name: evil\n"))
	require.NoError(t, err)
	files, _, err := Render(cfg, Release{Manifest: evil, Image: img, Env: "prod"}, tree)
	require.NoError(t, err)
	apply(tree, files)
	env := func(env, app string) string { return "envs/" + env + "/" + app + "/env.yaml" }
	set := func(p, old, new string) Files {
		require.Contains(t, string(tree[p]), old)
		return Files{p: bytes.Replace(tree[p], []byte(old), []byte(new), 1)}
	}
	child := `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: staging-hello
  namespace: argocd
spec:
  project: default
  source: {repoURL: https://evil.example.com/x.git, path: envs/staging/hello, targetRevision: main}
  destination: {server: https://kubernetes.default.svc, namespace: kube-system}
`
	cases := map[string]struct {
		reason string
		change Files
		want   string
	}{
		"patch deletes the app": {"$patch: delete builds nothing: Argo CD would prune the app",
			Files{env("staging", "hello"): []byte("apiVersion: plattr.dev/v1alpha1\nkind: Application\nmetadata:\n  name: hello\n$patch: delete\n")},
			"envs/staging/hello: builds no object"},
		"resourceVersion": {"the API server refuses a create with it",
			set(env("staging", "hello"), "metadata:\n", "metadata:\n  resourceVersion: \"5\"\n"), "metadata.resourceVersion is set by the API server"},
		"uid": {"nor is a uid the env repo's", set(env("staging", "hello"), "metadata:\n", "metadata:\n  uid: x\n"), "metadata.uid is set by the API server"},
		"negative request": {"the operator's Deployment would be refused",
			set(env("staging", "hello"), "spec:\n", "spec:\n  resources:\n    requests: {cpu: \"-1\"}\n"), "spec.resources.requests.cpu: -1 is negative"},
		"request above limit": {"a pod is refused", set(env("staging", "hello"), "spec:\n", "spec:\n  resources:\n    requests: {memory: 2Gi}\n    limits: {memory: 1Gi}\n"),
			"spec.resources.requests.memory: 2Gi is more than its limit 1Gi"},
		"huge quantity": {"9999Ei was silently rewritten", set(env("staging", "hello"), "spec:\n", "spec:\n  resources:\n    limits: {memory: 9999Ei}\n"), "is too large"},
		"patch without a name": {"kustomize said only 'unable to parse SM or JSON patch'",
			Files{env("staging", "hello"): []byte("spec:\n  replicas: 2\n")}, "envs/staging/hello/env.yaml: must be a patch of the Application: apiVersion: plattr.dev/v1alpha1, kind: Application, metadata.name"},
		"another app's host": {"evil would serve hello's URL and receive its logins",
			set(env("prod", "evil"), "host: evil.apps.example.com", "host: hello.apps.example.com"), `"hello.apps.example.com" is the host of app hello in this environment`},
		"another app's certificate": {"cert-manager's <app>-tls holds the private key",
			set(env("prod", "evil"), "spec:\n", "spec:\n  secretEnv:\n  - {name: K, secretName: hello-tls, key: tls.key}\n"), `"hello-tls" is the name of another app's tls Secret`},
		"a hand-made child": {"the app-of-apps would sync another repo into kube-system",
			Files{"envs/staging/apps/hello.yaml": []byte(child)}, `spec.source.repoURL is "https://evil.example.com/x.git", plattr-gen writes "https://github.com/acme/env.git"`},
		"a child of nothing": {"a child must sync its app's own folder",
			Files{"envs/staging/apps/ghost.yaml": []byte(strings.ReplaceAll(strings.ReplaceAll(child, "staging-hello", "staging-ghost"), "envs/staging/hello", "envs/staging/ghost")),
				"envs/staging/apps/kustomization.yaml": bytes.Replace(tree["envs/staging/apps/kustomization.yaml"], []byte("- hello.yaml"), []byte("- ghost.yaml\n- hello.yaml"), 1)},
			`Argo CD Application "staging-ghost" syncs envs/staging/ghost, which does not exist`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := Validate(tc.change, tree)
			require.Error(t, err, tc.reason)
			assert.Contains(t, err.Error(), tc.want, tc.reason)
		})
	}
}

// plattr.yaml's resources are checked at render, naming plattr.yaml's line.
func TestRender_RefusesBadResources(t *testing.T) {
	cfg := testConfig(t)
	tree := initTree(t, cfg)
	img, _ := ParseImage("r.example.com/x@"+digestA, false)
	for yaml, want := range map[string]string{
		"name: shop\nresources:\n  requests: {cpu: \"-1\"}\n":                        "plattr.yaml:3: resources.requests.cpu: -1 is negative",
		"name: shop\nresources:\n  requests: {cpu: 2}\n  limits: {cpu: 1}\n":         "resources.requests.cpu: 2 is more than its limit 1",
		"name: shop\nresources:\n  limits: {memory: 99999999999999999999999999Ei}\n": "resources.limits.memory: ",
	} {
		m, err := manifest.Parse("plattr.yaml", []byte(yaml))
		require.NoError(t, err)
		_, _, err = Render(cfg, Release{Manifest: m, Image: img, Env: "staging"}, tree)
		require.Error(t, err, yaml)
		assert.Contains(t, err.Error(), want, yaml)
	}
}

// An app name belongs to the repository that released it first: another
// repository's release of the same name is refused (two teams, one name).
func TestRender_AppNameBelongsToItsSource(t *testing.T) {
	cfg := testConfig(t)
	tree := initTree(t, cfg)
	img, _ := ParseImage("r.example.com/x@"+digestA, false)
	m, err := manifest.Parse("plattr.yaml", []byte("name: api\n"))
	require.NoError(t, err)
	files, _, err := Render(cfg, Release{Manifest: m, Image: img, Env: "staging", Source: Source{Repo: "acme/api"}}, tree)
	require.NoError(t, err)
	apply(tree, files)
	img2, _ := ParseImage("r.example.com/x@sha256:"+strings.Repeat("b", 64), false)
	files, _, err = Render(cfg, Release{Manifest: m, Image: img2, Env: "staging", Source: Source{Repo: "other-team/api"}}, tree)
	require.NoError(t, err)
	err = Validate(files, tree)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "envs/staging/api is released from acme/api, and this release comes from other-team/api")
	files, _, err = Render(cfg, Release{Manifest: m, Image: img2, Env: "staging", Source: Source{Repo: "acme/api"}}, tree)
	require.NoError(t, err)
	assert.NoError(t, Validate(files, tree), "the same repository releases again")
}
