package ops

import (
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
)

// oldEnvRepo is an env repo as versions before projects per environment wrote
// it (one project, "default"), with hello in staging and prod and a preview.
func oldEnvRepo(t *testing.T) envfiles.MapTree {
	t.Helper()
	cfg := generator.DefaultConfig("https://example.com/env.git", "apps.example.com", []string{"staging", "uat", "prod"})
	cfg.ArgoCD.ProjectPerEnvironment, cfg.ArgoCD.Project = false, "default"
	op, err := NewInit(cfg)
	require.NoError(t, err)
	p, err := op.Plan(envfiles.MapTree{})
	require.NoError(t, err)
	tree := envfiles.MapTree(p.Files)
	require.NotContains(t, tree, generator.ProjectsPath)
	for _, r := range []Render{release(t, "hello", digestA, "staging", 0, generator.Source{}), release(t, "hello", digestA, "prod", 0, generator.Source{}),
		release(t, "hello", digestB, "", 7, generator.Source{})} {
		plan, err := r.Plan(tree)
		require.NoError(t, err)
		apply(tree, plan.Plan)
	}
	require.Contains(t, string(tree["envs/prod/apps/hello.yaml"]), "project: default")
	return tree
}

// An env repo from before keeps rendering as it did; upgrade moves it to a
// project per environment (and prod to its cluster) without touching a release
// or an env.yaml, and a second run has nothing to do.
func TestUpgrade_OldRepo(t *testing.T) {
	tree := oldEnvRepo(t)
	r, err := release(t, "hello", digestB, "staging", 0, generator.Source{}).Plan(tree)
	require.NoError(t, err)
	assert.Contains(t, string(r.Files["envs/staging/apps/hello.yaml"]), "project: default", "an old repo renders as before")
	assert.NotContains(t, r.Files, generator.ProjectsPath)

	before := maps.Clone(tree)
	u := Upgrade{Clusters: map[string]string{"prod": "prod-eu"}}
	plan, err := u.Plan(tree)
	require.NoError(t, err)
	require.NoError(t, generator.Validate(plan.Files, tree), "the upgrade is a valid change")
	for p := range plan.Files {
		assert.False(t, strings.HasSuffix(p, "/release.yaml") || strings.HasSuffix(p, "/env.yaml"), "upgrade changed %s", p)
	}
	apply(tree, plan.Plan)
	assert.Contains(t, string(tree["plattr-env.yaml"]), "projectPerEnvironment: true")
	assert.Contains(t, string(tree["plattr-env.yaml"]), "- cluster: prod-eu\n  name: prod\n")
	assert.Contains(t, string(tree["bootstrap/prod.yaml"]), "project: plattr\n")
	assert.Contains(t, string(tree[generator.ProjectsPath]), "name: plattr-prod\n")
	prod := string(tree["envs/prod/apps/hello.yaml"])
	assert.Contains(t, prod, "project: plattr-prod\n")
	assert.Contains(t, prod, "  destination:\n    name: prod-eu\n    namespace: prod\n")
	assert.Contains(t, string(tree["envs/staging/apps/hello.yaml"]), "project: plattr-staging\n")
	assert.Contains(t, string(tree["envs/preview/apps/hello-pr-7.yaml"]), "project: plattr-preview\n")
	assert.Contains(t, string(tree["README.md"]), generator.ProjectsPath, "the generated README follows")
	for p, data := range before {
		if strings.HasSuffix(p, "/release.yaml") || strings.HasSuffix(p, "/env.yaml") {
			assert.Equal(t, string(data), string(tree[p]), p)
		}
	}
	assert.Contains(t, u.Proposal(plan.Config, plan.Workflow).Body, "git show FETCH_HEAD:bootstrap/projects.yaml | kubectl apply -n argocd -f -")

	again, err := u.Plan(tree)
	require.NoError(t, err)
	assert.Empty(t, again.Files, "a second upgrade has nothing to do")

	_, err = Upgrade{Clusters: map[string]string{"qa": "x"}}.Plan(tree)
	assert.ErrorContains(t, err, `--cluster qa=x: "qa" is not an environment of plattr-env.yaml (staging, uat, prod) nor preview`)
}

// The projects are generated from plattr-env.yaml and nothing else: a commit
// that widens one, removes it, or moves an environment in plattr-env.yaml
// without them is refused, naming the way to do it.
func TestValidate_ProjectsFollowTheConfig(t *testing.T) {
	tree := envRepo(t)
	projects := string(tree[generator.ProjectsPath])
	for name, change := range map[string]envfiles.Files{
		"widened": {generator.ProjectsPath: []byte(strings.Replace(projects, "namespace: prod\n", "namespace: '*'\n", 1))},
		"removed": {generator.ProjectsPath: nil},
		"config moved alone": {"plattr-env.yaml": []byte(strings.Replace(string(tree["plattr-env.yaml"]),
			"- name: prod\n", "- cluster: prod-eu\n  name: prod\n", 1))},
	} {
		err := generator.Validate(change, tree)
		assert.ErrorContains(t, err, "bootstrap/projects.yaml: is not the projects plattr-env.yaml gives", name)
		assert.ErrorContains(t, err, "run 'plattr-gen env upgrade'", name)
	}

	// A child Application moved to another environment's project is refused.
	r, err := release(t, "hello", digestA, "prod", 0, generator.Source{}).Plan(tree)
	require.NoError(t, err)
	apply(tree, r.Plan)
	forged := strings.Replace(string(tree["envs/prod/apps/hello.yaml"]), "project: plattr-prod", "project: plattr-staging", 1)
	err = generator.Validate(envfiles.Files{"envs/prod/apps/hello.yaml": []byte(forged)}, tree)
	assert.ErrorContains(t, err, `spec.project is "plattr-staging", plattr-gen writes "plattr-prod"`)
}

// Upgrade adds the env repo's workflow to a repo without one, and leaves a
// repo's own alone.
func TestUpgrade_Workflow(t *testing.T) {
	tree := oldEnvRepo(t)
	u := Upgrade{Workflow: "plattr/plattr/.github/workflows/env.yml@main"}
	plan, err := u.Plan(tree)
	require.NoError(t, err)
	require.True(t, plan.Workflow)
	assert.Contains(t, string(plan.Files[generator.WorkflowPath]), "uses: plattr/plattr/.github/workflows/env.yml@main\n")
	assert.Contains(t, u.Proposal(plan.Config, plan.Workflow).Body, "`.github/workflows/plattr.yml` is added")
	require.NoError(t, generator.Validate(plan.Files, tree))
	apply(tree, plan.Plan)

	tree[generator.WorkflowPath] = []byte("# the team's own\n")
	again, err := u.Plan(tree)
	require.NoError(t, err)
	assert.False(t, again.Workflow)
	assert.NotContains(t, again.Files, generator.WorkflowPath, "a person's workflow is kept")
}
