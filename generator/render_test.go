package generator

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/plattr/plattr/generator/manifest"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const (
	digestA = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	digestB = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func testConfig(t *testing.T) *Config {
	t.Helper()
	cfg, err := ParseConfig([]byte(`apiVersion: plattr.dev/v1alpha1
kind: EnvironmentRepo
repoURL: https://github.com/acme/env.git
baseDomain: apps.example.com
environments:
- name: staging
- name: uat
- name: prod
  production: true
`))
	require.NoError(t, err)
	return cfg
}

func loadManifest(t *testing.T, path string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load(path)
	require.NoError(t, err)
	return m
}

// initTree is a freshly initialised env repo.
func initTree(t *testing.T, cfg *Config) MapTree {
	t.Helper()
	files, err := InitRepo(cfg)
	require.NoError(t, err)
	return MapTree(files)
}

func apply(tree MapTree, files Files) {
	for p, data := range files {
		if data == nil {
			delete(tree, p)
		} else {
			tree[p] = data
		}
	}
}

// golden compares files with testdata/golden/<name>/, or rewrites them with -update.
func golden(t *testing.T, name string, files Files) {
	t.Helper()
	dir := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.RemoveAll(dir))
		for p, data := range files {
			full := filepath.Join(dir, filepath.FromSlash(p))
			require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
			require.NoError(t, os.WriteFile(full, data, 0o644))
		}
	}
	want := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		want[filepath.ToSlash(rel)] = string(data)
		return err
	}), "golden files missing: run go test ./generator -update")
	got := map[string]string{}
	for p, data := range files {
		got[p] = string(data)
	}
	assert.Equal(t, want, got, "output differs from testdata/golden/%s (run with -update after checking the change)", name)
}

func TestRender_Golden(t *testing.T) {
	cfg := testConfig(t)
	hello := loadManifest(t, filepath.Join("..", "examples", "hello", manifest.FileName))
	shop := loadManifest(t, filepath.Join("testdata", "full", manifest.FileName))
	source := Source{Repo: "acme/hello", Commit: "3f9c1a2b4d5e6f708192a3b4c5d6e7f809102132", RunURL: "https://github.com/acme/hello/actions/runs/42"}
	cases := map[string]struct {
		reason string
		m      *manifest.Manifest
		env    string
		pr     int
	}{
		"hello-staging": {"the example app's first release into staging", hello, "staging", 0},
		"hello-prod":    {"production: bare host, Retain, per-environment replicas and resources", hello, "prod", 0},
		"hello-pr-1":    {"a preview: own folder, Delete policy, preview host", hello, "", 1},
		"shop-uat":      {"every backing-service block and all options", shop, "uat", 0},
		"shop-pr-12":    {"preview of the full app uses its preview defaults", shop, "", 12},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tree := initTree(t, cfg)
			img, err := ParseImage("registry.example.com/acme/"+tc.m.Name+"@"+digestA, false)
			require.NoError(t, err)
			files, target, err := Render(cfg, Release{Manifest: tc.m, Image: img, Env: tc.env, PR: tc.pr, Source: source}, tree)
			require.NoError(t, err, tc.reason)
			require.NoError(t, Validate(files, tree), "what Render returns must build with kustomize")
			golden(t, name, files)
			assert.True(t, strings.HasPrefix(target.Dir, "envs/"+target.Env+"/"), "the release lands in its environment's folder")
		})
	}
}

func TestInitRepo_Golden(t *testing.T) {
	cfg := testConfig(t)
	files, err := InitRepo(cfg)
	require.NoError(t, err)
	require.NoError(t, Validate(files, MapTree{}))
	golden(t, "init", files)
}

