package plattrgen

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakegithub"
	"github.com/plattr/plattr/internal/gittest"
	"github.com/plattr/plattr/operator/ghdeploy"
	"github.com/plattr/plattr/ops"
)

// setGates gives an environment gates by a person's commit to plattr-env.yaml.
func setGates(t *testing.T, repo, env, gates string) {
	t.Helper()
	setEnvField(t, repo, env, "  gates:\n"+gates)
}

// setEnvField adds a line (indented YAML) under an environment of plattr-env.yaml.
func setEnvField(t *testing.T, repo, env, line string) {
	t.Helper()
	work := gittest.Clone(t, repo)
	file := filepath.Join(work, "plattr-env.yaml")
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	at := "- name: " + env + "\n"
	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(string(data), at, at+line, 1)), 0o644))
	gittest.Git(t, work, "commit", "-qam", env+": "+strings.TrimSpace(line))
	gittest.Git(t, work, "push", "-q", "origin", "main")
}

// A promotion into an environment with a soak: refused while the release has
// no success where it comes from and while it soaks (with the time left, and
// nothing pushed); --pending opens it with plattr/promotion pending, gates
// turns it green once the soak has passed and then writes nothing more;
// --force passes and is recorded in the commit, the body and the status.
func TestPromote_Gates(t *testing.T) {
	withToken(t)
	s := fakegithub.New(token)
	defer s.Close()
	repo := newEnvRepo(t)
	renderApp(t, repo, "staging", "a")
	setGates(t, repo, "uat", "    soak: 1h\n")
	setEnvField(t, repo, "staging", "  deployer: "+fakegithub.DefaultLogin+"\n") // the operator's identity
	promote := func(args ...string) run {
		return plattrGen(t, ghEnv(s), append([]string{"promote", "--app", "hello", "--from", "staging", "--to", "uat",
			"--repo", repo, "--github-repo", "acme/env", "--allow-http"}, args...)...)
	}
	gates := func() run {
		return plattrGen(t, ghEnv(s), "gates", "--repo", repo, "--github-repo", "acme/env", "--allow-http")
	}
	branches := func() string { return gittest.Git(t, repo, "branch", "--list", "plattr/*") }

	r := promote()
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "the gates of uat do not hold:\n- hello sha256:aaaaaaaaaaaa has not run successfully in staging (no success on acme/hello's deployments)\n"+
		"fix the release where it runs, or open the pull request now with --pending")
	assert.Empty(t, s.PRs("acme/env"))
	assert.Empty(t, branches(), "nothing pushed")

	// A developer of the app forges a success in staging: not the deployer's,
	// so no evidence.
	s.AddUser("dev-token", "mallory")
	img := "ghcr.io/acme/hello@sha256:" + strings.Repeat("a", 64)
	rel := ghdeploy.Release{Repo: "acme/hello", Commit: strings.Repeat("a", 40), Environment: "staging",
		App: "hello", Image: img, URL: "https://hello.staging.apps.example.com"}
	dev, err := ghdeploy.New("dev-token", s.BaseURL())
	require.NoError(t, err)
	_, err = dev.Create(context.Background(), rel, ghdeploy.StateSuccess)
	require.NoError(t, err)
	s.Backdate("acme/hello", 2*time.Hour)
	r = promote()
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "has not run successfully in staging", "a forged deployment is no evidence")
	require.NoError(t, s.DeleteAllDeployments("acme/hello"))

	// The operator records the release in staging.
	gh, err := ghdeploy.New(token, s.BaseURL())
	require.NoError(t, err)
	_, err = gh.Create(context.Background(), rel, ghdeploy.StateSuccess)
	require.NoError(t, err)
	r = promote()
	assert.Equal(t, 1, r.code)
	assert.Regexp(t, `hello sha256:aaaaaaaaaaaa has soaked \d+s of 1h0m0s in staging: (1h0m0s|59m\d+s) left\ntry again in (1h0m0s|59m\d+s), or open`, r.err)
	assert.Empty(t, branches(), "nothing pushed")

	r = promote("--pending")
	require.Equal(t, 0, r.code, r.err)
	prs := s.PRs("acme/env")
	require.Len(t, prs, 1)
	assert.Contains(t, prs[0].Body, "### Evidence\n\n- `hello` sha256:aaaaaaaaaaaa (acme/hello@aaaaaaaaaaaa): healthy in staging since ")
	assert.Contains(t, prs[0].Body, "https://hello.staging.apps.example.com\n\nThe gates do not hold yet:\n- hello sha256:aaaaaaaaaaaa has soaked")
	head := gittest.Git(t, repo, "rev-parse", "plattr/promote-uat-hello")
	status := func() fakegithub.CommitStatus {
		st := s.CommitStatuses("acme/env", head)
		require.NotEmpty(t, st)
		return st[len(st)-1]
	}
	assert.Equal(t, "pending", status().State)
	assert.Equal(t, ops.StatusContext, status().Context)

	r = gates()
	require.Equal(t, 0, r.code, r.err)
	assert.Regexp(t, `^#1 staging → uat \(hello\): pending: hello sha256:aaaaaaaaaaaa has soaked \d+s of 1h0m0s in staging: (1h0m0s|59m\d+s) left\n$`, r.out)

	s.Backdate("acme/hello", time.Hour)
	r = gates()
	require.Equal(t, 0, r.code, r.err)
	assert.Equal(t, "#1 staging → uat (hello): success: every gate holds\n", r.out)
	assert.Equal(t, "success", status().State)
	writes := s.Writes()
	r = gates()
	require.Equal(t, 0, r.code, r.err)
	assert.Equal(t, writes, s.Writes(), "a steady state writes nothing")

	// A newer release in staging, forced past the soak.
	renderApp(t, repo, "staging", "b")
	r = promote("--force")
	require.Equal(t, 0, r.code, r.err)
	head = gittest.Git(t, repo, "rev-parse", "plattr/promote-uat-hello")
	msg := gittest.Git(t, repo, "log", "-1", "--format=%B", head)
	assert.Contains(t, msg, "Forced past the gates, which did not hold:\n- hello sha256:bbbbbbbbbbbb has not run successfully in staging")
	assert.Contains(t, msg, "Plattr-Forced: 1 gate(s) did not hold")
	assert.Contains(t, s.PRs("acme/env")[0].Body, "**Forced** past the gates (`--force`)")
	assert.Equal(t, "success", status().State)
	assert.True(t, strings.HasPrefix(status().Description, "forced past the gates: hello sha256:bbbbbbbbbbbb"), status().Description)
	r = gates()
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "success: forced past the gates", "gates keeps a forced promotion green")

	// Without GitHub the soak cannot be checked: refused, saying why.
	r = plattrGen(t, nil, "promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", repo)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "the soak in staging cannot be checked: no GitHub to read deployments from")
	r = plattrGen(t, nil, "gates", "--repo", repo)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.err, "gates reads pull requests on GitHub")
}
