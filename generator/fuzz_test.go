package generator

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator/crdschema"
	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/generator/names"
)

// FuzzRenderPaths: whatever app and environment names are given, every name
// that is accepted renders only to paths inside its own environment's folder of
// the repo. Run longer with: go test ./generator -fuzz FuzzRenderPaths
func FuzzRenderPaths(f *testing.F) {
	for _, seed := range []struct {
		app, env string
		pr       int
	}{
		{"hello", "staging", 0}, {"../prod", "staging", 0}, {"hello", "../prod", 0}, {"a/b", "x", 0},
		{".git", "staging", 0}, {"/abs", "staging", 0}, {"hello", "preview", 0}, {"apps", "staging", 0},
		{strings.Repeat("a", 64), "staging", 0}, {"hello", "staging", 7}, {"x", "y", -1}, {"héllo", "stäging", 0},
		{"hello\x00", "staging", 0}, {"hello", "staging/../../..", 0},
	} {
		f.Add(seed.app, seed.env, seed.pr)
	}
	root := filepath.FromSlash("/repo")
	f.Fuzz(func(t *testing.T, app, env string, pr int) {
		cfg := DefaultConfig("https://example.com/env.git", "example.com", []string{"staging"})
		if names.Env(env) == nil && env != "staging" {
			cfg.Environments = append(cfg.Environments, Environment{Name: env, Namespace: env})
		}
		m, err := manifest.Parse("plattr.yaml", []byte("name: \""+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(app)+"\"\n"))
		if err != nil {
			return // refused before anything is rendered
		}
		img, _ := ParseImage("r.example.com/x@sha256:"+strings.Repeat("a", 64), false)
		files, target, err := Render(cfg, Release{Manifest: m, Image: img, Env: env, PR: pr}, MapTree{})
		if err != nil {
			return
		}
		envDir := path.Join(EnvsDir, target.Env) + "/"
		for p := range files {
			if err := envfiles.CheckPath(p); err != nil {
				t.Fatalf("app %q env %q pr %d: %v", app, env, pr, err)
			}
			if !strings.HasPrefix(p, envDir) {
				t.Fatalf("app %q env %q pr %d writes %q outside %s", app, env, pr, p, envDir)
			}
			full := filepath.Join(root, filepath.FromSlash(p))
			if !strings.HasPrefix(full, root+string(filepath.Separator)) {
				t.Fatalf("app %q env %q writes %q outside the repo", app, env, p)
			}
			if !strings.HasPrefix(p, target.Dir+"/") && path.Dir(p) != path.Join(EnvsDir, target.Env, names.AppsDir) {
				t.Fatalf("app %q env %q writes %q outside its folder %s and the apps folder", app, env, p, target.Dir)
			}
		}
		if pr == 0 && target.Env != env {
			t.Fatalf("env %q rendered into %q", env, target.Env)
		}
	})
}

