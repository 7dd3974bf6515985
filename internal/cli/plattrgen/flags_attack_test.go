package plattrgen

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/gittest"
)

// env init --branch HEAD created refs/heads/HEAD, which git refuses to make:
// every command refuses it as a branch name.
func TestBranchFlag_HEADRefused(t *testing.T) {
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	for _, args := range [][]string{
		{"env", "init", "--domain", "apps.example.com"},
		{"render", "--env", "staging", "--image", image, "--app-dir", exampleDir()},
		{"promote", "--app", "hello", "--from", "staging", "--to", "uat"},
	} {
		r := plattrGen(t, nil, append(args, "--repo", repo, "--branch", "HEAD")...)
		assert.Equal(t, ExitUsage, r.code, r.err)
		assert.Contains(t, r.err, `--branch: invalid branch name "HEAD": "HEAD" is not a branch name (git reads it as the current commit)`, args[0])
	}
	assert.Empty(t, gittest.Git(t, repo, "for-each-ref", "refs/heads"), "no branch was made")
	_, err := gittest.GitErr(repo, "check-ref-format", "--branch", "HEAD")
	assert.Error(t, err, "git refuses it too")
}

// Names given in flags are checked first, naming the flag: "--app ../prod" was
// reported as an invalid branch name. --depth is bounded; --to is a commit id of
// at least 7 hex digits. Nothing is pushed.
func TestFlags_NamesAndNumbersRefusedNamingTheFlag(t *testing.T) {
	repo := newEnvRepo(t)
	renderApp(t, repo, "staging", "a")
	promote := func(args ...string) []string {
		return append([]string{"promote", "--repo", repo}, args...)
	}
	rollback := func(args ...string) []string {
		return append([]string{"rollback", "--app", "hello", "--env", "staging", "--repo", repo}, args...)
	}
	cases := map[string]struct {
		reason string
		args   []string
		want   string
	}{
		"app climbs":   {"was an invalid branch name", promote("--app", "../prod", "--from", "staging", "--to", "uat"), `--app: invalid application name "../prod"`},
		"app slash":    {"nests folders", promote("--app", "a/b", "--from", "staging", "--to", "uat"), `--app: invalid application name "a/b"`},
		"from climbs":  {"environment names", promote("--app", "hello", "--from", "../x", "--to", "uat"), `--from: invalid environment name "../x"`},
		"to dot git":   {"git's folder", promote("--all", "--from", "staging", "--to", ".git"), `--to: invalid environment name ".git"`},
		"rollback app": {"rollback names the flag too", []string{"rollback", "--app", "../prod", "--env", "staging", "--repo", repo}, `--app: invalid application name "../prod"`},
		"rollback env": {"and the environment", []string{"rollback", "--app", "hello", "--env", "Prod", "--repo", repo}, `--env: invalid environment name "Prod"`},
		"depth 0":      {"said: hello has no release in staging", rollback("--depth", "0"), "--depth must be between 1 and 10000 commits, is 0"},
		"depth -1":     {"said: hello has no release in staging", rollback("--depth", "-1"), "--depth must be between 1 and 10000 commits, is -1"},
		"depth huge":   {"each commit is fetched", rollback("--depth", "10001"), "--depth must be between 1 and 10000 commits, is 10001"},
		"to one digit": {"matched the first of many commits", rollback("--to", "a"), `--to must be an env repo commit id, full or abbreviated to at least 7 hex digits (git log --format=%h), is "a"`},
		"to six":       {"git abbreviates to 7", rollback("--to", "abcdef"), `at least 7 hex digits`},
		"to not hex":   {"a branch name is not a commit", rollback("--to", "main~1xx"), `at least 7 hex digits`},
		"to too long":  {"longer than a commit id", rollback("--to", strings.Repeat("a", 41)), `at least 7 hex digits`},
	}
	before := gittest.Git(t, repo, "rev-parse", "main")
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := plattrGen(t, nil, tc.args...)
			assert.Equal(t, ExitUsage, r.code, "%s: %s", tc.reason, r.err)
			assert.Contains(t, r.err, tc.want, tc.reason)
			assert.NotContains(t, r.err, "branch name", "the flag given is named, not the branch made of it")
			assert.Equal(t, "refs/heads/main", gittest.Git(t, repo, "for-each-ref", "--format=%(refname)", "refs/heads"), "no branch was pushed")
			assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"))
		})
	}
}

// --to with 7 digits (as git log --oneline shows them) restores the release of
// that commit, not another one sharing a shorter prefix.
func TestRollback_ToAbbreviatedCommit(t *testing.T) {
	repo := newEnvRepo(t)
	renderApp(t, repo, "staging", "1")
	first := gittest.Git(t, repo, "rev-parse", "main")
	firstRelease := gittest.Files(t, repo)["envs/staging/hello/release.yaml"]
	renderApp(t, repo, "staging", "2")
	renderApp(t, repo, "staging", "3")

	r := plattrGen(t, nil, "rollback", "--app", "hello", "--env", "staging", "--repo", repo, "--to", strings.ToUpper(first[:7]))
	require.Equal(t, ExitOK, r.code, r.err)
	assert.Contains(t, r.out, "pushed branch plattr/rollback-staging-hello")
	assert.Equal(t, firstRelease, gittest.Git(t, repo, "show", "plattr/rollback-staging-hello:envs/staging/hello/release.yaml")+"\n")
}
