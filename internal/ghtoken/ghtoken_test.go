package ghtoken

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The API's host gets the token; a host a redirect leads to does not.
func TestTransport_OnlyTheAPIHost(t *testing.T) {
	seen := map[string]string{}
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen["elsewhere"] = r.Header.Get("Authorization")
	}))
	defer elsewhere.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen["api"] = r.Header.Get("Authorization")
		http.Redirect(w, r, elsewhere.URL+"/x", http.StatusFound)
	}))
	defer api.Close()
	u, err := url.Parse(api.URL)
	require.NoError(t, err)
	c := &http.Client{Transport: &Transport{Token: "s3cret", Scheme: u.Scheme, Host: u.Host}}
	resp, err := c.Get(api.URL + "/repos")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "Bearer s3cret", seen["api"])
	assert.Empty(t, seen["elsewhere"], "the token never follows a redirect to another host")
}
