package plattrgen

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/gittest"
)

const (
	urlPassword = "pa55-URL-s3cret"
	envToken    = "ghp_ENV-t0ken-s3cret"
)

// assertNoSecret checks a run's whole output for the password and the token.
func assertNoSecret(t *testing.T, r run) {
	t.Helper()
	for _, s := range []string{urlPassword, envToken, "s3cret"} {
		assert.NotContains(t, r.out+r.err, s)
	}
}

// Every refused --repo and --github-api-url is refused before any command runs
// (exit 2), naming the flag, and the output holds neither the URL's password nor
// the token: control characters are refused before parsing, a URL that does not
// parse is described, never shown.
func TestFlags_RefusedURLsNeverPrinted(t *testing.T) {
	t.Setenv("PLATTR_GIT_TOKEN", envToken)
	render := func(repo string, extra ...string) []string {
		return append([]string{"render", "--env", "staging", "--image", image, "--app-dir", exampleDir(), "--repo", repo}, extra...)
	}
	envInit := func(repo string, extra ...string) []string {
		return append([]string{"env", "init", "--domain", "apps.example.com", "--repo", repo}, extra...)
	}
	cases := map[string]struct {
		reason string
		args   []string
		want   string
	}{
		"trailing CR":       {"a variable read from a CRLF file", render("https://x:" + urlPassword + "@github.com/acme/env.git\r"), "--repo contains a control character (0x0d"},
		"trailing newline":  {"env init would print it as a local path", envInit("https://" + envToken + "@github.com/acme/env.git\n"), "--repo contains a control character (0x0a"},
		"port is password":  {"the host was left out", render("https://x-access-token:" + urlPassword + "/acme/env.git"), "--repo is not a valid URL (its port is not a number"},
		"two at signs":      {"the old redaction stopped at the first '@'", envInit("https://***@" + urlPassword + "@127.0.0.1:bad/env.git"), "--repo is not a valid URL"},
		"scp-like":          {"SSH", render("git@github.com:acme/env.git"), "--repo is an SSH URL, and SSH is not supported: use https://github.com/acme/env.git"},
		"ssh with token":    {"the user of an SSH URL may be a token", envInit("ssh://" + envToken + "@github.com/acme/env.git"), "SSH is not supported: use https://github.com/acme/env.git"},
		"plain http":        {"a token over plain http", render("http://x:" + urlPassword + "@example.com/env.git"), "--repo uses plain http (http://***@example.com/env.git)"},
		"http loopback":     {"even a test server needs the flag", render("http://127.0.0.1:1/env.git"), "(--allow-http allows it to a test server on a loopback address)"},
		"http not loopback": {"--allow-http is for loopback only", render("http://example.com/env.git", "--allow-http"), "--repo uses plain http to example.com, which is not a loopback address"},
		"api bad port":      {"a password in the API URL's port", []string{"promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", "/tmp/x", "--github-repo", "acme/env", "--github-api-url", "https://x:" + urlPassword + "@api.example.com:bad/"}, "--github-api-url is not a valid URL"},
		"api credentials":   {"the token goes in a header", []string{"rollback", "--app", "hello", "--env", "prod", "--repo", "/tmp/x", "--github-repo", "acme/env", "--github-api-url", "https://x:" + urlPassword + "@api.example.com/"}, "--github-api-url carries credentials"},
		"api plain http":    {"the token over plain http", []string{"preview", "gc", "--app-repo", "acme/hello", "--repo", "/tmp/x", "--github-api-url", "http://api.example.com/"}, "--github-api-url uses plain http"},
		"api CR":            {"from $GITHUB_API_URL read from a file", []string{"promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", "/tmp/x", "--github-api-url", "https://api.example.com/\r"}, "--github-api-url contains a control character"},
		"bad branch":        {"git's rules for branch names", render("/tmp/x", "--branch", "main..x"), `--branch: invalid branch name "main..x"`},
		"negative timeout":  {"durations", render("/tmp/x", "--idle-timeout", "-1s"), "--idle-timeout must not be negative"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := plattrGen(t, nil, tc.args...)
			assert.Equal(t, ExitUsage, r.code, "%s: %s", tc.reason, r.err)
			assert.Contains(t, r.err, tc.want, tc.reason)
			assertNoSecret(t, r)
		})
	}
}

// Credentials in --repo's URL win over the token, which is not sent; the command
// says so on stderr, naming neither.
func TestFlags_URLCredentialsWinOverToken(t *testing.T) {
	t.Setenv("PLATTR_GIT_TOKEN", envToken)
	root := t.TempDir()
	repo := gittest.BareRepo(t, filepath.Join(root, "env.git"))
	srv := gittest.Serve(t, root, "ci", urlPassword)
	withCreds := strings.Replace(srv.URL, "http://", "http://ci:"+urlPassword+"@", 1) + "/env.git"
	r := plattrGen(t, nil, "env", "init", "--repo", withCreds, "--allow-http", "--domain", "apps.example.com")
	require.Equal(t, ExitOK, r.code, r.err)
	assert.Contains(t, r.err, "--repo's URL carries credentials: they are used, and the token in $PLATTR_GIT_TOKEN is not sent")
	assertNoSecret(t, r)
	assert.Equal(t, 1, gittest.CommitCount(t, repo))

	// Without credentials in the URL the token is used: this server refuses it.
	r = plattrGen(t, nil, "env", "init", "--repo", srv.URL+"/env.git", "--allow-http", "--domain", "apps.example.com")
	assert.Equal(t, ExitFailure, r.code)
	assert.Contains(t, r.err, "authentication required")
	assert.NotContains(t, r.err, "carries credentials")
	assertNoSecret(t, r)
}

