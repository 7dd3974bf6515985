package plattrgen

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/internal/gittest"
)

// env init writes the branch it commits to as the branch Argo CD follows
// (before: targetRevision: main whatever --branch said).
func TestEnvInit_BranchIsTargetRevision(t *testing.T) {
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r := plattrGen(t, nil, "env", "init", "--repo", repo, "--branch", "envs", "--domain", "apps.example.com", "--repo-url", "https://github.com/acme/env.git")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "require the statuses plattr/plan and plattr/promotion in the branch protection of envs", "what to set on GitHub")
	assert.Contains(t, gittest.Git(t, repo, "show", "envs:plattr-env.yaml"), "targetRevision: envs")
	assert.Contains(t, gittest.Git(t, repo, "show", "envs:bootstrap/staging.yaml"), "targetRevision: envs", "the roots follow it too")
	wf := gittest.Git(t, repo, "show", "envs:.github/workflows/plattr.yml")
	assert.Contains(t, wf, "  push:\n    branches: [\"envs\"]\n", "the workflow's release matrix follows the branch")
	assert.Contains(t, wf, "    uses: plattr/plattr/.github/workflows/env.yml@main\n", "a development build names main")
}

// What env init would write into plattr-env.yaml is checked first, naming the
// flag; nothing is committed.
func TestEnvInit_RefusesBadFlags(t *testing.T) {
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"credentials in --repo-url": {[]string{"--repo-url", "https://u:s3cret-pw@github.com/acme/env.git"},
			"--repo-url: carries credentials (https://***@github.com/acme/env.git)"},
		"token as user": {[]string{"--repo-url", "https://ghp_s3cret@github.com/acme/env.git"}, "--repo-url: carries credentials"},
		"project":       {[]string{"--project", "*"}, `--project: "*" is not an Argo CD project name`},
		"namespace":     {[]string{"--argocd-namespace", "../kube-system"}, `--argocd-namespace: "../kube-system" is not a namespace name`},
		"domain":        {[]string{"--domain", "evil.com#x"}, `--domain: "evil.com#x" is not a DNS name`},
		"envs":          {[]string{"--envs", "staging,Prod"}, `--envs: [1]: invalid environment name "Prod"`},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"env", "init", "--repo", repo, "--domain", "apps.example.com", "--repo-url", "https://github.com/acme/env.git"}, tc.args...)
			r := plattrGen(t, nil, args...)
			assert.Equal(t, 2, r.code, r.err)
			assert.Contains(t, r.err, tc.want)
			assert.NotContains(t, r.out+r.err, "s3cret")
			assert.Equal(t, 0, gittest.CommitCount(t, repo), "nothing committed")
		})
	}
}

// A render to a branch Argo CD does not follow would never deploy: refused,
// saying which branch to give.
func TestRender_BranchArgoCDDoesNotFollow(t *testing.T) {
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r := plattrGen(t, nil, "env", "init", "--repo", repo, "--branch", "envs", "--domain", "apps.example.com", "--repo-url", "https://github.com/acme/env.git")
	require.Equal(t, 0, r.code, r.err)
	gittest.Git(t, repo, "branch", "main", "envs")
	r = plattrGen(t, nil, "render", "--repo", repo, "--app-dir", exampleDir(), "--env", "staging", "--image", image)
	assert.Equal(t, 2, r.code, r.err)
	assert.Contains(t, r.err, "--branch main: Argo CD follows envs (plattr-env.yaml's targetRevision), so a commit to main would never deploy: give --branch envs")
}

// $GITHUB_STEP_SUMMARY that is a FIFO used to block the command after its push.
func TestRender_StepSummaryFIFO(t *testing.T) {
	repo := newEnvRepo(t)
	fifo := filepath.Join(t.TempDir(), "summary")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	r := plattrGen(t, map[string]string{"GITHUB_STEP_SUMMARY": fifo}, "render", "--repo", repo, "--app-dir", exampleDir(), "--env", "staging", "--image", image)
	assert.Equal(t, 1, r.code, r.out)
	assert.Contains(t, r.err, "write GitHub step summary")
}