// The project's envs/ folder is the skeleton env init lays down for the default
// environments; it must not drift from what the code generates.
func TestInitRepo_MatchesEnvsFolder(t *testing.T) {
	cfg := DefaultConfig("https://github.com/acme/env.git", "apps.example.com", []string{"staging", "uat", "prod"})
	files, err := InitRepo(cfg)
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.RemoveAll(filepath.Join("..", "envs", "skeleton")))
		for p, data := range files {
			full := filepath.Join("..", "envs", "skeleton", filepath.FromSlash(p))
			require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
			require.NoError(t, os.WriteFile(full, data, 0o644))
		}
	}
	for p, data := range files {
		on, err := os.ReadFile(filepath.Join("..", "envs", "skeleton", filepath.FromSlash(p)))
		require.NoError(t, err, "envs/skeleton/%s is missing: run go test ./generator -update", p)
		assert.Equal(t, string(data), string(on), "envs/skeleton/%s is stale: run go test ./generator -update", p)
	}
}

func TestRender_Deterministic(t *testing.T) {
	cfg := testConfig(t)
	shop := loadManifest(t, filepath.Join("testdata", "full", manifest.FileName))
	img, _ := ParseImage("registry.example.com/acme/shop@"+digestA, false)
	var first Files
	for i := 0; i < 20; i++ {
		files, _, err := Render(cfg, Release{Manifest: shop, Image: img, Env: "prod"}, initTree(t, cfg))
		require.NoError(t, err)
		if first == nil {
			first = files
			continue
		}
		require.Equal(t, len(first), len(files))
		for p := range first {
			require.True(t, bytes.Equal(first[p], files[p]), "run %d: %s differs", i, p)
		}
	}
}

func TestRender_EnvPatchWrittenOnce(t *testing.T) {
	cfg := testConfig(t)
	hello := loadManifest(t, filepath.Join("..", "examples", "hello", manifest.FileName))
	tree := initTree(t, cfg)
	img, _ := ParseImage("registry.example.com/acme/hello@"+digestA, false)
	files, _, err := Render(cfg, Release{Manifest: hello, Image: img, Env: "staging"}, tree)
	require.NoError(t, err)
	apply(tree, files)

	edited := bytes.Replace(tree["envs/staging/hello/env.yaml"], []byte("replicas: 1"), []byte("replicas: 5"), 1)
	tree["envs/staging/hello/env.yaml"] = edited

	img2, _ := ParseImage("registry.example.com/acme/hello@"+digestB, false)
	files, _, err = Render(cfg, Release{Manifest: hello, Image: img2, Env: "staging"}, tree)
	require.NoError(t, err)
	assert.NotContains(t, files, "envs/staging/hello/env.yaml", "a person's env.yaml is never overwritten")
	assert.Contains(t, string(files["envs/staging/hello/release.yaml"]), digestB)
	require.NoError(t, Validate(files, tree))
}

func TestRender_AppsKustomizationSorted(t *testing.T) {
	cfg := testConfig(t)
	tree := initTree(t, cfg)
	img, _ := ParseImage("r.example.com/x@"+digestA, false)
	for _, name := range []string{"zeta", "alpha", "mid"} {
		m, err := manifest.Parse("plattr.yaml", []byte("name: "+name+"\n"))
		require.NoError(t, err)
		files, _, err := Render(cfg, Release{Manifest: m, Image: img, Env: "staging"}, tree)
		require.NoError(t, err)
		require.NoError(t, Validate(files, tree))
		apply(tree, files)
	}
	assert.Contains(t, string(tree["envs/staging/apps/kustomization.yaml"]), "resources:\n- alpha.yaml\n- mid.yaml\n- zeta.yaml\n")
}