// A silent server ends the command after the limit, with an error naming the
// flag that set it; nothing is pushed.
func TestFlags_Timeouts(t *testing.T) {
	root := t.TempDir()
	repo := newEnvRepoAt(t, filepath.Join(root, "env.git"))
	before := gittest.Git(t, repo, "rev-parse", "main")
	stallRefs, _ := gittest.ServeStalling(t, root, func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/info/refs") }, 0)
	stallPush, _ := gittest.ServeStalling(t, root, func(r *http.Request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack")
	}, 0)
	silent := gittest.SilentListener(t)
	render := func(repo string, extra ...string) []string {
		return append([]string{"render", "--env", "staging", "--image", image, "--app-dir", exampleDir(), "--repo", repo}, extra...)
	}
	cases := map[string]struct {
		reason string
		args   []string
		want   string
	}{
		"idle fetch": {"a server that never answers", render(stallRefs.URL+"/env.git", "--allow-http", "--idle-timeout", "200ms"),
			"no data moved to or from the server for 200ms (--idle-timeout: raise it for a server this slow)"},
		"idle push": {"a push never reported", render(stallPush.URL+"/env.git", "--allow-http", "--idle-timeout", "200ms"),
			"push " + stallPush.URL + "/env.git: no data moved to or from the server for 200ms (--idle-timeout"},
		"connect": {"a TLS handshake that never ends", render("https://"+silent+"/env.git", "--connect-timeout", "200ms"),
			"no connection to the server within 200ms (--connect-timeout: check --repo, or raise it)"},
		"total": {"the whole command", render(stallRefs.URL+"/env.git", "--allow-http", "--idle-timeout", "0", "--timeout", "300ms"),
			"stopped after --timeout 300ms: "},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			r := plattrGen(t, nil, tc.args...)
			assert.Equal(t, ExitFailure, r.code, r.err)
			assert.Contains(t, r.err, tc.want, tc.reason)
			assert.Less(t, time.Since(start), 10*time.Second)
			assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"), "nothing was pushed")
		})
	}
}

func newEnvRepoAt(t *testing.T, dir string) string {
	t.Helper()
	repo := gittest.BareRepo(t, dir)
	r := plattrGen(t, nil, "env", "init", "--repo", repo, "--domain", "apps.example.com", "--repo-url", "https://github.com/acme/env.git")
	require.Equal(t, 0, r.code, r.err)
	return repo
}

// A --branch the env repo does not have is named as such (not "the env repo has
// no plattr-env.yaml"), with the branches it has.
func TestFlags_MissingBranch(t *testing.T) {
	repo := newEnvRepo(t)
	for _, args := range [][]string{
		{"render", "--env", "staging", "--image", image, "--app-dir", exampleDir()},
		{"promote", "--app", "hello", "--from", "staging", "--to", "uat"},
		{"rollback", "--app", "hello", "--env", "prod"},
		{"preview", "delete", "--app", "hello", "--pr", "3"},
	} {
		r := plattrGen(t, nil, append(args, "--repo", repo, "--branch", "envs")...)
		assert.Equal(t, ExitFailure, r.code, args)
		assert.Contains(t, r.err, `--branch: branch "envs" does not exist in `+repo+"; its branches are: main", args)
		assert.NotContains(t, r.err, "plattr-env.yaml", args)
	}
	assert.Equal(t, 1, gittest.CommitCount(t, repo))
}

// What a server's hook says when it refuses the push reaches the user.
func TestRender_PushRefusalShown(t *testing.T) {
	root := t.TempDir()
	repo := newEnvRepoAt(t, filepath.Join(root, "env.git"))
	gittest.Hook(t, repo, "pre-receive", "#!/bin/sh\necho 'main is protected: releases go through a pull request' >&2\nexit 1\n")
	srv := gittest.Serve(t, root, "", "")
	r := plattrGen(t, nil, "render", "--env", "staging", "--image", image, "--app-dir", exampleDir(), "--repo", srv.URL+"/env.git", "--allow-http")
	assert.Equal(t, ExitFailure, r.code)
	assert.Contains(t, r.err, "pre-receive hook declined; the server said:\nremote: main is protected: releases go through a pull request")
}

// A hostile entry in the env repo stops the render, naming it; nothing is pushed.
func TestRender_UnsafeEntryRefused(t *testing.T) {
	repo := newEnvRepo(t)
	blob := gittest.GitInput(t, repo, "[core]\n\thooksPath = /tmp\n", "hash-object", "-w", "--stdin")
	config := gittest.WriteTree(t, repo, []gittest.Entry{{Mode: "100644", Name: "config", Hash: blob}})
	head := gittest.Plant(t, repo, "envs/staging/apps", gittest.Entry{Mode: "40000", Name: ".Git", Hash: config})
	r := plattrGen(t, nil, "render", "--env", "staging", "--image", image, "--app-dir", exampleDir(), "--repo", repo)
	assert.Equal(t, ExitFailure, r.code)
	assert.Contains(t, r.err, `env repo entry "envs/staging/apps/.Git" is named like git's own folder`)
	assert.Equal(t, head, gittest.Git(t, repo, "rev-parse", "main"))
}
