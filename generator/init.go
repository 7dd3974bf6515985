package generator

import (
	"fmt"
	"path"
	"strings"

	"k8s.io/utils/ptr"

	"github.com/plattr/plattr/generator/names"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// InitRepo returns the skeleton of a new env repo: plattr-env.yaml, one root
// app-of-apps per environment (and one for previews) under bootstrap/, and an
// empty envs/<env>/apps folder for each. It is the content of the project's
// envs/ folder for the default environments.
func InitRepo(cfg *Config) (Files, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	files := Files{}
	var err error
	if files[ConfigFile], err = cfg.Marshal(); err != nil {
		return nil, err
	}
	envs := append(cfg.EnvNames(), names.PreviewEnv)
	for _, env := range envs {
		apps := path.Join(EnvsDir, env, names.AppsDir)
		root := argoApplication(cfg, "plattr-"+env, apps, cfg.ArgoCD.Namespace)
		root.Labels = map[string]string{plattrv1.LabelEnvironment: env}
		if env == names.PreviewEnv {
			// Previews routinely lose their last app: without allowEmpty, Argo
			// CD's automated sync refuses to prune every child, and the last
			// preview would stay running with its database (found by the
			// end-to-end test). Other environments keep Argo CD's safety net: a
			// commit that empties them is not synced without a person.
			root.Spec.SyncPolicy.Automated.AllowEmpty = ptr.To(true)
		}
		if files[path.Join(BootstrapDir, env+".yaml")], err = withHeader(
			"# Root app-of-apps of the "+env+" environment: apply it once with kubectl.\n", root); err != nil {
			return nil, err
		}
		if files[path.Join(apps, kustomizationFile)], err = withHeader(generatedHeader, newKustomization(nil)); err != nil {
			return nil, err
		}
	}
	files["README.md"] = []byte(repoReadme(cfg))
	return files, nil
}

func repoReadme(cfg *Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Environment repo\n\nManaged by Plattr (`plattr-gen`). Environments, in promotion order: %s.\n\n",
		strings.Join(cfg.EnvNames(), " → "))
	b.WriteString("| path | what |\n|---|---|\n")
	b.WriteString("| `plattr-env.yaml` | environments, base domain, Argo CD project, repo URL |\n")
	b.WriteString("| `bootstrap/<env>.yaml` | root Argo CD Application `plattr-<env>`: `kubectl apply -n " + cfg.ArgoCD.Namespace + " -f bootstrap/` once |\n")
	b.WriteString("| `envs/<env>/apps/` | one Argo CD Application per app (generated) |\n")
	b.WriteString("| `envs/<env>/<app>/release.yaml` | the release: promotion copies it verbatim (generated) |\n")
	b.WriteString("| `envs/<env>/<app>/env.yaml` | per-environment settings: yours to edit, never overwritten |\n")
	b.WriteString("| `envs/preview/<app>-pr-<n>/` | preview of a pull request, removed when it closes |\n")
	return b.String()
}

// Message is a commit message: a subject line and trailers.
// The trailers of Plattr's commits, which tools read back (git log --format=%(trailers)).
const (
	TrailerApp         = "Plattr-App"
	TrailerEnvironment = "Plattr-Environment"
	TrailerImage       = "Plattr-Image"
	TrailerRollbackTo  = "Plattr-Rollback-To"
)

type Message struct {
	Subject  string
	Body     string
	Trailers [][2]string
}

func (m Message) String() string {
	var b strings.Builder
	b.WriteString(m.Subject)
	b.WriteString("\n")
	if m.Body != "" {
		b.WriteString("\n" + strings.TrimRight(m.Body, "\n") + "\n")
	}
	if len(m.Trailers) > 0 {
		b.WriteString("\n")
		for _, t := range m.Trailers {
			fmt.Fprintf(&b, "%s: %s\n", t[0], t[1])
		}
	}
	return b.String()
}

// RemovePreviewMessage says what removing the preview of a pull request did.
func RemovePreviewMessage(app string, pr int) Message {
	return Message{Subject: fmt.Sprintf("%s: remove preview of PR #%d", app, pr),
		Trailers: [][2]string{{TrailerApp, app}, {TrailerEnvironment, names.PreviewEnv}}}
}

// DeployMessage says what a render did: "hello: deploy sha256:ab12cd34ef56
// (source 3f9c1a2b) to staging", with trailers for the source and CI run.
func DeployMessage(r Release, t Target) Message {
	subject := fmt.Sprintf("%s: deploy %s", r.Manifest.Name, r.Image.ShortDigest())
	if c := r.Source.Commit; c != "" {
		subject += fmt.Sprintf(" (source %.8s)", c)
	}
	if r.PR != 0 {
		subject += fmt.Sprintf(" to preview of PR #%d", r.PR)
	} else {
		subject += " to " + t.Env
	}
	m := Message{Subject: subject, Trailers: [][2]string{{TrailerApp, r.Manifest.Name}, {TrailerEnvironment, t.Env}, {TrailerImage, r.Image.Ref}}}
	if r.Source.Repo != "" {
		m.Trailers = append(m.Trailers, [2]string{"Plattr-Source-Repo", r.Source.Repo})
	}
	if r.Source.Commit != "" {
		m.Trailers = append(m.Trailers, [2]string{"Plattr-Source-Commit", r.Source.Commit})
	}
	if r.Source.RunURL != "" {
		m.Trailers = append(m.Trailers, [2]string{"Plattr-CI-Run", r.Source.RunURL})
	}
	return m
}
