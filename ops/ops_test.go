package ops

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/manifest"
)

const (
	digestA = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	digestB = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

// envRepo is a freshly initialised env repo, in memory.
func envRepo(t *testing.T) envfiles.MapTree {
	t.Helper()
	op, err := NewInit(generator.DefaultConfig("https://example.com/env.git", "apps.example.com", []string{"staging", "uat", "prod"}))
	require.NoError(t, err)
	plan, err := op.Plan(envfiles.MapTree{})
	require.NoError(t, err)
	assert.Equal(t, "init environment repo: staging → uat → prod\n", plan.Message.String())
	return envfiles.MapTree(plan.Files)
}

// apply writes a plan's files into tree, as a commit would.
func apply(tree envfiles.MapTree, p Plan) {
	for k, v := range p.Files {
		if v == nil {
			delete(tree, k)
		} else {
			tree[k] = v
		}
	}
}

func release(t *testing.T, app, digest, env string, pr int, source generator.Source) Render {
	t.Helper()
	m, err := manifest.Parse(manifest.FileName, []byte("name: "+app+"\n"))
	require.NoError(t, err)
	img, err := generator.ParseImage("r.example.com/"+app+"@"+digest, false)
	require.NoError(t, err)
	return Render{Release: generator.Release{Manifest: m, Image: img, Env: env, PR: pr, Source: source}, Branch: "main"}
}

func TestInit_RefusesOtherSettings(t *testing.T) {
	tree := envRepo(t)
	op, err := NewInit(generator.DefaultConfig("https://example.com/env.git", "other.example.com", []string{"staging", "prod"}))
	require.NoError(t, err)
	_, err = op.Plan(tree)
	assert.ErrorContains(t, err, "already initialised with other settings: edit plattr-env.yaml there instead")

	_, err = NewInit(generator.DefaultConfig("https://example.com/env.git", "apps.example.com", []string{"Staging"}))
	assert.Error(t, err, "settings are checked before any tree")
}

func TestRender_FilesAndMessage(t *testing.T) {
	tree := envRepo(t)
	op := release(t, "hello", digestA, "staging", 0, generator.Source{Repo: "acme/hello", Commit: "3f9c1a2b4d5e6f70", RunURL: "https://ci/run/1"})
	plan, err := op.Plan(tree)
	require.NoError(t, err)
	assert.Equal(t, "staging", op.Where())
	assert.Equal(t, "envs/staging/hello", plan.Target.Dir)
	assert.Contains(t, plan.Files, "envs/staging/hello/release.yaml")
	assert.Contains(t, plan.Files, "envs/staging/apps/hello.yaml")
	assert.Equal(t, "hello: deploy sha256:0123456789ab (source 3f9c1a2b) to staging\n\n"+
		"Plattr-App: hello\nPlattr-Environment: staging\nPlattr-Image: r.example.com/hello@"+digestA+"\n"+
		"Plattr-Source-Repo: acme/hello\nPlattr-Source-Commit: 3f9c1a2b4d5e6f70\nPlattr-CI-Run: https://ci/run/1\n", plan.Message.String())

	preview := release(t, "hello", digestA, "", 42, generator.Source{})
	plan, err = preview.Plan(tree)
	require.NoError(t, err)
	assert.Equal(t, "preview of PR #42", preview.Where())
	assert.Contains(t, plan.Files, "envs/preview/hello-pr-42/release.yaml")
	assert.Equal(t, "hello: deploy sha256:0123456789ab to preview of PR #42\n\nPlattr-App: hello\nPlattr-Environment: preview\n"+
		"Plattr-Image: r.example.com/hello@"+digestA+"\n", plan.Message.String())
}

// A render to a branch Argo CD does not follow would never deploy: refused as
// the flag's mistake (exit code 2).
func TestRender_BranchArgoCDDoesNotFollow(t *testing.T) {
	op := release(t, "hello", digestA, "staging", 0, generator.Source{})
	op.Branch = "develop"
	_, err := op.Plan(envRepo(t))
	var ie InputError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "--branch develop: Argo CD follows main (plattr-env.yaml's targetRevision), so a commit to develop would never deploy: give --branch main", err.Error())

	_, err = op.Plan(envfiles.MapTree{})
	assert.EqualError(t, err, "the env repo has no plattr-env.yaml: run 'plattr-gen env init' on it first")
}

