package plattrgen

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/gitops/pulls"
	"github.com/plattr/plattr/internal/fakegithub"
	"github.com/plattr/plattr/internal/gittest"
	"github.com/plattr/plattr/operator/plan"
)

// branchByHand commits an edit of a file on a new branch of repo, as a
// person's pull request would.
func branchByHand(t *testing.T, repo, branch, file string, edit func(string) string) {
	t.Helper()
	work := gittest.Clone(t, repo)
	gittest.Git(t, work, "checkout", "-q", "-b", branch)
	p := filepath.Join(work, file)
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, []byte(edit(string(data))), 0o644))
	gittest.Git(t, work, "commit", "-qam", "edit "+file)
	gittest.Git(t, work, "push", "-q", "origin", branch)
}

func TestPlan(t *testing.T) {
	repo := newEnvRepo(t)
	renderApp(t, repo, "staging", "a")
	planOf := func(head string, args ...string) run {
		return plattrGen(t, nil, append([]string{"plan", "--repo", repo, "--base", "main", "--head", head}, args...)...)
	}

	// A promotion brings the app to uat: created, safe.
	r := plattrGen(t, nil, "promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", repo)
	require.Equal(t, 0, r.code, r.err)
	r = planOf("plattr/promote-uat-hello", "--output", "json", "--fail-on", "disruptive")
	require.Equal(t, 0, r.code, r.err)
	var rep planReport
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
	assert.Equal(t, plan.Safe, rep.Worst)
	var got []string
	for _, it := range rep.Items {
		got = append(got, it.Env+"/"+it.App+" "+string(it.Class)+" "+it.Part+" "+it.Action)
	}
	assert.Equal(t, []string{"uat/hello safe app create", "uat/hello safe postgres create", "uat/hello safe redis create"}, got)

	// A person turns Redis off in staging with deletionPolicy Delete: its data
	// goes, pods restart. --fail-on destructive exits 1.
	branchByHand(t, repo, "drop-redis", "envs/staging/hello/env.yaml", func(s string) string {
		return strings.Replace(s, "  deletionPolicy: Retain\n", "  deletionPolicy: Delete\n  redis:\n    enabled: false\n", 1)
	})
	r = planOf("drop-redis", "--fail-on", "destructive")
	assert.Equal(t, 1, r.code, r.out+r.err)
	assert.Contains(t, r.out, "merging drop-redis into main (worst: destructive):\nstaging/hello\n")
	assert.Contains(t, r.out, "destructive  redis       delete   Redis: the Redis user and every key under its prefix deleted with its data (deletionPolicy Delete), Secret hello-redis removed")
	assert.Contains(t, r.out, "disruptive   workload    restart  pods restart, one at a time: the Secrets it reads")
	assert.Contains(t, r.err, "the change is destructive (--fail-on destructive)")
	r = planOf("drop-redis", "--output", "markdown")
	require.Equal(t, 0, r.code, r.err)
	assert.True(t, strings.HasPrefix(r.out, PlanMarker+"\n### What merging this does\n\nWorst: **destructive**."), r.out)

	// Nothing changes: nothing to do.
	r = planOf("main")
	require.Equal(t, 0, r.code, r.err)
	assert.Equal(t, "merging main into main changes nothing the operator does\n", r.out)

	for args, want := range map[string]string{
		"--head":                   "flag needs an argument",
		"--head a..b":              "--head: ",
		"--head x --fail-on maybe": "--fail-on must be destructive or disruptive",
		"--head x --output yaml":   "--output must be text, json or markdown",
	} {
		r := plattrGen(t, nil, append([]string{"plan", "--repo", repo}, strings.Fields(args)...)...)
		assert.Equal(t, 2, r.code, args)
		assert.Contains(t, r.err, want, args)
	}
	r = planOf("no-such-branch")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, `--head: branch "no-such-branch" does not exist`)
}

