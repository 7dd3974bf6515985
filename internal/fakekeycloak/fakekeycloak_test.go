package fakekeycloak_test

import (
	"context"
	"errors"
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
