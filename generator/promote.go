package generator

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/generator/names"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// CheckPromotion refuses a promotion that is not to the next environment in
// promotion order, unless force.
func (c *Config) CheckPromotion(from, to string, force bool) error {
	fi, ti := -1, -1
	for i, e := range c.Environments {
		if e.Name == from {
			fi = i
		}
		if e.Name == to {
			ti = i
		}
	}
	switch {
	case fi < 0:
		_, err := c.Env(from)
		return err
	case ti < 0:
		_, err := c.Env(to)
		return err
	case fi == ti:
		return fmt.Errorf("cannot promote %s to itself", from)
	case ti != fi+1 && !force:
		next := "nothing: it is the last environment"
		if fi+1 < len(c.Environments) {
			next = c.Environments[fi+1].Name
		}
		return fmt.Errorf("%s comes after %s in promotion order (%s), not right after it: promote to %s first, or pass --force to skip",
			to, from, strings.Join(c.EnvNames(), " → "), next)
	}
	return nil
}

// Apps lists the apps released into env (folders of envs/<env> with a release.yaml).
func Apps(tree Tree, env string) ([]string, error) {
	dir := EnvDir(env)
	entries, err := tree.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var apps []string
	for _, e := range entries {
		if e == names.AppsDir || names.App(e) != nil {
			continue
		}
		ok, err := exists(tree, path.Join(dir, e, ReleaseFile))
		if err != nil {
			return nil, err
		}
		if ok {
			apps = append(apps, e)
		}
	}
	return apps, nil
}

// Promote copies app's release.yaml from one environment to another, verbatim. A
// target that has never had the app gets its kustomization, a default env.yaml and
// its Argo CD child Application; an existing env.yaml is never touched. It returns
// no files when the target already runs that release.
func Promote(cfg *Config, app, from, to string, tree Tree) (Files, error) {
	src, err := cfg.Resolve(app, from, 0)
	if err != nil {
		return nil, err
	}
	dst, err := cfg.Resolve(app, to, 0)
	if err != nil {
		return nil, err
	}
	release, err := tree.ReadFile(src.ReleasePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no release in %s (no %s): render it there first", app, from, src.ReleasePath())
	}
	if err != nil {
		return nil, err
	}
	if _, err := ParseRelease(release); err != nil {
		return nil, fmt.Errorf("%s: %w", src.ReleasePath(), err)
	}
	running, err := tree.ReadFile(dst.ReleasePath())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if bytes.Equal(running, release) {
		return nil, nil // already released there
	}
	files := Files{dst.ReleasePath(): release}
	if err := addAppScaffold(cfg, dst, nil, tree, files); err != nil {
		return nil, err
	}
	return files, nil
}

// addAppScaffold adds what an app's folder needs besides release.yaml: its
// kustomization, env.yaml when absent (defaults from m, or plain defaults), the
// child Application and the environment's sorted list of children.
func addAppScaffold(cfg *Config, t Target, m *manifestDefaults, tree Tree, files Files) error {
	if err := addDefaults(cfg, t, tree, files); err != nil {
		return err
	}
	envPath := path.Join(t.Dir, EnvPatchFile)
	has, err := exists(tree, envPath)
	if err != nil {
		return err
	}
	if !has {
		if files[envPath], err = envPatch(m, t); err != nil {
			return err
		}
	}
	if files[t.ChildPath()], err = childApplicationYAML(cfg, t); err != nil {
		return err
	}
	// The list of children changes only with a new child: listing thousands of
	// them on every release would cost more than the rest of a render.
	appsDir := path.Dir(t.ChildPath())
	listed := path.Join(appsDir, kustomizationFile)
	hadChild, err := exists(tree, t.ChildPath())
	if err != nil {
		return err
	}
	hadList, err := exists(tree, listed)
	if err != nil || (hadChild && hadList) {
		return err
	}
	files[listed], err = appsKustomization(Overlay{Base: tree, Changes: files}, appsDir)
	return err
}

// addDefaults writes t's kustomization and defaults.yaml from what its
// environment sets in plattr-env.yaml, and removes a defaults.yaml the
// environment no longer sets.
func addDefaults(cfg *Config, t Target, tree Tree, files Files) error {
	defaults, err := envDefaults(cfg, t)
	if err != nil {
		return err
	}
	if files[path.Join(t.Dir, kustomizationFile)], err = appKustomization(defaults != nil); err != nil {
		return err
	}
	defaultsPath := path.Join(t.Dir, EnvDefaultsFile)
	if defaults != nil {
		files[defaultsPath] = defaults
	} else if had, err := exists(tree, defaultsPath); err != nil {
		return err
	} else if had {
		files[defaultsPath] = nil // the environment no longer sets defaults
	}
	return nil
}

// RemoveApp removes an app's folder and its child Application from env (for
// previews: env "preview" and the preview's name), and rewrites the list of
// children. Removing what is not there gives no files.
func RemoveApp(env, name string, tree Tree) (Files, error) {
	dir := AppDir(env, name)
	files := Files{}
	entries, err := tree.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := deleteAll(tree, dir, entries, files); err != nil {
		return nil, err
	}
	child := ChildPath(env, name)
	if ok, err := exists(tree, child); err != nil {
		return nil, err
	} else if ok {
		files[child] = nil
	}
	if len(files) == 0 {
		return nil, nil
	}
	appsDir := path.Dir(child)
	k, err := appsKustomization(Overlay{Base: tree, Changes: files}, appsDir)
	if err != nil {
		return nil, err
	}
	files[path.Join(appsDir, kustomizationFile)] = k
	return files, nil
}

// ParseRelease decodes a release.yaml strictly.
func ParseRelease(data []byte) (*plattrv1.Application, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	var app plattrv1.Application
	if err := strictJSON(js, &app); err != nil {
		return nil, fmt.Errorf("not a valid Plattr Application: %w", err)
	}
	return &app, nil
}

// deleteAll marks every file under dir (whose entries are given) for deletion,
// sub-folders included.
func deleteAll(tree Tree, dir string, entries []string, files Files) error {
	for _, e := range entries {
		p := path.Join(dir, e)
		sub, err := tree.ReadDir(p)
		switch {
		case err == nil:
			if err := deleteAll(tree, p, sub, files); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrNotExist):
			files[p] = nil // a file
		default:
			return err
		}
	}
	return nil
}

// BuildApplication builds the overlay of an app in an environment
// (envs/<env>/<name>) as Argo CD does and returns the Plattr Application it
// yields: what the operator will be given. nil when the folder is not there.
func BuildApplication(tree Tree, env, name string) (*plattrv1.Application, error) {
	dir := AppDir(env, name)
	out, err := build(tree, dir)
	if err != nil || out == nil {
		return nil, err
	}
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if yaml.Unmarshal([]byte(doc), &meta) != nil || meta.Kind != plattrv1.Kind || !strings.HasPrefix(meta.APIVersion, plattrv1.GroupVersion.Group+"/") {
			continue
		}
		return ParseRelease([]byte(doc))
	}
	return nil, fmt.Errorf("%s builds no Plattr Application", dir)
}
