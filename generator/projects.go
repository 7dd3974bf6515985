package generator

import (
	"bytes"
	"fmt"
	"path"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plattr/plattr/generator/names"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// ProjectsPath is the file of the env repo's AppProjects, applied with the roots.
var ProjectsPath = path.Join(BootstrapDir, "projects.yaml")

// RootPath is the root app-of-apps of an environment ("preview": the previews').
func RootPath(env string) string { return path.Join(BootstrapDir, env+".yaml") }

// RootName is the name of an environment's root Application.
func RootName(env string) string { return RootProjectName + "-" + env }

// rootDestination is where the root Applications deploy their children: Argo
// CD's own namespace on Argo CD's own cluster.
func (c *Config) rootDestination() argov1.ApplicationDestination {
	return destination(c.ArgoCD.Server, "", c.ArgoCD.Namespace)
}

// ChildAutoSyncPointer is the field of a child Application its root leaves
// alone: its automated sync.
const ChildAutoSyncPointer = "/spec/syncPolicy/automated"

// RootApplication is the app-of-apps of env: it syncs envs/<env>/apps, the
// child Applications, into Argo CD's namespace.
func RootApplication(c *Config, env string) *argov1.Application {
	root := argoApplication(c, RootName(env), path.Join(EnvDir(env), names.AppsDir), c.RootProject(), c.rootDestination())
	root.Labels = map[string]string{plattrv1.LabelEnvironment: env}
	// A child's automated sync is left as it is: turned off in Argo CD's UI
	// (to roll back there), the root's self-heal would turn it on again at
	// once. Plattr's rollback controller turns it on once git has the
	// rollback.
	root.Spec.IgnoreDifferences = argov1.IgnoreDifferences{{Group: "argoproj.io", Kind: "Application", JSONPointers: []string{ChildAutoSyncPointer}}}
	root.Spec.SyncPolicy.SyncOptions = argov1.SyncOptions{"RespectIgnoreDifferences=true"}
	return root
}

// Projects are the AppProjects of an env repo with a project per environment
// (none otherwise): the roots' allows only Argo CD Applications, in Argo CD's
// namespace of its own cluster; each environment's (previews' included) allows
// only Plattr Applications, in that environment's namespace of its cluster.
// Every one reads only the env repo and makes no cluster-scoped object. So a
// commit to an environment's folder cannot deploy elsewhere, or anything else:
// Argo CD refuses the sync with its project error.
func Projects(c *Config) []*argov1.AppProject {
	if !c.ArgoCD.ProjectPerEnvironment {
		return nil
	}
	project := func(name, description string, dest argov1.ApplicationDestination, kind metav1.GroupKind) *argov1.AppProject {
		return &argov1.AppProject{
			TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "AppProject"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.ArgoCD.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "plattr-gen"}},
			Spec: argov1.AppProjectSpec{
				Description:                description,
				SourceRepos:                []string{c.RepoURL},
				Destinations:               []argov1.ApplicationDestination{dest},
				NamespaceResourceWhitelist: []metav1.GroupKind{kind},
			},
		}
	}
	out := []*argov1.AppProject{project(RootProjectName, "Plattr's root Applications: Argo CD Applications in "+c.ArgoCD.Namespace+" only",
		c.rootDestination(), metav1.GroupKind{Group: "argoproj.io", Kind: "Application"})}
	for _, env := range append(c.EnvNames(), names.PreviewEnv) {
		dest := c.DestinationOf(env)
		out = append(out, project(c.ProjectOf(env), fmt.Sprintf("Plattr's %s environment: Plattr Applications in namespace %s of %s only", env, dest.Namespace, ClusterOfDestination(dest)),
			dest, metav1.GroupKind{Group: plattrv1.GroupVersion.Group, Kind: plattrv1.Kind}))
	}
	return out
}

// projectsYAML is bootstrap/projects.yaml: every AppProject, one document each.
func projectsYAML(c *Config) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Argo CD projects of this env repo: apply them with the roots, before them, and again when\n" +
		"# plattr-env.yaml's clusters or namespaces change: kubectl apply -f " + ProjectsPath + "\n")
	for i, p := range Projects(c) {
		if i > 0 {
			b.WriteString("---\n")
		}
		body, err := marshalYAML(p)
		if err != nil {
			return nil, err
		}
		b.Write(body)
	}
	return b.Bytes(), nil
}

// ClusterOfDestination names a destination's cluster for people: its
// registered name, else its server URL.
func ClusterOfDestination(d argov1.ApplicationDestination) string {
	if d.Name != "" {
		return d.Name
	}
	return d.Server
}