// FuzzRelease: whatever plattr.yaml, env.yaml, environment, pull request, image
// and source metadata are given, either plattr-gen refuses them with a message,
// or what it would commit stays inside the app's own folder and its child
// Application, every object built from it passes the CRD schema the API server
// enforces, and a credential given anywhere never appears in a file or a
// message. Run longer with: go test ./generator -fuzz FuzzRelease
func FuzzRelease(f *testing.F) {
	hello, err := os.ReadFile(filepath.Join("..", "examples", "hello", manifest.FileName))
	if err != nil {
		f.Fatal(err)
	}
	digest := "r.example.com/x@sha256:" + strings.Repeat("a", 64)
	for _, seed := range []struct {
		manifest, env, envName string
		pr                     int
		image, repo, commit    string
	}{
		{string(hello), "", "staging", 0, digest, "acme/hello", strings.Repeat("b", 40)},
		{"name: shop\n", "", "prod", 0, digest, "", ""},
		{"name: shop\n", "", "", 7, digest, "acme/shop", ""},
		{"name: shop\nenv:\n  DATABASE_URL: x\n", "", "staging", 0, digest, "", ""},
		{"name: shop\n", "spec:\n  image: r.example.com/x:latest\n", "staging", 0, digest, "", ""},
		{"name: shop\n", "spec:\n  secretEnv:\n  - {name: X, secretName: blog-postgres, key: PGPASSWORD}\n", "staging", 0, digest, "", ""},
		{"name: shop\n", "spec:\n  ingress: {host: localhost}\n", "prod", 0, digest, "", ""},
		{"name: shop\n", "- a\n", "staging", 0, digest, "", ""},
		{"name: shop\n", "spec:\n  replicas: 1000\n", "staging", 0, digest, "", ""},
		{"name: shop\n---\nname: x\n", "", "staging", 0, digest, "", ""},
		{"name: shop\n", "", "staging", 0, "r.example.com/x:tag", "acme/shop\nPlattr-Environment: prod", ""},
		{"name: shop\n", "metadata:\n  name: other\n", "staging", 0, digest, "", "abc\nSigned-off-by: x"},
		{"name: shop\n", "", "staging", 0, "https://u:fuzz-s3cret@r.example.com/x", "", ""},
	} {
		f.Add(seed.manifest, seed.env, seed.envName, seed.pr, seed.image, seed.repo, seed.commit)
	}
	const secret = "fuzz-s3cret"
	f.Fuzz(func(t *testing.T, plattrYAML, envYAML, env string, pr int, image, sourceRepo, sourceCommit string) {
		cfg := DefaultConfig("https://example.com/env.git", "apps.example.com", []string{"staging", "prod"})
		tree := MapTree{}
		base, err := InitRepo(cfg)
		if err != nil {
			t.Fatal(err)
		}
		apply(tree, base)
		// A credential in the CI run URL: it must be refused, never written.
		source := Source{Repo: sourceRepo, Commit: sourceCommit, RunURL: "https://ci:" + secret + "@ci.example.com/run/1"}
		if pr%2 == 0 {
			source.RunURL = "https://ci.example.com/run/1"
		}
		check := func(what string, err error, files Files) {
			if err != nil && (err.Error() == "" || strings.Contains(err.Error(), secret)) {
				t.Fatalf("%s: an empty message or one with the credential: %q", what, err)
			}
			for p, data := range files {
				if strings.Contains(string(data), secret) {
					t.Fatalf("%s: the credential is written into %s", what, p)
				}
			}
		}
		m, err := manifest.Parse("plattr.yaml", []byte(plattrYAML))
		check("manifest", err, nil)
		if err != nil {
			return
		}
		img, err := ParseImage(image, true)
		check("image", err, nil)
		if err != nil {
			return
		}
		files, target, err := Render(cfg, Release{Manifest: m, Image: img, Env: env, PR: pr, Source: source}, tree)
		check("render", err, files)
		if err != nil {
			return
		}
		if envYAML != "" {
			files[path.Join(target.Dir, EnvPatchFile)] = []byte(envYAML)
		}
		err = Validate(files, tree)
		check("validate", err, files)
		if err != nil {
			return
		}
		for p := range files {
			if !strings.HasPrefix(p, target.Dir+"/") && path.Dir(p) != path.Join(EnvsDir, target.Env, names.AppsDir) {
				t.Fatalf("writes %q outside %s and its apps folder", p, target.Dir)
			}
		}
		after := Overlay{Base: tree, Changes: files}
		out, err := build(after, target.Dir)
		if err != nil || out == nil {
			t.Fatalf("Validate passed but the overlay does not build: %v", err)
		}
		for _, doc := range splitYAML(out) {
			if err := checkSchema(crdschema.PlattrApplication(), mustJSON(t, doc)); err != nil {
				t.Fatalf("Validate passed an object the API server refuses: %v", err)
			}
			if strings.Contains(string(doc), secret) {
				t.Fatal("the credential is in the built object")
			}
		}
	})
}

func mustJSON(t *testing.T, doc []byte) []byte {
	t.Helper()
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