func TestRender_Errors(t *testing.T) {
	cfg := testConfig(t)
	hello := loadManifest(t, filepath.Join("..", "examples", "hello", manifest.FileName))
	typo, err := manifest.Parse("plattr.yaml", []byte("name: a\nenvironments:\n  prdo:\n    replicas: 2\n"))
	require.NoError(t, err)
	img, _ := ParseImage("r.example.com/x@"+digestA, false)
	cases := map[string]struct {
		reason string
		r      Release
		want   string
	}{
		"unknown env":   {"environments come from plattr-env.yaml", Release{Manifest: hello, Image: img, Env: "qa"}, `unknown environment "qa": plattr-env.yaml declares staging, uat, prod`},
		"climbing env":  {"a path in the env name", Release{Manifest: hello, Image: img, Env: "../prod"}, `invalid environment name "../prod"`},
		"preview env":   {"previews only through --pr", Release{Manifest: hello, Image: img, Env: "preview"}, `reserved for pull request previews`},
		"bad pr":        {"PR numbers are positive", Release{Manifest: hello, Image: img, PR: -1}, `invalid pull request number "-1"`},
		"override typo": {"per-environment defaults name real environments", Release{Manifest: typo, Image: img, Env: "staging"}, `plattr.yaml:3: environments.prdo: no such environment in the env repo`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			files, _, err := Render(cfg, tc.r, initTree(t, cfg))
			require.Error(t, err, tc.reason)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, files, "nothing is written on error")
		})
	}
}

func TestParseImage(t *testing.T) {
	cases := map[string]struct {
		reason   string
		ref      string
		allowTag bool
		want     string // error substring, "" for success
	}{
		"digest":         {"pinned", "ghcr.io/acme/hello@" + digestA, false, ""},
		"tag and digest": {"the digest wins", "ghcr.io/acme/hello:v1@" + digestA, false, ""},
		"port":           {"registry with port", "localhost:5000/hello@" + digestA, false, ""},
		"tag":            {"tags move", "ghcr.io/acme/hello:v1", false, "pinned by tag only"},
		"tag allowed":    {"explicitly allowed", "ghcr.io/acme/hello:v1", true, ""},
		"bare":           {"implicit latest", "ghcr.io/acme/hello", true, "neither digest nor tag"},
		"short digest":   {"digests are 64 hex", "ghcr.io/acme/hello@sha256:abc", false, "invalid image"},
		"upper":          {"repository paths are lower case", "ghcr.io/Acme/hello@" + digestA, false, "invalid image"},
		"spaces":         {"garbage", "hello world", true, "invalid image"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseImage(tc.ref, tc.allowTag)
			if tc.want == "" {
				assert.NoError(t, err, tc.reason)
			} else {
				assert.ErrorContains(t, err, tc.want, tc.reason)
			}
		})
	}
}

func TestValidate_RefusesBrokenOverlays(t *testing.T) {
	cfg := testConfig(t)
	hello := loadManifest(t, filepath.Join("..", "examples", "hello", manifest.FileName))
	tree := initTree(t, cfg)
	img, _ := ParseImage("r.example.com/x@"+digestA, false)
	files, _, err := Render(cfg, Release{Manifest: hello, Image: img, Env: "staging"}, tree)
	require.NoError(t, err)
	apply(tree, files)

	cases := map[string]struct {
		reason string
		change Files
		want   string
	}{
		"bad patch":       {"a person broke env.yaml", Files{"envs/staging/hello/env.yaml": []byte("kind: [\n")}, "envs/staging/hello/env.yaml: not valid YAML: line 1"},
		"list patch":      {"a patch is one mapping", Files{"envs/staging/hello/env.yaml": []byte("- spec: {}\n")}, "envs/staging/hello/env.yaml: must be one YAML mapping"},
		"huge patch":      {"env.yaml is bounded", Files{"envs/staging/hello/env.yaml": append(bytes.Clone(tree["envs/staging/hello/env.yaml"]), []byte("#"+strings.Repeat("x", MaxEnvPatchSize)+"\n")...)}, "envs/staging/hello/env.yaml: is 65"},
		"huge object":     {"Argo CD's annotation holds the whole object", Files{"envs/staging/hello/release.yaml": bytes.Replace(tree["envs/staging/hello/release.yaml"], []byte("  env:\n"), []byte("  env:\n"+hugeEnv()), 1)}, "more than the 204800 allowed"},
		"missing release": {"release.yaml deleted but still listed", Files{"envs/staging/hello/release.yaml": nil}, "kustomize build envs/staging/hello"},
		"wrong name":      {"the object must be named after its folder", Files{"envs/staging/hello/release.yaml": bytes.ReplaceAll(tree["envs/staging/hello/release.yaml"], []byte("name: hello"), []byte("name: other"))}, "kustomize build envs/staging/hello"},
		"unknown field":   {"typos in the CR are refused", Files{"envs/staging/hello/release.yaml": bytes.Replace(tree["envs/staging/hello/release.yaml"], []byte("spec:\n"), []byte("spec:\n  replics: 3\n"), 1)}, `unknown field "spec.replics"`},
		"rotating often":  {"a schedule the operator keeps", Files{"envs/staging/hello/env.yaml": append(bytes.Clone(tree["envs/staging/hello/env.yaml"]), []byte("  credentials:\n    every: 5m\n")...)}, "spec.credentials.every: 5m is shorter than 1h ("},
		"long release":    {"a release phase the operator runs", Files{"envs/staging/hello/env.yaml": append(bytes.Clone(tree["envs/staging/hello/env.yaml"]), []byte("  release:\n    command: [x]\n    timeout: 7h\n")...)}, "spec.release.timeout: 7h0m0s is outside"},
		"tag image":       {"releases are pinned", Files{"envs/staging/hello/release.yaml": bytes.Replace(tree["envs/staging/hello/release.yaml"], []byte("@"+digestA), nil, 1)}, "neither digest nor tag"},
		"bad child":       {"apps folder holds Argo CD Applications", Files{"envs/staging/apps/hello.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")}, "must be argoproj.io/v1alpha1 Application"},
		"dotdot":          {"paths stay in the repo", Files{"envs/../../x": []byte("x")}, "not a clean relative path"},
		"git":             {"never git's own folder", Files{".git/config": []byte("x")}, `".git" is not allowed`},
		"bad config":      {"plattr-env.yaml is checked", Files{ConfigFile: []byte("apiVersion: plattr.dev/v1alpha1\nkind: EnvironmentRepo\n")}, "repoURL is required"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := Validate(tc.change, tree)
			require.Error(t, err, tc.reason)
			assert.Contains(t, err.Error(), tc.want, tc.reason)
		})
	}
}

