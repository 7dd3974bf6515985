package generator

import (
	"path"
	"path/filepath"
	"strings"
	"testing"

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
			if err := CheckPath(p); err != nil {
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
