package gitops

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/internal/gittest"
)

const (
	secretPassword = "pa55-S3CRET"
	secretToken    = "ghp_T0KEN-s3cret"
)

// Every refused location is refused before any connection, with a message that
// says what to do and holds neither the password nor the token in it.
func TestCheckLocation_Refusals(t *testing.T) {
	cases := map[string]struct {
		reason    string
		location  string
		allowHTTP bool
		want      string
		plainHTTP bool
	}{
		"trailing CR":        {"a variable read from a CRLF file", "https://x:" + secretPassword + "@github.com/acme/env.git\r", false, "control character (0x0d at byte 45", false},
		"newline":            {"a variable read from a file", "https://" + secretToken + "@github.com/acme/env.git\n", false, "control character (0x0a", false},
		"tab":                {"a pasted tab", "https://x:" + secretPassword + "@github.com/\tacme", false, "control character (0x09", false},
		"DEL":                {"DEL is a control character", "https://x:" + secretPassword + "\x7f@github.com/acme", false, "control character (0x7f", false},
		"control in path":    {"paths are checked too", "/tmp/env\n.git", false, "control character", false},
		"port is a password": {"the host was left out: url.Parse quotes the 'port'", "https://x-access-token:" + secretPassword + "/acme/env.git", false, "its port is not a number", false},
		"two at signs":       {"redactAll stopped at the first '@'", "https://***@" + secretToken + "@127.0.0.1:bad/env.git", false, "its port is not a number", false},
		"bad escape":         {"a malformed escape", "https://x:" + secretPassword + "%zz@github.com/acme", false, "is not a valid URL", false},
		"bad host":           {"a host with a space", "https://x:" + secretPassword + "@git hub.com/acme", false, "is not a valid URL", false},
		"scp-like":           {"git@host:path is SSH", "git@github.com:acme/env.git", false, "SSH is not supported: use https://github.com/acme/env.git", false},
		"scp-like token":     {"the user of an SSH URL can be a token", secretToken + "@github.com:acme/env.git", false, "SSH is not supported: use https://github.com/acme/env.git", false},
		"ssh scheme":         {"ssh://", "ssh://git@github.com:22/acme/env.git", false, "SSH is not supported: use https://github.com/acme/env.git", false},
		"git+ssh":            {"git+ssh://", "git+ssh://x:" + secretPassword + "@example.com/acme/env", false, "SSH is not supported: use https://example.com/acme/env", false},
		"token read as SSH":  {"x-access-token:TOKEN is scp-like: its 'path' is the token", "x-access-token:" + secretToken, false, "SSH is not supported (not shown: it may hold credentials): use an https:// URL", false},
		"ssh not a repo":     {"only owner/name on a host with a dot is suggested", "ssh://git@example.com/" + secretToken, false, "SSH is not supported (not shown", false},
		"ssh dotless host":   {"a single label is no server name", "gitserver:acme/env.git", false, "SSH is not supported (not shown", false},
		"scheme lost colon":  {"https//user:token@host/... read as a local path", "https//x-access-token:" + secretToken + "@github.com/acme/env", false, "looks like a URL without its scheme", false},
		"scheme left out":    {"user:token@host/... read as SSH or a path", "x-access-token:" + secretToken + "@github.com/acme/env", false, "looks like a URL without its scheme", false},
		"token at host":      {"token@host/path", secretToken + "@github.com/acme/env", false, "looks like a URL without its scheme", false},
		"one slash":          {"https:/user:password@host", "https:/x:" + secretPassword + "@github.com/acme/env", false, "looks like a URL without its scheme", false},
		"C1 control":         {"NEL, a line break to some readers", "https://x:" + secretPassword + "@github.com/acme/env\u0085", false, "control character (0x85 at byte", false},
		"git scheme":         {"git:// is unauthenticated", "git://github.com/acme/env.git", false, "git://, which is neither authenticated nor encrypted", false},
		"ftp":                {"other schemes", "ftp://x:" + secretPassword + "@example.com/env", false, `scheme "ftp", which is not supported`, false},
		"http":               {"plain http needs --allow-http", "http://x:" + secretPassword + "@example.com/env.git", false, "uses plain http (http://***@example.com/env.git)", true},
		"http loopback":      {"even to a test server", "http://x:" + secretPassword + "@127.0.0.1:8080/env.git", false, "uses plain http", true},
		"http remote":        {"allowed to loopback only", "http://x:" + secretPassword + "@example.com/env.git", true, "plain http to example.com, which is not a loopback address", true},
		"http name":          {"names are not resolved", "http://127.0.0.1.nip.io/env.git", true, "not a loopback address", true},
		"file credentials":   {"a local repo takes none", "file://x:" + secretPassword + "@/tmp/env.git", false, "file:// URL with credentials", false},
		"no host":            {"https:///path", "https:///acme/env.git", false, "has no host", false},
		"empty":              {"nothing given", "", false, "is empty", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := CheckLocation(tc.location, tc.allowHTTP)
			require.Error(t, err, tc.reason)
			assert.Contains(t, err.Error(), tc.want, tc.reason)
			assert.Equal(t, tc.plainHTTP, errors.Is(err, ErrPlainHTTP))
			assertNoSecret(t, err.Error())
			assert.NotContains(t, err.Error(), "x-access-token", "no part of a value that may hold credentials is repeated")
			// Open applies the same rule, before any connection.
			_, err = Open(context.Background(), tc.location, generator.Validate, WithToken(secretToken), allowHTTPIf(tc.allowHTTP))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assertNoSecret(t, err.Error())
		})
	}
}