func TestPromote_OneApp(t *testing.T) {
	tree := envRepo(t)
	r, err := release(t, "hello", digestA, "staging", 0, generator.Source{}).Plan(tree)
	require.NoError(t, err)
	apply(tree, r.Plan)

	op := Promote{App: "hello", From: "staging", To: "uat"}
	assert.Equal(t, "plattr/promote-uat-hello", op.Branch())
	plan, err := op.Plan(tree)
	require.NoError(t, err)
	assert.Equal(t, tree["envs/staging/hello/release.yaml"], plan.Files["envs/uat/hello/release.yaml"], "verbatim")
	assert.Equal(t, "hello: promote sha256:0123456789ab from staging to uat\n\n"+
		"Plattr-App: hello\nPlattr-Environment: uat\nPlattr-Promotion: staging -> uat\n", plan.Message.String())
	require.Len(t, plan.Changes, 1)
	assert.Nil(t, plan.Changes[0].Old, "new to uat")
	p := op.Proposal(plan)
	assert.Equal(t, "Promote hello to uat", p.Title)
	assert.Equal(t, []string{"plattr/promotion", "env/uat"}, p.Labels)
	assert.Contains(t, p.Body, "Promotes 1 app from **staging** to **uat**.")
	assert.Contains(t, p.Body, "| hello | `(none)` → `sha256:0123456789ab` |")

	apply(tree, plan.Plan)
	again, err := op.Plan(tree)
	require.NoError(t, err)
	assert.Empty(t, again.Files, "already released there")

	_, err = Promote{App: "hello", From: "staging", To: "prod"}.Plan(tree)
	assert.ErrorContains(t, err, "prod comes after staging in promotion order (staging → uat → prod), not right after it: promote to uat first, or pass --force to skip")
	forced, err := Promote{App: "hello", From: "staging", To: "prod", Force: true}.Plan(tree)
	require.NoError(t, err)
	assert.Contains(t, forced.Files, "envs/prod/hello/release.yaml")
}

// --all: every app whose release differs, by count past five (listed in the
// body), on one branch.
func TestPromote_All(t *testing.T) {
	tree := envRepo(t)
	var apps []string
	for i := range 7 {
		app := fmt.Sprintf("app%d", i)
		apps = append(apps, app)
		r, err := release(t, app, digestA, "staging", 0, generator.Source{}).Plan(tree)
		require.NoError(t, err)
		apply(tree, r.Plan)
	}
	op := Promote{All: true, From: "staging", To: "uat"}
	assert.Equal(t, "plattr/promote-staging-to-uat", op.Branch())
	plan, err := op.Plan(tree)
	require.NoError(t, err)
	assert.Len(t, plan.Changes, 7)
	assert.Equal(t, "promote 7 apps from staging to uat\n\n"+strings.Join(apps, "\n")+"\n\nPlattr-Promotion: staging -> uat\n", plan.Message.String())
	assert.Equal(t, "Promote 7 apps from staging to uat", op.Proposal(plan).Title)
}