// --cluster puts an environment (or the previews) on a cluster of its own;
// mistakes name the flag.
func TestEnvInit_Clusters(t *testing.T) {
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r := plattrGen(t, nil, "env", "init", "--repo", repo, "--domain", "apps.example.com", "--repo-url", "https://github.com/acme/env.git",
		"--cluster", "prod=prod-eu", "--cluster", "preview=previews", "--cluster", "uat=https://uat.k8s.example.com")
	require.Equal(t, 0, r.code, r.err)
	files := gittest.Files(t, repo)
	cfg := files["plattr-env.yaml"]
	assert.Contains(t, cfg, "- cluster: prod-eu\n  name: prod\n")
	assert.Contains(t, cfg, "preview:\n  cluster: previews\n")
	assert.Contains(t, cfg, "projectPerEnvironment: true\n")
	assert.NotContains(t, cfg, "project:")

	// Each environment's project allows its cluster and namespace only, and
	// only Plattr Applications; the roots' only Argo CD Applications in argocd.
	projects := map[string]argov1.AppProject{}
	for _, doc := range strings.Split(files["bootstrap/projects.yaml"], "\n---\n") {
		var p argov1.AppProject
		require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &p))
		projects[p.Name] = p
	}
	require.Len(t, projects, 5)
	for name, want := range map[string]argov1.ApplicationDestination{
		"plattr":         {Server: "https://kubernetes.default.svc", Namespace: "argocd"},
		"plattr-staging": {Server: "https://kubernetes.default.svc", Namespace: "staging"},
		"plattr-uat":     {Server: "https://uat.k8s.example.com", Namespace: "uat"},
		"plattr-prod":    {Name: "prod-eu", Namespace: "prod"},
		"plattr-preview": {Name: "previews", Namespace: "preview"},
	} {
		p := projects[name]
		assert.Equal(t, []argov1.ApplicationDestination{want}, p.Spec.Destinations, name)
		assert.Equal(t, []string{"https://github.com/acme/env.git"}, p.Spec.SourceRepos, name)
		assert.Empty(t, p.Spec.ClusterResourceWhitelist, name)
		kind := metav1.GroupKind{Group: "plattr.dev", Kind: "Application"}
		if name == "plattr" {
			kind = metav1.GroupKind{Group: "argoproj.io", Kind: "Application"}
		}
		assert.Equal(t, []metav1.GroupKind{kind}, p.Spec.NamespaceResourceWhitelist, name)
	}
	var root argov1.Application
	require.NoError(t, yaml.UnmarshalStrict([]byte(files["bootstrap/prod.yaml"]), &root))
	assert.Equal(t, "plattr", root.Spec.Project)
	assert.Equal(t, argov1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "argocd"}, root.Spec.Destination, "roots stay on Argo CD's own cluster")

	for args, want := range map[string]string{
		"qa=qa-eu":                `--cluster qa=qa-eu: "qa" is not one of --envs (staging, uat, prod) nor preview`,
		"prod=Prod EU":            `--cluster: "Prod EU" is neither the name of a cluster registered with Argo CD`,
		"prod=http://k8s.example": `--cluster: "http://k8s.example": must be the https:// URL of a cluster Argo CD knows`,
		"prod=https://u:p@k8s.ex": `--cluster: "https://u:p@k8s.ex": must be the https:// URL of a cluster Argo CD knows, without credentials`,
	} {
		other := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
		r := plattrGen(t, nil, "env", "init", "--repo", other, "--domain", "apps.example.com", "--repo-url", "https://github.com/acme/env.git", "--cluster", args)
		assert.Equal(t, 2, r.code, args)
		assert.Contains(t, r.err, want, args)
	}
}

// An env repo laid down before projects per environment (one project) is
// upgraded by a branch to merge: nothing on main changes until it is merged,
// and the branch holds the projects, the moved children and the same releases.
func TestEnvUpgrade_Branch(t *testing.T) {
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r := plattrGen(t, nil, "env", "init", "--repo", repo, "--domain", "apps.example.com", "--repo-url", "https://github.com/acme/env.git", "--project", "default")
	require.Equal(t, 0, r.code, r.err)
	r = plattrGen(t, nil, "render", "--repo", repo, "--app-dir", exampleDir(), "--env", "staging", "--image", image)
	require.Equal(t, 0, r.code, r.err)
	main := gittest.Git(t, repo, "rev-parse", "main")

	r = plattrGen(t, nil, "env", "upgrade", "--repo", repo, "--cluster", "prod=prod-eu")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "pushed branch plattr/env-upgrade")
	assert.Equal(t, main, gittest.Git(t, repo, "rev-parse", "main"), "main is untouched until the pull request is merged")
	assert.Contains(t, gittest.Git(t, repo, "show", "plattr/env-upgrade:envs/staging/apps/hello.yaml"), "project: plattr-staging")
	assert.Contains(t, gittest.Git(t, repo, "show", "plattr/env-upgrade:bootstrap/projects.yaml"), "name: prod-eu")
	assert.Equal(t, gittest.Git(t, repo, "show", "main:envs/staging/hello/release.yaml"), gittest.Git(t, repo, "show", "plattr/env-upgrade:envs/staging/hello/release.yaml"))

	r = plattrGen(t, nil, "env", "upgrade", "--repo", repo, "--cluster", "prod=Prod EU")
	assert.Equal(t, 2, r.code, r.err)
	assert.Contains(t, r.err, `--cluster: "Prod EU" is neither the name of a cluster registered with Argo CD`)
}