// allowHTTPIf is WithAllowHTTP when allow is true.
func allowHTTPIf(allow bool) Option {
	if allow {
		return WithAllowHTTP()
	}
	return func(*Repo) {}
}

func assertNoSecret(t *testing.T, text string) {
	t.Helper()
	for _, s := range []string{secretPassword, secretToken, "T0KEN", "S3CRET"} {
		assert.NotContains(t, text, s)
	}
}

func TestCheckLocation_Accepted(t *testing.T) {
	cases := map[string]struct {
		location  string
		allowHTTP bool
		want      Location
	}{
		"https":             {"https://github.com/acme/env.git", false, Location{Display: "https://github.com/acme/env.git"}},
		"https credentials": {"https://x:" + secretPassword + "@github.com/acme/env.git", false, Location{Display: "https://github.com/acme/env.git", URLCredentials: true}},
		"token as user":     {"https://" + secretToken + "@github.com/acme/env.git", false, Location{Display: "https://github.com/acme/env.git", URLCredentials: true}},
		"http 127.0.0.1":    {"http://127.0.0.1:8080/env.git", true, Location{Display: "http://127.0.0.1:8080/env.git"}},
		"http ::1":          {"http://[::1]:8080/env.git", true, Location{Display: "http://[::1]:8080/env.git"}},
		"http localhost":    {"http://localhost/env.git", true, Location{Display: "http://localhost/env.git"}},
		"local path":        {"../env.git", false, Location{Display: "../env.git", Local: true}},
		"path with colon":   {"./a:b", false, Location{Display: "./a:b", Local: true}},
		"file URL":          {"file:///tmp/env.git", false, Location{Display: "file:///tmp/env.git", Local: true}},
		"file URL with @":   {"file:///srv/a@b/env.git", false, Location{Display: "file:///srv/a@b/env.git", Local: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := CheckLocation(tc.location, tc.allowHTTP)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCheckURL(t *testing.T) {
	u, err := CheckURL("https://github.example.com/api/v3/", false)
	require.NoError(t, err)
	assert.Equal(t, "github.example.com", u.Host)
	for raw, want := range map[string]string{
		"https://x:" + secretPassword + "@github.example.com/api/v3/": "carries credentials (https://github.example.com/api/v3/)",
		"https://github.example.com:" + secretPassword + "/api/v3/":   "its port is not a number",
		"http://github.example.com/api/v3/":                           "uses plain http",
		"/api/v3":                                                     "is not an https:// URL",
		"https://github.example.com/\r":                               "control character",
	} {
		_, err := CheckURL(raw, false)
		require.Error(t, err, raw)
		assert.Contains(t, err.Error(), want, raw)
		assertNoSecret(t, err.Error())
	}
}

// Credentials in the URL win over the token, which is then not sent at all.
func TestRepo_URLCredentialsWinOverToken(t *testing.T) {
	root := t.TempDir()
	initRepo(t, filepath.Join(root, "env.git"))
	var mu sync.Mutex
	var seen []string
	h := gittest.Handler(t, root, "ci", secretPassword)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pw, _ := r.BasicAuth()
		mu.Lock()
		seen = append(seen, pw)
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	withCreds := strings.Replace(srv.URL, "http://", "http://ci:"+secretPassword+"@", 1) + "/env.git"

	r, err := Open(context.Background(), withCreds, generator.Validate, WithToken(secretToken), WithAllowHTTP())
	require.NoError(t, err, "the URL's credentials authenticate, not the (wrong) token")
	assert.Equal(t, URLCredentials, r.Credentials())
	assertNoSecret(t, r.URL())
	res, err := r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/x@"+digest), ApplyOptions{})
	require.NoError(t, err)
	assert.False(t, res.Commit.IsZero())
	mu.Lock()
	assert.NotContains(t, seen, secretToken, "the token is never sent when the URL has credentials")
	assert.Contains(t, seen, secretPassword)
	mu.Unlock()

	// Without credentials in the URL, the token is what is sent (and this
	// server refuses it).
	r, err = Open(context.Background(), srv.URL+"/env.git", generator.Validate, WithToken(secretToken), WithAllowHTTP())
	require.Error(t, err, "the server wants ci's password, not the token")
	assert.Contains(t, err.Error(), "PLATTR_GIT_TOKEN")
	assertNoSecret(t, err.Error())
	assert.Nil(t, r)
	mu.Lock()
	assert.Contains(t, seen, secretToken)
	mu.Unlock()
}

// A token holding a control character (a line ending read from a file) is
// refused before any request, naming where it came from and never showing it:
// "\n" failed each request after retries, "\r" was sent as part of the token.
func TestTokenSource_ControlCharacterRefused(t *testing.T) {
	cases := map[string]struct {
		reason        string
		plattr, token string
		want          string
	}{
		"LF":     {"echo $TOKEN > file", secretToken + "\n", "", "$PLATTR_GIT_TOKEN contains a control character (0x0a at byte 16"},
		"CR":     {"a file saved on Windows", secretToken + "\r", "", "$PLATTR_GIT_TOKEN contains a control character (0x0d at byte 16"},
		"GitHub": {"the fallback variable is checked too", "", "\t" + secretToken, "$GITHUB_TOKEN contains a control character (0x09 at byte 0"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("PLATTR_GIT_TOKEN", tc.plattr)
			t.Setenv("GITHUB_TOKEN", tc.token)
			token, _, err := TokenSource()
			require.Error(t, err, tc.reason)
			assert.Empty(t, token)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "remove it (the value is not shown: it is a secret)")
			assertNoSecret(t, err.Error())
		})
	}

	// Open refuses such a token before it connects.
	root := t.TempDir()
	initRepo(t, filepath.Join(root, "env.git"))
	var hits int
	var mu sync.Mutex
	h := gittest.Handler(t, root, "", "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	_, err := Open(context.Background(), srv.URL+"/env.git", generator.Validate, WithAllowHTTP(), WithToken(secretToken+"\r"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the token contains a control character (0x0d")
	assertNoSecret(t, err.Error())
	mu.Lock()
	assert.Zero(t, hits, "nothing was sent")
	mu.Unlock()
}
