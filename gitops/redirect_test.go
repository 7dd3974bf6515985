package gitops

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/internal/gittest"
)

// other is a second real git server holding its own env repo, at another origin
// than the one a test opens: where a hostile redirect would send the fetch and
// the push. It counts the requests that reach it.
type other struct {
	url, repo string
	hits      *atomic.Int64
}

func newOther(t *testing.T, host string) *other {
	root := t.TempDir()
	o := &other{repo: initRepo(t, filepath.Join(root, "env.git"))}
	srv, hits := gittest.ServeCounting(t, root)
	o.hits = hits
	o.url = strings.Replace(srv.URL, "127.0.0.1", host, 1)
	return o
}

// A redirect to another origin (host, port or scheme), at any request of a fetch
// or a push and at any hop of a chain, is refused before anything is sent there:
// the other server sees no request, neither branch moves, and the error names
// neither the other host nor the token, only the repo that was used.
func TestRepo_RedirectToAnotherOriginRefused(t *testing.T) {
	cases := map[string]struct {
		reason   string
		host     string // the other server's host: "localhost" is another origin than 127.0.0.1
		redirect func(r *http.Request, self, other string) string
		push     bool
	}{
		"fetch to another host": {"go-git follows the first request's redirects", "localhost",
			func(r *http.Request, _, other string) string {
				if isRefs(r) {
					return other + r.URL.Path + "?" + r.URL.RawQuery
				}
				return ""
			}, false},
		"fetch to another port": {"same address, another server", "127.0.0.1",
			func(r *http.Request, _, other string) string {
				if isRefs(r) {
					return other + r.URL.Path + "?" + r.URL.RawQuery
				}
				return ""
			}, false},
		"to https": {"another scheme is another origin, even on this host and port", "localhost",
			func(r *http.Request, self, _ string) string {
				if isRefs(r) {
					return strings.Replace(self, "http://", "https://", 1) + r.URL.Path + "?" + r.URL.RawQuery
				}
				return ""
			}, false},
		"second hop": {"a chain that leaves at its second hop", "localhost",
			func(r *http.Request, self, other string) string {
				switch {
				case isRefs(r) && strings.HasPrefix(r.URL.Path, "/env.git/"):
					return self + "/moved.git/info/refs?" + r.URL.RawQuery
				case isRefs(r):
					return other + "/env.git/info/refs?" + r.URL.RawQuery
				}
				return ""
			}, false},
		"push to another host": {"the pack itself, sent with 307", "localhost",
			func(r *http.Request, _, other string) string {
				if isReceivePack(r) {
					return other + r.URL.Path
				}
				return ""
			}, true},
		"push refs to another host": {"the push's own first request", "localhost",
			func(r *http.Request, _, other string) string {
				if isRefs(r) && r.URL.Query().Get("service") == "git-receive-pack" {
					return other + r.URL.Path + "?" + r.URL.RawQuery
				}
				return ""
			}, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			repo := initRepo(t, filepath.Join(root, "env.git"))
			before := gittest.Git(t, repo, "rev-parse", "main")
			o := newOther(t, tc.host)
			otherBefore := gittest.Git(t, o.repo, "rev-parse", "main")
			h := gittest.Handler(t, root, "", "")
			var self string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if to := tc.redirect(r, self, o.url); to != "" {
					http.Redirect(w, r, to, http.StatusTemporaryRedirect)
					return
				}
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()
			self = srv.URL

			r, err := Open(context.Background(), srv.URL+"/env.git", generator.Validate, WithAllowHTTP(), WithToken(secretToken))
			if tc.push {
				require.NoError(t, err, "the fetch is not redirected")
				_, err = r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/hello@"+digest), ApplyOptions{})
			}
			require.Error(t, err, tc.reason)
			assert.ErrorIs(t, err, ErrRedirect)
			assert.Contains(t, err.Error(), srv.URL+"/env.git: the server redirected to another host, scheme or port, which is refused")
			assert.Contains(t, err.Error(), "give its new https:// URL as --repo", "the error says what to do")
			otherHost := strings.TrimPrefix(o.url, "http://")
			assert.NotContains(t, err.Error(), otherHost, "the other host is not named")
			assert.NotContains(t, err.Error(), "https://127.0.0.1")
			assertNoSecret(t, err.Error())
			assert.Zero(t, o.hits.Load(), "no request reached the other server")
			assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"), "the repo's branch did not move")
			assert.Equal(t, otherBefore, gittest.Git(t, o.repo, "rev-parse", "main"), "nor the other's")
		})
	}
}

// A redirect within the repo's origin (a renamed repository, as GitHub serves
// it) is followed: the commit lands in the repository redirected to.
func TestRepo_RedirectWithinOriginFollowed(t *testing.T) {
	root := t.TempDir()
	repo := initRepo(t, filepath.Join(root, "env.git"))
	h := gittest.Handler(t, root, "", "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/old.git/"); ok {
			http.Redirect(w, r, "/env.git/"+rest+"?"+r.URL.RawQuery, http.StatusMovedPermanently)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	r, err := Open(context.Background(), srv.URL+"/old.git", generator.Validate, WithAllowHTTP())
	require.NoError(t, err)
	res, err := r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/hello@"+digest), ApplyOptions{})
	require.NoError(t, err)
	assert.Equal(t, res.Commit.String(), gittest.Git(t, repo, "rev-parse", "main"))
	assert.Contains(t, gittest.Files(t, repo)["envs/staging/hello/release.yaml"], digest)
}
