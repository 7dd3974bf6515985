package plattrgen

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/gittest"
)

// env init writes the branch it commits to as the branch Argo CD follows
// (before: targetRevision: main whatever --branch said).
func TestEnvInit_BranchIsTargetRevision(t *testing.T) {
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r := plattrGen(t, nil, "env", "init", "--repo", repo, "--branch", "envs", "--domain", "apps.example.com", "--repo-url", "https://github.com/acme/env.git")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, gittest.Git(t, repo, "show", "envs:plattr-env.yaml"), "targetRevision: envs")
	assert.Contains(t, gittest.Git(t, repo, "show", "envs:bootstrap/staging.yaml"), "targetRevision: envs", "the roots follow it too")
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
		"--cluster", "prod=prod-eu", "--cluster", "preview=previews")
	require.Equal(t, 0, r.code, r.err)
	cfg := gittest.Files(t, repo)["plattr-env.yaml"]
	assert.Contains(t, cfg, "- cluster: prod-eu\n  name: prod\n")
	assert.Contains(t, cfg, "preview:\n  cluster: previews\n")

	for args, want := range map[string]string{
		"qa=qa-eu":     `--cluster qa=qa-eu: "qa" is not one of --envs (staging, uat, prod) nor preview`,
		"prod=Prod EU": `--cluster: "Prod EU" is not an Argo CD cluster name`,
	} {
		other := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
		r := plattrGen(t, nil, "env", "init", "--repo", other, "--domain", "apps.example.com", "--repo-url", "https://github.com/acme/env.git", "--cluster", args)
		assert.Equal(t, 2, r.code, args)
		assert.Contains(t, r.err, want, args)
	}
}
