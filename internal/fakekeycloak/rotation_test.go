package fakekeycloak_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakekeycloak"
	"github.com/plattr/plattr/operator/services/keycloak"
)

// rotationClient makes realm r with a confidential client "app" redirecting to
// https://a/cb, and returns its id and secret.
func rotationClient(t *testing.T, c *keycloak.Client) (id, secret string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, c.EnsureRealm(ctx, "r"))
	id, err := c.CreateClient(ctx, "r", keycloak.OIDCClient{ClientID: "app", Protocol: "openid-connect", Enabled: true,
		StandardFlowEnabled: true, RedirectURIs: []string{"https://a/cb"}})
	require.NoError(t, err)
	secret, err = c.ClientSecret(ctx, "r", id)
	require.NoError(t, err)
	return id, secret
}

func rotationPolicy(t *testing.T, c *keycloak.Client, config string) error {
	t.Helper()
	ctx := context.Background()
	err := c.SetClientProfiles(ctx, "r", []keycloak.ClientProfile{{Name: "rot", Executors: []keycloak.PolicyExecutor{{Executor: "secret-rotation", Configuration: json.RawMessage(config)}}}})
	if err != nil {
		return err
	}
	return c.SetClientPolicies(ctx, "r", []keycloak.ClientPolicy{{Name: "rot", Enabled: true, Profiles: []string{"rot"},
		Conditions: []keycloak.PolicyCondition{{Condition: "client-access-type", Configuration: json.RawMessage(`{"type":["confidential"]}`)}}}})
}

func login(s *fakekeycloak.Server, secret string) error {
	return fakekeycloak.LogIn(context.Background(), s.URL+"/realms/r", "app", secret, "https://a/cb")
}

// Regenerating a secret: without a secret-rotation policy the old one is
// invalid at once; with one (and the feature on) it stays valid as the
// rotated secret until it expires or is invalidated, as Keycloak's does.
func TestServer_SecretRotation(t *testing.T) {
	s := fakekeycloak.New("admin", "pw")
	defer s.Close()
	c := keycloak.NewClient(s.URL, "admin", "pw")
	ctx := context.Background()
	id, first := rotationClient(t, c)
	require.NoError(t, login(s, first))

	err := rotationPolicy(t, c, `{"expiration-period":3600,"rotated-expiration-period":600}`)
	assert.ErrorContains(t, err, "400 {\"errorMessage\":\"proposed client profile contains the executor", "no executor without the feature")
	s.SetFeature(fakekeycloak.FeatureSecretRotation, true)
	assert.ErrorContains(t, rotationPolicy(t, c, `{"expiration-period":60,"rotated-expiration-period":600}`), "400", "rotated longer than the secret")
	assert.ErrorContains(t, c.SetClientPolicies(ctx, "r", []keycloak.ClientPolicy{{Name: "x", Enabled: true, Profiles: []string{"missing"}}}), "non-existent client profile")

	second, err := c.RegenerateSecret(ctx, "r", id)
	require.NoError(t, err)
	assert.ErrorContains(t, login(s, first), "401 unauthorized_client: Invalid client or Invalid client credentials", "no policy: the old secret is gone")
	rotated, err := c.RotatedSecret(ctx, "r", id)
	require.NoError(t, err)
	assert.Empty(t, rotated, "404: no rotated secret")

	assert.ErrorContains(t, rotationPolicy(t, c, `{"expiration-period":3600}`), "400", "Keycloak's default remaining period (10 days) is longer than the secret's")
	require.NoError(t, rotationPolicy(t, c, `{"expiration-period":"3600","rotated-expiration-period":"600","remaining-rotation-period":"0"}`))
	third, err := c.RegenerateSecret(ctx, "r", id)
	require.NoError(t, err)
	rotated, err = c.RotatedSecret(ctx, "r", id)
	require.NoError(t, err)
	assert.Equal(t, second, rotated, "the previous secret is the rotated one")
	require.NoError(t, login(s, second))
	require.NoError(t, login(s, third))
	s.Advance(11 * time.Minute)
	assert.ErrorContains(t, login(s, second), "401", "the rotated secret expired")
	require.NoError(t, login(s, third))

	fourth, err := c.RegenerateSecret(ctx, "r", id)
	require.NoError(t, err)
	require.NoError(t, login(s, third))
	require.NoError(t, c.InvalidateRotatedSecret(ctx, "r", id))
	require.NoError(t, c.InvalidateRotatedSecret(ctx, "r", id), "none left: still 204")
	assert.ErrorContains(t, login(s, third), "401", "invalidated")
	require.NoError(t, login(s, fourth))

	s.Advance(2 * time.Hour)
	assert.ErrorContains(t, login(s, fourth), "401", "the secret outlived expiration-period")

	s.SetFeature(fakekeycloak.FeatureSecretRotation, false)
	rotated, err = c.RotatedSecret(ctx, "r", id)
	require.NoError(t, err)
	assert.Empty(t, rotated, "without the feature no client has a rotated secret")
}

// The authorization endpoint and the code exchange: a code is used once, by
// the client it was issued to, with the redirect URI it was issued for.
func TestServer_AuthorizationCode(t *testing.T) {
	s := fakekeycloak.New("admin", "pw")
	defer s.Close()
	c := keycloak.NewClient(s.URL, "admin", "pw")
	_, secret := rotationClient(t, c)
	ctx := context.Background()
	assert.ErrorContains(t, fakekeycloak.LogIn(ctx, s.URL+"/realms/r", "app", secret, "https://evil/cb"), "400 Invalid parameter: redirect_uri")
	assert.ErrorContains(t, fakekeycloak.LogIn(ctx, s.URL+"/realms/r", "nobody", secret, "https://a/cb"), "Client not found")
	assert.ErrorContains(t, fakekeycloak.LogIn(ctx, s.URL+"/realms/nowhere", "app", secret, "https://a/cb"), "404")
	assert.ErrorContains(t, login(s, ""), "401")

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(s.URL + "/realms/r/protocol/openid-connect/auth?client_id=app&response_type=code&state=xyz&redirect_uri=" + url.QueryEscape("https://a/cb"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	back, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "xyz", back.Query().Get("state"))
	exchange := func(redirect string) (int, string) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {redirect}}
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/realms/r/protocol/openid-connect/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("app", secret)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, fmtOut(out)
	}
	status, body := exchange("https://a/cb")
	assert.Equal(t, http.StatusOK, status, body)
	status, body = exchange("https://a/cb")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "Code not valid", "a code is used once")
}

func fmtOut(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}