// hugeEnv is 100 variables of 2,100 bytes: within the CRD's limits, beyond what
// an Argo CD annotation holds.
func hugeEnv() string {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "  - name: V%03d\n    value: %s\n", i, strings.Repeat("v", 2100))
	}
	return b.String()
}

// The env repo's workflow calls Plattr's reusable one, on every event it acts on.
func TestEnvWorkflow(t *testing.T) {
	cfg := testConfig(t)
	const uses = "plattr/plattr/.github/workflows/env.yml@0123456789abcdef0123456789abcdef01234567 # v1.2.3"
	var wf struct {
		On          map[string]any `yaml:"on"` // YAML 1.2, as GitHub reads it: "on" is a key, not true
		Permissions map[string]any `yaml:"permissions"`
		Jobs        map[string]struct {
			Uses        string            `yaml:"uses"`
			Permissions map[string]string `yaml:"permissions"`
		} `yaml:"jobs"`
	}
	require.NoError(t, yamlv3.Unmarshal(EnvWorkflow(cfg, uses), &wf))
	assert.ElementsMatch(t, []string{"pull_request_target", "push", "schedule", "workflow_dispatch"}, slices.Collect(maps.Keys(wf.On)))
	assert.Empty(t, wf.Permissions, "nothing by default")
	assert.Equal(t, strings.TrimSuffix(uses, " # v1.2.3"), wf.Jobs["plattr"].Uses, "the version is a comment Dependabot reads")
	assert.Equal(t, map[string]string{"contents": "read", "pull-requests": "write", "statuses": "write"}, wf.Jobs["plattr"].Permissions)
	types := wf.On["pull_request_target"].(map[string]any)["types"]
	assert.Contains(t, types, "labeled", "the label plattr/allow-destructive runs the plan again")
}

