package generator

import (
	"bytes"
	"fmt"
	"path"
	"strings"

	"github.com/plattr/plattr/generator/names"
)

// SetCluster puts env (or the previews, "preview") on cluster: a name
// registered with Argo CD or an https:// URL, "" for argocd.server.
func (c *Config) SetCluster(env, cluster string) error {
	if env == names.PreviewEnv {
		c.Preview.Cluster = cluster
		return nil
	}
	for i := range c.Environments {
		if c.Environments[i].Name == env {
			c.Environments[i].Cluster = cluster
			return nil
		}
	}
	return fmt.Errorf("%q is not an environment of %s (%s) nor preview", env, ConfigFile, strings.Join(c.EnvNames(), ", "))
}

// Upgrade returns the files that bring an env repo whose plattr-env.yaml was old
// to cfg: plattr-env.yaml itself, bootstrap/ (the roots and, with a project per
// environment, bootstrap/projects.yaml) and the child Application, the
// kustomization and the environment's defaults (defaults.yaml) of every app
// of every environment, previews included, each rewritten as this version
// writes it; README.md too when it is the one the old settings generated (a
// person's README is kept). Only files that change are returned.
func Upgrade(old, cfg *Config, tree Tree) (Files, error) {
	files, err := settingsFiles(cfg)
	if err != nil {
		return nil, err
	}
	if !cfg.ArgoCD.ProjectPerEnvironment {
		files[ProjectsPath] = nil
	}
	for _, env := range append(cfg.EnvNames(), names.PreviewEnv) {
		children, err := yamlFiles(tree, path.Join(EnvDir(env), names.AppsDir))
		if err != nil {
			return nil, err
		}
		for _, child := range children {
			name := strings.TrimSuffix(child, ".yaml")
			dir := AppDir(env, name)
			if names.PathElement(name) != "" {
				continue
			}
			if _, err := tree.ReadDir(dir); err != nil {
				continue // not an app's child: validation names it
			}
			t := Target{Env: env, Namespace: cfg.NamespaceOf(env), Name: name, Dir: dir}
			if files[t.ChildPath()], err = childApplicationYAML(cfg, t); err != nil {
				return nil, err
			}
			if err := addDefaults(cfg, t, tree, files); err != nil {
				return nil, err
			}
		}
	}
	if readme, err := tree.ReadFile("README.md"); err == nil && string(readme) == repoReadme(old) {
		files["README.md"] = []byte(repoReadme(cfg))
	}
	for p, data := range files {
		was, err := tree.ReadFile(p)
		if (data == nil && err != nil) || (err == nil && bytes.Equal(was, data)) {
			delete(files, p)
		}
	}
	return files, nil
}
