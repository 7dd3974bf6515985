package fakekeycloak_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakekeycloak"
	"github.com/plattr/plattr/operator/services/keycloak"
)

// The fake's own behaviour, through the project's Keycloak client.
func TestServer(t *testing.T) {
	s := fakekeycloak.New("admin", "pw")
	defer s.Close()
	c := keycloak.NewClient(s.URL, "admin", "pw")
	ctx := context.Background()
	require.NoError(t, c.EnsureRealm(ctx, "r"))
	require.NoError(t, c.EnsureRealm(ctx, "r"), "an existing realm is fine")
	id, err := c.CreateClient(ctx, "r", keycloak.OIDCClient{ClientID: "app", Protocol: "openid-connect", Enabled: true})
	require.NoError(t, err)
	assert.Len(t, id, 36, "the id comes from the Location header")
	_, err = c.CreateClient(ctx, "r", keycloak.OIDCClient{ClientID: "app"})
	assert.True(t, errors.Is(err, keycloak.ErrConflict), "409 on a duplicate clientId: %v", err)
	found, err := c.FindClient(ctx, "r", "app")
	require.NoError(t, err)
	assert.Equal(t, id, found.ID)
	secret, err := c.ClientSecret(ctx, "r", id)
	require.NoError(t, err)
	assert.NotEmpty(t, secret)
	found.RedirectURIs = []string{"https://a/cb"}
	require.NoError(t, c.UpdateClient(ctx, "r", *found))
	again, _ := c.ClientSecret(ctx, "r", id)
	assert.Equal(t, secret, again, "an update keeps the secret")
	_, err = c.FindClient(ctx, "missing-realm", "app")
	assert.True(t, errors.Is(err, keycloak.ErrNotFound))
	require.NoError(t, c.DeleteClient(ctx, "r", id))
	require.NoError(t, c.DeleteClient(ctx, "r", id), "404 on delete is success")
	assert.Empty(t, s.Clients("r"))
}

// A hand edit through the admin API is what a GET returns, and a PUT leaves the
// fields it does not carry as they were, as Keycloak's does.
func TestServer_PutReflectsHandEdits(t *testing.T) {
	s := fakekeycloak.New("admin", "pw")
	defer s.Close()
	c := keycloak.NewClient(s.URL, "admin", "pw")
	ctx := context.Background()
	require.NoError(t, c.EnsureRealm(ctx, "r"))
	id, err := c.CreateClient(ctx, "r", keycloak.OIDCClient{ClientID: "app", Protocol: "openid-connect", Enabled: true,
		StandardFlowEnabled: true, RedirectURIs: []string{"https://a/cb"}, WebOrigins: []string{"https://a"}, Secret: "given"})
	require.NoError(t, err)
	secret, err := c.ClientSecret(ctx, "r", id)
	require.NoError(t, err)
	assert.Equal(t, "given", secret, "a secret sent on creation is the client's")

	found, err := c.FindClient(ctx, "r", "app")
	require.NoError(t, err)
	found.DirectAccessGrantsEnabled, found.ServiceAccountsEnabled = true, true
	found.RedirectURIs = append(found.RedirectURIs, "http://localhost/*")
	require.NoError(t, c.UpdateClient(ctx, "r", *found))
	again, err := c.FindClient(ctx, "r", "app")
	require.NoError(t, err)
	assert.True(t, again.DirectAccessGrantsEnabled)
	assert.True(t, again.ServiceAccountsEnabled)
	assert.Equal(t, []string{"https://a/cb", "http://localhost/*"}, again.RedirectURIs)

	token := adminToken(t, s)
	req, _ := http.NewRequest(http.MethodPut, s.URL+"/admin/realms/r/clients/"+id, strings.NewReader(`{"implicitFlowEnabled":true}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	got := s.Clients("r")[0]
	assert.True(t, got.ImplicitFlowEnabled)
	assert.True(t, got.DirectAccessGrantsEnabled, "a field the PUT left out is kept")
	assert.Equal(t, "app", got.ClientID)
	secret, _ = c.ClientSecret(ctx, "r", id)
	assert.Equal(t, "given", secret, "an update without a secret keeps it")
}

// A stalled fake answers nothing until the client gives up; every request counts.
func TestServer_Stall(t *testing.T) {
	s := fakekeycloak.New("admin", "pw")
	defer s.Close()
	token := adminToken(t, s)
	assert.Equal(t, 1, s.Requests())
	s.Stall(true)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/admin/realms/master", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	done := make(chan error)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for s.Requests() < 2 {
		runtime.Gosched()
	}
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled, "no answer came")
	adminToken(t, s) // the token endpoint does not stall
	s.Stall(false)
	assert.Equal(t, 3, s.Requests())
}

func adminToken(t *testing.T, s *fakekeycloak.Server) string {
	t.Helper()
	resp, err := http.PostForm(s.URL+"/realms/master/protocol/openid-connect/token",
		url.Values{"grant_type": {"password"}, "client_id": {"admin-cli"}, "username": {s.AdminUser}, "password": {s.AdminPassword}})
	require.NoError(t, err)
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	return tok.AccessToken
}