func TestRollback_ChoosesTheRelease(t *testing.T) {
	at := func(id string, day int, content string) Version {
		return Version{Commit: id, When: time.Date(2026, 1, day, 12, 0, 0, 0, time.UTC), Subject: "day " + fmt.Sprint(day), Content: []byte(content)}
	}
	relA := "apiVersion: plattr.dev/v1alpha1\nkind: Application\nmetadata:\n  name: hello\nspec:\n  image: r.example.com/hello@" + digestA + "\n"
	relB := strings.Replace(relA, digestA, digestB, 1)
	relDB := relA + "  database:\n    enabled: true\n"
	versions := []Version{
		at("3f9c1a2b4d5e6f708192a3b4c5d6e7f809102132", 3, relB),
		at("1111111111111111111111111111111111111111", 2, relDB),
		at("3f9c1a2ffffffffffffffffffffffffffffffff0", 1, relA),
	}
	op := Rollback{App: "hello", Env: "prod", Steps: 1}
	assert.Equal(t, "envs/prod/hello/release.yaml", op.File())
	assert.Equal(t, "plattr/rollback-prod-hello", op.Branch())

	plan, err := op.Plan(versions, 200)
	require.NoError(t, err)
	assert.Equal(t, versions[1], plan.Target)
	assert.True(t, plan.DatabaseChanged)
	assert.Equal(t, envfiles.Files{"envs/prod/hello/release.yaml": []byte(relDB)}, plan.Files)
	assert.Equal(t, "hello: roll back prod to sha256:0123456789ab (as of 11111111)\n\nPlattr-App: hello\nPlattr-Environment: prod\n"+
		"Plattr-Rollback-To: 1111111111111111111111111111111111111111\n", plan.Message.String())
	p := op.Proposal(plan)
	assert.Equal(t, "Roll back hello in prod", p.Title)
	assert.Contains(t, p.Body, "back to the release committed in 111111111111 (day 2).")
	assert.Contains(t, p.Body, "The database block differs")

	op.To = "3F9C1A2"
	_, err = op.Plan(versions, 200)
	var ie InputError
	require.ErrorAs(t, err, &ie, "exit 2")
	assert.Equal(t, "--to 3f9c1a2 is ambiguous: the commits of 2 releases start with it: "+
		"3f9c1a2b4d5e6f708192a3b4c5d6e7f809102132 (2026-01-03), 3f9c1a2ffffffffffffffffffffffffffffffff0 (2026-01-01); give more digits", err.Error())
	op.To = "3f9c1a2f"
	plan, err = op.Plan(versions, 200)
	require.NoError(t, err)
	assert.Equal(t, relA, string(plan.Target.Content), "more digits pick one")
	op.To = "2222222"
	_, err = op.Plan(versions, 200)
	assert.EqualError(t, err, `no release of hello in prod was committed at "2222222" within the last 200 commits (see git log -- envs/prod/hello/release.yaml)`)
	op.To = "3f9c1a2b"
	plan, err = op.Plan(versions, 200)
	require.NoError(t, err)
	assert.Empty(t, plan.Files, "already runs it")

	_, err = Rollback{App: "hello", Env: "prod", Steps: 3}.Plan(versions, 50)
	assert.EqualError(t, err, "hello in prod has only 2 earlier release(s) within the last 50 commits: cannot go back 3")
	_, err = Rollback{App: "hello", Env: "prod", Steps: 1}.Plan(nil, 50)
	assert.EqualError(t, err, "hello has no release in prod (no envs/prod/hello/release.yaml)")
}

func TestRemovePreview(t *testing.T) {
	tree := envRepo(t)
	r, err := release(t, "hello", digestA, "", 7, generator.Source{}).Plan(tree)
	require.NoError(t, err)
	apply(tree, r.Plan)

	op := RemovePreview{App: "hello", PR: 7}
	plan, err := op.Plan(tree)
	require.NoError(t, err)
	assert.Equal(t, "hello: remove preview of PR #7\n\nPlattr-App: hello\nPlattr-Environment: preview\n", plan.Message.String())
	apply(tree, plan)
	for p := range tree {
		assert.NotContains(t, p, "hello-pr-7")
	}
	again, err := op.Plan(tree)
	require.NoError(t, err)
	assert.Empty(t, again.Files)
}

// gc removes the closed pull requests' previews of its repository only, asks
// GitHub once per pull request however often it plans (a rejected push plans
// again), and leaves other names alone.
func TestGCPreviews(t *testing.T) {
	tree := envRepo(t)
	for _, p := range []struct {
		app, repo string
		pr        int
	}{{"hello", "acme/hello", 1}, {"hello", "acme/hello", 2}, {"shop", "acme/shop", 3}, {"hello", "acme/hello", 4}} {
		r, err := release(t, p.app, digestA, "", p.pr, generator.Source{Repo: p.repo}).Plan(tree)
		require.NoError(t, err)
		apply(tree, r.Plan)
	}
	asked := map[int]int{}
	op := &GCPreviews{AppRepo: "acme/hello", State: func(pr int) (string, error) {
		asked[pr]++
		if pr == 2 {
			return "open", nil
		}
		return "closed", nil
	}}
	plan, err := op.Plan(tree)
	require.NoError(t, err)
	_, err = op.Plan(tree)
	require.NoError(t, err)
	assert.Equal(t, []string{"hello-pr-1", "hello-pr-4"}, plan.Removed)
	assert.Equal(t, map[int]int{1: 1, 2: 1, 4: 1}, asked, "once each; shop's preview is not asked about")
	assert.Equal(t, "remove previews of closed pull requests: hello-pr-1, hello-pr-4\n\nPlattr-Environment: preview\n", plan.Message.String())
	apply(tree, plan.Plan)
	assert.Contains(t, tree, "envs/preview/hello-pr-2/release.yaml")
	assert.Contains(t, tree, "envs/preview/shop-pr-3/release.yaml")

	failing := &GCPreviews{AppRepo: "acme/hello", State: func(int) (string, error) { return "", errors.New("GitHub: 502") }}
	_, err = failing.Plan(tree)
	assert.EqualError(t, err, "GitHub: 502")
}

