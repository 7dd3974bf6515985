package workflows

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/gitops/pulls"
	"github.com/plattr/plattr/internal/gittest"
	"github.com/plattr/plattr/internal/testenv"
)

// runEnv runs the env repo's workflow (what plattr-gen env init wrote) in a
// checkout of it for event with act, with the run's own token, and returns
// act's exit code and output.
func (w *world) runEnv(checkout, event string, payload map[string]any) actRun {
	t := w.t
	t.Helper()
	payload["repository"] = map[string]any{"full_name": "acme/env", "name": "env", "default_branch": "main",
		"owner": map[string]any{"login": "acme"}}
	data, err := json.Marshal(payload)
	require.NoError(t, err)
	eventFile := filepath.Join(t.TempDir(), "event.json")
	require.NoError(t, os.WriteFile(eventFile, data, 0o644))
	caller := filepath.Join(checkout, ".github", "workflows", "plattr.yml")
	args := []string{event, "-C", checkout, "-W", caller,
		"-e", eventFile, "-P", "ubuntu-latest=-self-hosted", "--use-new-action-cache", "--action-cache-path", w.cache,
		"--no-cache-server", "--concurrent-jobs", "1",
		"--env", "GITHUB_SERVER_URL=" + w.server.URL, "--env", "GITHUB_API_URL=" + w.gh.BaseURL(),
		"--env", "PLATTR_STANDIN_LOG=" + w.log, "-s", "GITHUB_TOKEN=" + token}
	args = append(args, w.localRepositories(caller, "env.yml")...)
	return w.act(event, args)
}

// The env repo's workflow, as GitHub runs it: on a pull request, the plan as
// one comment (three runs, one comment) and the plattr/plan status, failing a
// destructive change to production until the label allows it; on the
// schedule, the gates and the release matrix.
func TestEnvWorkflow_PlanGatesStatus(t *testing.T) {
	w := newWorld(t)
	bin := plattrGen(t, "", w.version)
	checkout := gittest.Clone(t, w.envRepo)
	require.FileExists(t, filepath.Join(checkout, ".github", "workflows", "plattr.yml"), "env init wrote the workflow")

	// hello runs in prod; a pull request turns its deletion policy to Delete
	// and drops its Redis: its keys go.
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	render := exec.Command(bin, "render", "--app-dir", filepath.Join(root, "examples", "hello"), "--env", "prod",
		"--image", "ghcr.io/acme/hello@sha256:"+strings.Repeat("a", 64), "--repo", w.envRepo)
	render.Env = append(os.Environ(), "PLATTR_GIT_TOKEN="+token)
	out, err := render.CombinedOutput()
	require.NoError(t, err, string(out))
	gittest.Git(t, checkout, "pull", "-q", w.envRepo, "main")
	// On GitHub as acme/env (act reads the repository from the remote).
	gittest.Git(t, checkout, "remote", "set-url", "origin", "https://github.com/acme/env.git")
	gittest.Git(t, checkout, "checkout", "-q", "-b", "drop-redis")
	envYAML := filepath.Join(checkout, "envs", "prod", "hello", "env.yaml")
	data, err := os.ReadFile(envYAML)
	require.NoError(t, err)
	changed := strings.Replace(string(data), "  deletionPolicy: Retain\n", "  deletionPolicy: Delete\n  redis:\n    enabled: false\n", 1)
	require.NotEqual(t, string(data), changed)
	require.NoError(t, os.WriteFile(envYAML, []byte(changed), 0o644))
	gittest.Git(t, checkout, "-c", "user.name=Ops", "-c", "user.email=ops@example.com", "commit", "-qam", "drop Redis in prod")
	gittest.Git(t, checkout, "push", "-q", w.envRepo, "drop-redis")
	head := strings.TrimSpace(gittest.Git(t, checkout, "rev-parse", "HEAD"))
	number := w.gh.OpenPR("acme/env", "drop-redis", "Drop Redis in prod")
	pr := func(action string) map[string]any {
		return map[string]any{"action": action, "number": number, "pull_request": map[string]any{
			"number": number, "state": "open",
			"head": map[string]any{"sha": head, "ref": "drop-redis", "repo": map[string]any{"full_name": "acme/env"}},
			"base": map[string]any{"ref": "main", "repo": map[string]any{"full_name": "acme/env"}},
		}}
	}
	for _, action := range []string{"opened", "synchronize", "reopened"} {
		r := w.runEnv(checkout, "pull_request_target", pr(action))
		require.Equal(t, 0, r.code, r.out)
		assert.Contains(t, r.out, "| prod/hello | destructive | redis delete |", "the plan in the run's output and summary")
	}
	prs := w.gh.PRs("acme/env")
	require.Len(t, prs, 1)
	require.Len(t, prs[0].Comments, 1, "one comment after three runs")
	assert.Contains(t, prs[0].Comments[0].Body, "Redis: the Redis user and every key under its prefix deleted")
	st := w.gh.CommitStatuses("acme/env", head)
	require.NotEmpty(t, st)
	assert.Equal(t, "plattr/plan", st[len(st)-1].Context)
	assert.Equal(t, "failure", st[len(st)-1].State, "a destructive change to production without the label")

	// The label: labelling runs the workflow again, and the check passes.
	client, err := pulls.New(token, "acme/env", pulls.WithBaseURL(w.gh.BaseURL()))
	require.NoError(t, err)
	_, _, err = client.Ensure(context.Background(), pulls.Spec{Head: "drop-redis", Base: "main", Title: "Drop Redis in prod",
		Labels: []string{"plattr/allow-destructive"}})
	require.NoError(t, err)
	r := w.runEnv(checkout, "pull_request_target", pr("labeled"))
	require.Equal(t, 0, r.code, r.out)
	st = w.gh.CommitStatuses("acme/env", head)
	assert.Equal(t, "success", st[len(st)-1].State)
	assert.Len(t, w.gh.PRs("acme/env")[0].Comments, 1)

	// A pull request from a fork is not planned, and the run says why.
	fork := pr("opened")
	fork["pull_request"].(map[string]any)["head"].(map[string]any)["repo"] = map[string]any{"full_name": "mallory/env"}
	r = w.runEnv(checkout, "pull_request_target", fork)
	require.Equal(t, 0, r.code, r.out)
	assert.Contains(t, r.out, "comes from mallory/env")

	// The schedule: the gates of open promotions (none here), and the release matrix.
	r = w.runEnv(checkout, "schedule", map[string]any{"schedule": "*/15 * * * *"})
	require.Equal(t, 0, r.code, r.out)
	assert.Contains(t, r.out, "no open promotion pull requests", "the gates job ran")
	r = w.runEnv(checkout, "push", map[string]any{"ref": "refs/heads/main"})
	require.Equal(t, 0, r.code, r.out)
	assert.Contains(t, r.out, "sha256:aaaaaaaaaaaa", "the release matrix names what prod runs")
	assert.Contains(t, r.out, "Summary - # Releases", "the matrix in the run's summary")
	assert.Equal(t, int64(1), w.downloads.Load(), "plattr-gen downloaded once, then from the runner's tool cache")
}
