package generator

import (
	"fmt"
	"path"
	"strings"

	"k8s.io/utils/ptr"

	"github.com/plattr/plattr/generator/names"
)

// InitRepo returns the skeleton of a new env repo: plattr-env.yaml, one root
// app-of-apps per environment (and one for previews) under bootstrap/, and an
// empty envs/<env>/apps folder for each. It is the content of the project's
// envs/ folder for the default environments.
func InitRepo(cfg *Config) (Files, error) {
	files, err := settingsFiles(cfg)
	if err != nil {
		return nil, err
	}
	for _, env := range append(cfg.EnvNames(), names.PreviewEnv) {
		apps := path.Join(EnvDir(env), names.AppsDir)
		if files[path.Join(apps, kustomizationFile)], err = withHeader(generatedHeader, newKustomization(nil)); err != nil {
			return nil, err
		}
	}
	files["README.md"] = []byte(repoReadme(cfg))
	return files, nil
}

// settingsFiles are the files made from plattr-env.yaml alone: the file itself
// and bootstrap/, once cfg is valid.
func settingsFiles(cfg *Config) (Files, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	files := Files{}
	var err error
	if files[ConfigFile], err = cfg.Marshal(); err != nil {
		return nil, err
	}
	if err := addBootstrap(cfg, files); err != nil {
		return nil, err
	}
	return files, nil
}

// addBootstrap adds bootstrap/: the root Application of each environment (and
// of previews) and, with a project per environment, their AppProjects.
func addBootstrap(cfg *Config, files Files) error {
	var err error
	if cfg.ArgoCD.ProjectPerEnvironment {
		if files[ProjectsPath], err = projectsYAML(cfg); err != nil {
			return err
		}
	}
	for _, env := range append(cfg.EnvNames(), names.PreviewEnv) {
		root := RootApplication(cfg, env)
		if env == names.PreviewEnv {
			// Previews routinely lose their last app: without allowEmpty, Argo
			// CD's automated sync refuses to prune every child, and the last
			// preview would stay running with its database (found by the
			// end-to-end test). Other environments keep Argo CD's safety net: a
			// commit that empties them is not synced without a person.
			root.Spec.SyncPolicy.Automated.AllowEmpty = ptr.To(true)
		}
		if files[RootPath(env)], err = withHeader(
			"# Root app-of-apps of the "+env+" environment: apply it once with kubectl.\n", root); err != nil {
			return err
		}
	}
	return nil
}

func repoReadme(cfg *Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Environment repo\n\nManaged by Plattr (`plattr-gen`). Environments, in promotion order: %s.\n\n",
		strings.Join(cfg.EnvNames(), " → "))
	b.WriteString("| path | what |\n|---|---|\n")
	b.WriteString("| `plattr-env.yaml` | environments (their clusters and namespaces), base domain, Argo CD settings, repo URL |\n")
	if cfg.ArgoCD.ProjectPerEnvironment {
		b.WriteString("| `" + ProjectsPath + "` | Argo CD projects: each environment's apps may deploy only Plattr Applications, only to its cluster and namespace |\n")
	}
	b.WriteString("| `bootstrap/<env>.yaml` | root Argo CD Application `" + RootName("<env>") + "`: `" + BootstrapCommand(cfg) + "` once |\n")
	b.WriteString("| `envs/<env>/apps/` | one Argo CD Application per app (generated) |\n")
	b.WriteString("| `envs/<env>/<app>/release.yaml` | the release: promotion copies it verbatim (generated) |\n")
	b.WriteString("| `envs/<env>/<app>/env.yaml` | per-environment settings: yours to edit, never overwritten |\n")
	b.WriteString("| `envs/preview/<app>-pr-<n>/` | preview of a pull request, removed when it closes |\n")
	return b.String()
}

// BootstrapCommand is what a person runs once, from a checkout of the env
// repo, to hand it to Argo CD (and again when plattr-env.yaml's clusters or
// namespaces change): the projects first, when there are.
func BootstrapCommand(cfg *Config) string {
	cmd := "kubectl apply -n " + cfg.ArgoCD.Namespace + " -f " + BootstrapDir + "/"
	if cfg.ArgoCD.ProjectPerEnvironment {
		cmd = "kubectl apply -n " + cfg.ArgoCD.Namespace + " -f " + ProjectsPath + " && " + cmd
	}
	return cmd
}
