package plattrgen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
