package pulls

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakegithub"
)

// The token goes to the API's host only: a redirect to another host (a
// compromised or misconfigured GitHub Enterprise front) does not take it along.
func TestClient_TokenOnlyToTheAPIHost(t *testing.T) {
	const token = "ghp_s3cret-token"
	var mu sync.Mutex
	var atOther []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		atOther = append(atOther, r.Header.Get("Authorization"))
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer other.Close()
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	s := fakegithub.New(token)
	defer s.Close()
	var atAPI []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		atAPI = append(atAPI, r.Header.Get("Authorization"))
		mu.Unlock()
		if strings.Contains(r.URL.Path, "/pulls/7") {
			http.Redirect(w, r, otherURL+r.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		s.Config.Handler.ServeHTTP(w, r)
	}))
	defer api.Close()

	c, err := New(token, "acme/hello", WithBaseURL(api.URL+"/api/v3/"))
	require.NoError(t, err)
	n := s.OpenPR("acme/hello", "feature", "a pull request")
	pr, err := c.Get(context.Background(), n)
	require.NoError(t, err, "the API's own host gets the token")
	assert.Equal(t, n, pr.Number)
	_, err = c.Get(context.Background(), 7)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), token)

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, atOther, "the redirect was followed")
	for _, h := range atOther {
		assert.Empty(t, h, "no token at the other host")
	}
	assert.Contains(t, atAPI, "Bearer "+token)
}

// A GitHub API URL that does not parse is refused without being printed.
func TestWithBaseURL_NeverPrintsTheURL(t *testing.T) {
	_, err := New("t", "a/b", WithBaseURL("https://x:pa55word@github.example.com:bad/api/v3/"))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "pa55word")
}
