package plattrgen

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/plattr/plattr/internal/fakegithub"
	"github.com/plattr/plattr/internal/gittest"
)

// The token goes to api.github.com only for an env repo on github.com: promote
// of a local (or GitHub Enterprise) env repo with --github-repo and no
// --github-api-url sent it there. It is refused before anything is pushed.
func TestGitHub_TokenNotSentToGitHubComForAnotherRepo(t *testing.T) {
	withToken(t)
	repo := newEnvRepo(t)
	renderApp(t, repo, "staging", "e")
	for _, args := range [][]string{
		{"promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", repo, "--github-repo", "acme/env"},
		{"rollback", "--app", "hello", "--env", "staging", "--repo", repo, "--github-repo", "acme/env"},
		{"preview", "gc", "--app-repo", "acme/hello", "--repo", repo},
	} {
		r := plattrGen(t, nil, args...) // no $GITHUB_API_URL
		assert.Equal(t, ExitUsage, r.code, "%v: %s", args, r.err)
		assert.Contains(t, r.err, "--github-api-url is required: --repo is not on github.com, so the token is not sent to https://api.github.com unless you say so; "+
			"give your GitHub Enterprise server's API URL (https://HOST/api/v3), or https://api.github.com", args[0])
		assert.NotContains(t, r.out+r.err, token)
	}
	assert.Equal(t, "refs/heads/main", gittest.Git(t, repo, "for-each-ref", "--format=%(refname)", "refs/heads"), "no branch was pushed")
}

// --github-repo (and preview gc's --app-repo) is owner/name: "acme/.." reached
// /repos/pulls with the token and "acme?x=/y" forged a query, after the branch
// was pushed. Now they are refused first: no branch, no request to GitHub.
func TestGitHub_RepoNameRefusedBeforeAnythingIsPushed(t *testing.T) {
	withToken(t)
	s := fakegithub.New(token)
	defer s.Close()
	repo := newEnvRepo(t)
	renderApp(t, repo, "staging", "f")
	cases := map[string]struct {
		reason string
		args   []string
		want   string
	}{
		"dot dot":     {"climbs to /repos/pulls", []string{"promote", "--app", "hello", "--from", "staging", "--to", "uat", "--github-repo", "acme/.."}, `--github-repo: invalid repository name "acme/..": must not be "." nor contain ".."`},
		"query":       {"forges a query", []string{"promote", "--app", "hello", "--from", "staging", "--to", "uat", "--github-repo", "acme?x=/y"}, `--github-repo: invalid repository name "acme?x=/y": must be owner/name, each of letters, digits, '-', '.' and '_'`},
		"fragment":    {"cuts the path", []string{"rollback", "--app", "hello", "--env", "staging", "--to", "0000000", "--github-repo", "acme/env#"}, `--github-repo: invalid repository name "acme/env#"`},
		"three parts": {"another endpoint", []string{"promote", "--all", "--from", "staging", "--to", "uat", "--github-repo", "acme/env/issues"}, `--github-repo: invalid repository name "acme/env/issues"`},
		"app repo":    {"preview gc's repository", []string{"preview", "gc", "--app-repo", "acme/../x"}, `--app-repo: invalid repository name "acme/../x"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := plattrGen(t, ghEnv(s), append(tc.args, "--repo", repo, "--allow-http")...)
			assert.Equal(t, ExitUsage, r.code, "%s: %s", tc.reason, r.err)
			assert.Contains(t, r.err, tc.want)
			assert.Zero(t, s.Requests(), "GitHub was not asked")
			assert.Equal(t, "refs/heads/main", gittest.Git(t, repo, "for-each-ref", "--format=%(refname)", "refs/heads"), "no branch was pushed")
		})
	}
}