// An environment's credentials.every in plattr-env.yaml reaches every app
// there as spec.credentials.every (defaults.yaml, rewritten by each render and
// promotion); an app's env.yaml overrides it; an environment without it, and
// previews, get no file; taking it out of plattr-env.yaml takes the file away.
func TestRender_EnvironmentDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte(`apiVersion: plattr.dev/v1alpha1
kind: EnvironmentRepo
repoURL: https://github.com/acme/env.git
baseDomain: apps.example.com
environments:
- name: staging
  credentials: {every: 90d}
- name: prod
  production: true
`))
	require.NoError(t, err)
	hello := loadManifest(t, filepath.Join("..", "examples", "hello", manifest.FileName))
	tree := initTree(t, cfg)
	img, _ := ParseImage("registry.example.com/acme/hello@"+digestA, false)
	files, _, err := Render(cfg, Release{Manifest: hello, Image: img, Env: "staging"}, tree)
	require.NoError(t, err)
	apply(tree, files)
	require.NoError(t, Validate(files, tree))
	assert.Contains(t, string(tree["envs/staging/hello/defaults.yaml"]), "Do not edit: change plattr-env.yaml")
	app, err := BuildApplication(tree, "staging", "hello")
	require.NoError(t, err)
	require.NotNil(t, app.Spec.Credentials)
	assert.Equal(t, "90d", app.Spec.Credentials.Every)

	// env.yaml wins, and a rotation token there merges with the default.
	tree["envs/staging/hello/env.yaml"] = append(tree["envs/staging/hello/env.yaml"], []byte("  credentials:\n    every: 30d\n    rotate: \"1\"\n")...)
	app, err = BuildApplication(tree, "staging", "hello")
	require.NoError(t, err)
	assert.Equal(t, plattrv1.CredentialsSpec{Every: "30d", Rotate: "1"}, *app.Spec.Credentials)

	// Promoted to prod, which sets no default: no file, no schedule.
	files, err = Promote(cfg, "hello", "staging", "prod", tree)
	require.NoError(t, err)
	apply(tree, files)
	assert.NotContains(t, tree, "envs/prod/hello/defaults.yaml")
	app, err = BuildApplication(tree, "prod", "hello")
	require.NoError(t, err)
	assert.Nil(t, app.Spec.Credentials)
	files, _, err = Render(cfg, Release{Manifest: hello, Image: img, Env: "staging", PR: 4}, tree)
	require.NoError(t, err)
	for p := range files {
		assert.NotContains(t, p, "defaults.yaml", "previews take no environment's defaults")
	}

	// The environment's default removed: the next render takes the file away.
	cfg.Environments[0].Credentials = nil
	files, _, err = Render(cfg, Release{Manifest: hello, Image: img, Env: "staging"}, tree)
	require.NoError(t, err)
	assert.Contains(t, files, "envs/staging/hello/defaults.yaml")
	assert.Nil(t, files["envs/staging/hello/defaults.yaml"], "deleted")
	apply(tree, files)
	require.NoError(t, Validate(files, tree))
	app, err = BuildApplication(tree, "staging", "hello")
	require.NoError(t, err)
	assert.Equal(t, plattrv1.CredentialsSpec{Every: "30d", Rotate: "1"}, *app.Spec.Credentials, "env.yaml's own stays")

	// Set again in plattr-env.yaml: env upgrade brings it to every app at once.
	old := *cfg
	old.Environments = slices.Clone(cfg.Environments)
	cfg.Environments[0].Credentials = &EnvCredentials{Every: "60d"}
	files, err = Upgrade(&old, cfg, tree)
	require.NoError(t, err)
	assert.Contains(t, string(files["envs/staging/hello/defaults.yaml"]), "every: 60d")
	assert.Contains(t, string(files["envs/staging/hello/kustomization.yaml"]), "defaults.yaml")
	assert.NotContains(t, files, "envs/prod/hello/kustomization.yaml", "unchanged where nothing changes")

	_, err = ParseConfig([]byte("apiVersion: plattr.dev/v1alpha1\nkind: EnvironmentRepo\nrepoURL: https://github.com/acme/env.git\nbaseDomain: apps.example.com\nenvironments:\n- name: staging\n  credentials: {every: 10m}\n"))
	assert.ErrorContains(t, err, "environments[0].credentials.every: 10m is shorter than 1h (each rotation")
}