// Every plan's files stay inside the env repo's contract.
func TestPlans_PathsAreChecked(t *testing.T) {
	tree := envRepo(t)
	r, err := release(t, "hello", digestA, "staging", 0, generator.Source{}).Plan(tree)
	require.NoError(t, err)
	for p := range r.Files {
		require.NoError(t, envfiles.CheckPath(p), p)
		assert.True(t, strings.HasPrefix(p, "envs/staging/"), p)
		assert.Equal(t, p, filepath.ToSlash(p))
	}
}

// plattr.yaml's secrets reach the release as externalSecrets: names and keys
// relative to the app's prefix, never a value.
func TestRender_SecretsBecomeExternalSecrets(t *testing.T) {
	tree := envRepo(t)
	m, err := manifest.Parse(manifest.FileName, []byte("name: shop\nsecrets:\n  STRIPE_KEY: stripe/api-key\n  A_TOKEN: a\n"))
	require.NoError(t, err)
	img, err := generator.ParseImage("r.example.com/shop@"+digestA, false)
	require.NoError(t, err)
	plan, err := Render{Release: generator.Release{Manifest: m, Image: img, Env: "staging"}, Branch: "main"}.Plan(tree)
	require.NoError(t, err)
	rel := string(plan.Files["envs/staging/shop/release.yaml"])
	assert.Contains(t, rel, "  externalSecrets:\n  - key: a\n    name: A_TOKEN\n  - key: stripe/api-key\n    name: STRIPE_KEY\n")
	assert.NotContains(t, rel, "plattr/staging", "the operator adds the prefix")
}

// An environment on a cluster of its own: its child Applications target that
// cluster by name (the cluster Secret Argo CD knows), the others stay on
// argocd.server; a child pointed at another cluster by hand is refused.
func TestPromote_ToAnotherCluster(t *testing.T) {
	cfg := generator.DefaultConfig("https://example.com/env.git", "apps.example.com", []string{"staging", "uat", "prod"})
	cfg.Environments[2].Cluster = "prod-eu"
	op, err := NewInit(cfg)
	require.NoError(t, err)
	initPlan, err := op.Plan(envfiles.MapTree{})
	require.NoError(t, err)
	tree := envfiles.MapTree(initPlan.Files)
	assert.NotContains(t, string(tree["bootstrap/prod.yaml"]), "prod-eu", "the root app-of-apps stays on Argo CD's own cluster")

	r, err := release(t, "hello", digestA, "staging", 0, generator.Source{}).Plan(tree)
	require.NoError(t, err)
	apply(tree, r.Plan)
	assert.Contains(t, string(tree["envs/staging/apps/hello.yaml"]), "server: https://kubernetes.default.svc")
	p, err := Promote{App: "hello", From: "staging", To: "prod", Force: true}.Plan(tree)
	require.NoError(t, err)
	child := string(p.Files["envs/prod/apps/hello.yaml"])
	assert.Contains(t, child, "  destination:\n    name: prod-eu\n    namespace: prod\n")
	assert.NotContains(t, child, "server:")
	assert.Equal(t, tree["envs/staging/hello/release.yaml"], p.Files["envs/prod/hello/release.yaml"], "one release.yaml, copied")
	apply(tree, p.Plan)

	forged := strings.Replace(child, "name: prod-eu", "name: staging-cluster", 1)
	err = generator.Validate(envfiles.Files{"envs/prod/apps/hello.yaml": []byte(forged)}, tree)
	assert.ErrorContains(t, err, `spec.destination.name is "staging-cluster", plattr-gen writes "prod-eu"`)

	bad := generator.DefaultConfig("https://example.com/env.git", "apps.example.com", []string{"staging", "prod"})
	bad.Environments[1].Cluster = "Prod EU"
	_, err = NewInit(bad)
	assert.ErrorContains(t, err, "environments[1].cluster:")
}