// On a pull request: one comment with the plan, however often it runs, and
// the plattr/plan status, failing for data lost in production until the
// pull request has the label that allows it.
func TestPlan_PullRequest(t *testing.T) {
	withToken(t)
	s := fakegithub.New(token)
	defer s.Close()
	repo := newEnvRepo(t)
	renderApp(t, repo, "prod", "a")
	branchByHand(t, repo, "drop-redis-prod", "envs/prod/hello/env.yaml", func(s string) string {
		return strings.Replace(s, "  deletionPolicy: Retain\n", "  deletionPolicy: Delete\n  redis:\n    enabled: false\n", 1)
	})
	prs, err := pulls.New(token, "acme/env", pulls.WithBaseURL(s.BaseURL()))
	require.NoError(t, err)
	spec := pulls.Spec{Head: "drop-redis-prod", Base: "main", Title: "Drop Redis in prod", Body: "tidy up"}
	pr, _, err := prs.Ensure(context.Background(), spec)
	require.NoError(t, err)
	planPR := func(args ...string) run {
		return plattrGen(t, ghEnv(s), append([]string{"plan", "--repo", repo, "--github-repo", "acme/env", "--allow-http", "--pr", fmt.Sprint(pr.Number)}, args...)...)
	}
	head := gittest.Git(t, repo, "rev-parse", "drop-redis-prod")
	for range 3 {
		r := planPR("--comment")
		require.Equal(t, 0, r.code, r.err)
	}
	comments := s.PRs("acme/env")[0].Comments
	require.Len(t, comments, 1, "one comment after three runs")
	assert.Contains(t, comments[0].Body, "| prod/hello | destructive | redis delete | Redis: the Redis user and every key under its prefix deleted")
	st := s.CommitStatuses("acme/env", head)
	require.Len(t, st, 1, "the same status is written once")
	assert.Equal(t, PlanContext, st[0].Context)
	assert.Equal(t, "failure", st[0].State)
	assert.Equal(t, "1 destructive item(s) in production: add the label plattr/allow-destructive to allow them", st[0].Description)

	spec.Labels = []string{LabelAllowDestructive}
	_, _, err = prs.Ensure(context.Background(), spec)
	require.NoError(t, err)
	r := planPR("--comment", "--fail-on", "destructive")
	assert.Equal(t, 1, r.code, "--fail-on still says what the change is")
	st = s.CommitStatuses("acme/env", head)
	assert.Equal(t, "success", st[len(st)-1].State)
	assert.Contains(t, st[len(st)-1].Description, "allowed by plattr/allow-destructive")

	for args, want := range map[string]string{
		"--pr 1 --head x":    "--pr and --head exclude each other",
		"--comment":          "give --head BRANCH, or --pr N",
		"--head x --comment": "--comment needs --pr",
	} {
		r := plattrGen(t, ghEnv(s), append([]string{"plan", "--repo", repo, "--github-repo", "acme/env", "--allow-http"}, strings.Fields(args)...)...)
		assert.Equal(t, 2, r.code, args)
		assert.Contains(t, r.err, want, args)
	}
	r = plattrGen(t, nil, "plan", "--repo", repo, "--pr", "1")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.err, "--pr reads the pull request on GitHub")
}

// A change that also says prod is no production environment is still
// planned as production's (and the new base domain does not hide it).
func TestPlan_ConfigChanges(t *testing.T) {
	withToken(t)
	repo := newEnvRepo(t)
	renderApp(t, repo, "prod", "a")
	work := gittest.Clone(t, repo)
	gittest.Git(t, work, "checkout", "-q", "-b", "sneaky")
	cfg := filepath.Join(work, "plattr-env.yaml")
	data, err := os.ReadFile(cfg)
	require.NoError(t, err)
	edited := strings.Replace(string(data), "  production: true\n", "", 1)
	edited = strings.Replace(edited, "baseDomain: apps.example.com", "baseDomain: apps.example.org", 1)
	require.NoError(t, os.WriteFile(cfg, []byte(edited), 0o644))
	env := filepath.Join(work, "envs/prod/hello/env.yaml")
	data, err = os.ReadFile(env)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(env, []byte(strings.Replace(string(data), "  deletionPolicy: Retain\n", "  deletionPolicy: Delete\n  redis:\n    enabled: false\n", 1)), 0o644))
	gittest.Git(t, work, "commit", "-qam", "not production any more")
	gittest.Git(t, work, "push", "-q", "origin", "sneaky")

	r := plattrGen(t, nil, "plan", "--repo", repo, "--head", "sneaky", "--output", "json")
	require.Equal(t, 0, r.code, r.err)
	var rep planReport
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
	var prodDestructive bool
	for _, it := range rep.Items {
		if it.Env == "prod" && it.Class == plan.Destructive {
			prodDestructive = it.Production
		}
	}
	assert.True(t, prodDestructive, "still production's: %v", rep.Items)
}
