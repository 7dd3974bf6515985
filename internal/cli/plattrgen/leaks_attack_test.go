package plattrgen

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/plattr/plattr/internal/gittest"
)

const sekrit = "SEKRIT-t0ken"

// assertNoSekrit checks a run's whole output for the token and any part of the
// value it was given in.
func assertNoSekrit(t *testing.T, r run) {
	t.Helper()
	for _, s := range []string{sekrit, "SEKRIT", "x-access-token"} {
		assert.NotContains(t, r.out+r.err, s)
	}
}

// A --repo that may hold credentials but is not a URL is refused before the
// command runs (exit 2), naming the flag and repeating nothing of the value: a
// URL that lost its scheme was printed as a local path by env init's warning and
// by "does not exist"; "x-access-token:TOKEN", read as SSH, was turned into
// "use https://x-access-token/TOKEN".
func TestRepoFlag_ValuesThatMayHoldCredentialsNeverPrinted(t *testing.T) {
	repo := newEnvRepo(t)
	before := gittest.Git(t, repo, "rev-parse", "main")
	cases := map[string]struct {
		reason string
		repo   string
		want   string
	}{
		"colon lost":   {"https//user:token@host/...", "https//x-access-token:" + sekrit + "@github.com/acme/env", "--repo looks like a URL without its scheme"},
		"scheme lost":  {"user:token@host/...", "x-access-token:" + sekrit + "@github.com/acme/env", "--repo looks like a URL without its scheme"},
		"token@host":   {"a token as the user", sekrit + "@github.com/acme/env.git", "--repo looks like a URL without its scheme"},
		"token as SSH": {"user:token is scp-like SSH", "x-access-token:" + sekrit, "--repo is an SSH URL, and SSH is not supported (not shown: it may hold credentials): use an https:// URL"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{
				{"env", "init", "--domain", "apps.example.com", "--repo", tc.repo},
				{"render", "--env", "staging", "--image", image, "--app-dir", exampleDir(), "--repo", tc.repo},
				{"preview", "delete", "--app", "hello", "--pr", "3", "--repo", tc.repo},
			} {
				r := plattrGen(t, nil, args...)
				assert.Equal(t, ExitUsage, r.code, "%s: %s", tc.reason, r.err)
				assert.Contains(t, r.err, tc.want, args[0])
				assertNoSekrit(t, r)
				assert.Empty(t, r.out)
			}
			// The same from $PLATTR_ENV_REPO.
			r := plattrGen(t, map[string]string{"PLATTR_ENV_REPO": tc.repo}, "env", "init", "--domain", "apps.example.com")
			assert.Equal(t, ExitUsage, r.code, r.err)
			assert.Contains(t, r.err, tc.want)
			assertNoSekrit(t, r)
		})
	}
	assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"))
}

// A token with a control character is refused before the command runs (exit 2),
// naming the variable; nothing reaches the server, the token is not shown.
func TestToken_ControlCharacterRefused(t *testing.T) {
	root := t.TempDir()
	repo := newEnvRepoAt(t, filepath.Join(root, "env.git"))
	before := gittest.Git(t, repo, "rev-parse", "main")
	srv, hits := gittest.ServeCounting(t, root)
	cases := map[string]struct {
		reason, variable, token, want string
		args                          []string
	}{
		"LF": {"a token file read with $(cat)… keeps no newline, but a heredoc does", "PLATTR_GIT_TOKEN", sekrit + "\n",
			"$PLATTR_GIT_TOKEN contains a control character (0x0a at byte 12; a line ending read from a file?): remove it (the value is not shown: it is a secret)",
			[]string{"render", "--env", "staging", "--image", image, "--app-dir", exampleDir(), "--repo", srv.URL + "/env.git", "--allow-http"}},
		"CR": {"a CRLF file: \\r was sent as part of the token", "GITHUB_TOKEN", sekrit + "\r",
			"$GITHUB_TOKEN contains a control character (0x0d at byte 12",
			[]string{"promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", srv.URL + "/env.git", "--allow-http"}},
		"gc": {"preview gc talks to GitHub only", "PLATTR_GIT_TOKEN", "\x7f" + sekrit,
			"$PLATTR_GIT_TOKEN contains a control character (0x7f at byte 0",
			[]string{"preview", "gc", "--app-repo", "acme/hello", "--repo", srv.URL + "/env.git", "--allow-http", "--github-api-url", srv.URL + "/api/v3"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("PLATTR_GIT_TOKEN", "")
			t.Setenv("GITHUB_TOKEN", "")
			t.Setenv(tc.variable, tc.token)
			r := plattrGen(t, nil, tc.args...)
			assert.Equal(t, ExitUsage, r.code, "%s: %s", tc.reason, r.err)
			assert.Contains(t, r.err, tc.want)
			assertNoSekrit(t, r)
			assert.Zero(t, hits.Load(), "nothing was sent")
			assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"))
		})
	}
	t.Run("version", func(t *testing.T) {
		t.Setenv("PLATTR_GIT_TOKEN", sekrit+"\n")
		r := plattrGen(t, nil, "version")
		assert.Equal(t, ExitOK, r.code, "a command that sends no token does not check it: %s", r.err)
	})
}

// A redirect from --repo's server to another host is refused: no request
// reaches the other host, neither branch moves, and nothing printed names the
// other host (with --allow-http, a loopback server's 302 moved the fetch and the
// push, over plain http, to any host).
func TestRepo_RedirectToAnotherHostRefused(t *testing.T) {
	t.Setenv("PLATTR_GIT_TOKEN", sekrit)
	root := t.TempDir()
	repo := newEnvRepoAt(t, filepath.Join(root, "env.git"))
	before := gittest.Git(t, repo, "rev-parse", "main")
	otherRoot := t.TempDir()
	otherRepo := newEnvRepoAt(t, filepath.Join(otherRoot, "env.git"))
	otherBefore := gittest.Git(t, otherRepo, "rev-parse", "main")
	other, otherHits := gittest.ServeCounting(t, otherRoot)
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	h := gittest.Handler(t, root, "", "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/info/refs") {
			http.Redirect(w, r, otherURL+r.URL.Path+"?"+r.URL.RawQuery, http.StatusFound)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	r := plattrGen(t, nil, "render", "--env", "staging", "--image", image, "--app-dir", exampleDir(), "--repo", srv.URL+"/env.git", "--allow-http")
	assert.Equal(t, ExitFailure, r.code, r.err)
	assert.Contains(t, r.err, "plattr-gen: fetch "+srv.URL+"/env.git: the server redirected to another host, scheme or port, which is refused: "+
		"plattr-gen talks only to the host --repo names; if the repo moved, give its new https:// URL as --repo")
	assert.NotContains(t, r.out+r.err, strings.TrimPrefix(otherURL, "http://"), "the other host is never named")
	assert.Empty(t, r.out)
	assertNoSekrit(t, r)
	assert.Zero(t, otherHits.Load(), "no request reached the other host")
	assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"))
	assert.Equal(t, otherBefore, gittest.Git(t, otherRepo, "rev-parse", "main"))
}
