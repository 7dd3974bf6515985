package keycloak

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakekeycloak"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

func setup(t *testing.T) (*Provisioner, *fakekeycloak.Server) {
	t.Helper()
	s := fakekeycloak.New("admin", "kc-admin-s3cret")
	t.Cleanup(s.Close)
	p := New(s.URL, "admin", "kc-admin-s3cret")
	return p, s
}

func instance(app string, paths ...string) services.Instance {
	return services.Instance{Env: "staging", App: app, Host: app + ".staging.example.com",
		Spec: &plattrv1.ApplicationSpec{Auth: &plattrv1.AuthSpec{Enabled: true, RedirectPaths: paths}}}
}

func TestProvisioner_CreateRecreateUpdateDelete(t *testing.T) {
	p, s := setup(t)
	ctx := context.Background()
	inst := instance("shop", "/auth/callback", "/logout")
	creds, err := p.Ensure(ctx, inst, nil)
	require.NoError(t, err)
	assert.True(t, s.HasRealm("plattr-staging"), "the environment's realm")
	assert.Equal(t, s.URL+"/realms/plattr-staging", string(creds[KeyIssuer]))
	assert.Equal(t, "shop", string(creds[KeyClientID]))
	clients := s.Clients("plattr-staging")
	require.Len(t, clients, 1)
	assert.Equal(t, []string{"https://shop.staging.example.com/auth/callback", "https://shop.staging.example.com/logout"}, clients[0].RedirectURIs)
	assert.False(t, clients[0].PublicClient, "confidential")
	assert.NotEmpty(t, creds[KeySecret])

	ok, err := p.Observe(ctx, inst, creds)
	require.NoError(t, err)
	assert.True(t, ok)

	again, err := p.Ensure(ctx, inst, creds)
	require.NoError(t, err)
	assert.Len(t, s.Clients("plattr-staging"), 1, "re-creating makes no duplicate")
	assert.Equal(t, string(creds[KeySecret]), string(again[KeySecret]))

	changed := instance("shop", "/cb")
	ok, err = p.Observe(ctx, changed, creds)
	require.NoError(t, err)
	assert.False(t, ok, "a new redirect path is a change")
	_, err = p.Ensure(ctx, changed, creds)
	require.NoError(t, err)
	assert.Equal(t, []string{"https://shop.staging.example.com/cb"}, s.Clients("plattr-staging")[0].RedirectURIs)

	require.NoError(t, p.Delete(ctx, changed))
	assert.Empty(t, s.Clients("plattr-staging"))
	require.NoError(t, p.Delete(ctx, changed), "already gone is success")
}

func TestProvisioner_ConflictTokenExpiryAndServerErrors(t *testing.T) {
	p, s := setup(t)
	ctx := context.Background()
	_, err := p.Ensure(ctx, instance("blog"), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"https://blog.staging.example.com" + DefaultRedirectPath}, s.Clients("plattr-staging")[0].RedirectURIs)

	// The listing misses the client: POST answers 409, which resolves to it.
	s.HideFromNextFind()
	_, err = p.Ensure(ctx, instance("blog", "/x"), nil)
	require.NoError(t, err)
	assert.Len(t, s.Clients("plattr-staging"), 1)
	assert.Equal(t, []string{"https://blog.staging.example.com/x"}, s.Clients("plattr-staging")[0].RedirectURIs)

	// The admin token expires mid-reconcile: one new token, and on.
	tokens := s.TokensIssued()
	s.ExpireTokens()
	_, err = p.Ensure(ctx, instance("blog", "/y"), nil)
	require.NoError(t, err)
	assert.Equal(t, tokens+1, s.TokensIssued())

	// 5xx is not retried here: one request, the error, and the workqueue's
	// backoff decides when to come back.
	before := s.Requests()
	s.FailNext(1, http.StatusBadGateway)
	_, err = p.Ensure(ctx, instance("blog", "/z"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "502")
	assert.Equal(t, before+1, s.Requests(), "one request, not retried")
	_, err = p.Ensure(ctx, instance("blog", "/z"), nil)
	require.NoError(t, err, "the next reconcile goes through")
}

func TestProvisioner_RefusesAndLeaksNothing(t *testing.T) {
	s := fakekeycloak.New("admin", "right-kc-s3cret")
	defer s.Close()
	p := New(s.URL, "admin", "wrong-kc-s3cret")
	_, err := p.Ensure(context.Background(), instance("x"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "KEYCLOAK_ADMIN_PASSWORD")
	assert.NotContains(t, err.Error(), "wrong-kc-s3cret")

	// Credentials in KEYCLOAK_URL stay out of errors of a call that got no answer.
	s.Stall(true)
	viaURL := New(strings.Replace(s.URL, "http://", "http://admin:url-s3cret@", 1), "admin", "right-kc-s3cret")
	viaURL.kc.http.Timeout = 50 * time.Millisecond
	_, err = viaURL.Ensure(context.Background(), instance("x"), nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "url-s3cret")
	assert.NotContains(t, err.Error(), "right-kc-s3cret")
	s.Stall(false)

	// A failed create carries the app's secret in its body; the error does not.
	r := New(s.URL, "admin", "right-kc-s3cret")
	_, err = r.Ensure(context.Background(), instance("other"), nil) // the realm exists
	require.NoError(t, err)
	keep := services.Credentials{KeyClientID: []byte("x"), KeySecret: []byte("app-client-s3cret")}
	for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError} {
		s.FailNextMethod(http.MethodPost, status)
		_, err = r.Ensure(context.Background(), instance("x"), keep)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "create client x")
		assert.NotContains(t, err.Error(), "app-client-s3cret")
		assert.NotContains(t, err.Error(), "right-kc-s3cret")
	}

	_, err = New("", "", "").Ensure(context.Background(), instance("x"), nil)
	assert.ErrorIs(t, err, services.ErrNotConfigured)
	q, _ := setup(t)
	_, err = q.Ensure(context.Background(), services.Instance{Env: "staging", App: "../master"}, nil)
	assert.ErrorIs(t, err, services.ErrInvalid)
	noHost := instance("x")
	noHost.Host = ""
	_, err = q.Ensure(context.Background(), noHost, nil)
	assert.ErrorIs(t, err, services.ErrInvalid)
}

func TestOrigin(t *testing.T) {
	for _, tc := range []struct {
		host        string
		development bool
		want        string
		reason      string
	}{
		{"localhost:3000", true, "http://localhost:3000", "plattr dev serves plain HTTP on the loopback"},
		{"shop.local.localtest.me", true, "http://shop.local.localtest.me", "plattr deploy local's base domain"},
		{"app.localhost", true, "http://app.localhost", "RFC 6761 name"},
		{"127.0.0.1:8080", true, "http://127.0.0.1:8080", "loopback IP"},
		{"shop.example.com", true, "https://shop.example.com", "a real host stays https even in development"},
		{"shop.staging.example.com", false, "https://shop.staging.example.com", "every other environment: https on the app's host"},
		{"localtest.me.evil.example", false, "https://localtest.me.evil.example", "not a loopback name, so no http"},
		{"localhost.example.com:8443", false, "https://localhost.example.com:8443", "localhost only as a suffix counts"},
		{"localhost", false, "", "a loopback host outside development is refused"},
		{"shop.localtest.me", false, "", "refused: the open-redirect class"},
		{"127.0.0.1", false, "", "refused"},
		{"", true, "", "no host at all"},
	} {
		got, err := Origin(services.Instance{App: "shop", Host: tc.host, Development: tc.development})
		if tc.want == "" {
			assert.ErrorIs(t, err, services.ErrInvalid, "%s: %s", tc.host, tc.reason)
			continue
		}
		require.NoError(t, err, tc.reason)
		assert.Equal(t, tc.want, got, "%s: %s", tc.host, tc.reason)
	}
}

// Before, every environment had http loopback redirects; now only development.
func TestProvisioner_DevelopmentLoopbackHostsGetHTTPRedirects(t *testing.T) {
	p, s := setup(t)
	inst := instance("shop", "/cb")
	inst.Host = "localhost:3000" // plattr dev
	inst.Development = true
	_, err := p.Ensure(context.Background(), inst, nil)
	require.NoError(t, err)
	clients := s.Clients("plattr-staging")
	require.Len(t, clients, 1)
	assert.Equal(t, []string{"http://localhost:3000/cb"}, clients[0].RedirectURIs)
	assert.Equal(t, []string{"http://localhost:3000"}, clients[0].WebOrigins)
}

func TestProvisioner_RefusesLoopbackHostsOutsideDevelopment(t *testing.T) {
	for _, host := range []string{"localhost", "localhost:3000", "shop.localtest.me", "127.0.0.1", "[::1]:8080"} {
		t.Run(host, func(t *testing.T) {
			p, s := setup(t)
			inst := instance("shop", "/cb")
			inst.Env, inst.Host = "prod", host
			_, err := p.Ensure(context.Background(), inst, nil)
			require.ErrorIs(t, err, services.ErrInvalid)
			assert.Contains(t, err.Error(), "is a loopback name, allowed only in development environments")
			assert.Zero(t, s.Requests(), "refused before Keycloak is asked anything")
			assert.False(t, s.HasRealm("plattr-prod"))
			assert.Empty(t, s.Clients("plattr-prod"))
			_, err = p.Observe(context.Background(), inst, nil)
			assert.ErrorIs(t, err, services.ErrInvalid, "Observe says so too")
		})
	}
}

func TestProvisioner_StagingGetsOnlyHTTPSRedirects(t *testing.T) {
	p, s := setup(t)
	_, err := p.Ensure(context.Background(), instance("shop", "/cb", "/logout"), nil)
	require.NoError(t, err)
	c := s.Clients("plattr-staging")[0]
	assert.Equal(t, []string{"https://shop.staging.example.com/cb", "https://shop.staging.example.com/logout"}, c.RedirectURIs)
	assert.Equal(t, []string{"https://shop.staging.example.com"}, c.WebOrigins)
}

// Paths that would move a redirect off the app's host (possible from a plattr.yaml
// that never passed the API's validation, as in plattr dev) are refused.
func TestProvisioner_RefusesRedirectPathsOffTheHost(t *testing.T) {
	p, s := setup(t)
	for _, path := range []string{"evil.example/cb", ".evil.example/cb", "@evil.example/cb", ":443@evil.example"} {
		_, err := p.Ensure(context.Background(), instance("shop", path), nil)
		assert.ErrorIs(t, err, services.ErrInvalid, path)
	}
	assert.Zero(t, s.Requests())
}

func TestProvisioner_ObserveFindsAndEnsureResetsHandEdits(t *testing.T) {
	ctx := context.Background()
	for name, edit := range map[string]func(c *OIDCClient){
		"direct access grants on": func(c *OIDCClient) { c.DirectAccessGrantsEnabled = true },
		"implicit flow on":        func(c *OIDCClient) { c.ImplicitFlowEnabled = true },
		"service account on":      func(c *OIDCClient) { c.ServiceAccountsEnabled = true },
		"made public":             func(c *OIDCClient) { c.PublicClient = true },
		"bearer only":             func(c *OIDCClient) { c.BearerOnly = true },
		"disabled":                func(c *OIDCClient) { c.Enabled = false },
		"standard flow off":       func(c *OIDCClient) { c.StandardFlowEnabled = false },
		"saml":                    func(c *OIDCClient) { c.Protocol = "saml" },
		"jwt authenticator":       func(c *OIDCClient) { c.ClientAuthenticatorType = "client-jwt" },
		"wildcard redirect":       func(c *OIDCClient) { c.RedirectURIs = append(c.RedirectURIs, "https://evil.example/*") },
		"http localhost redirect": func(c *OIDCClient) { c.RedirectURIs = append(c.RedirectURIs, "http://localhost/cb") },
		"redirect removed":        func(c *OIDCClient) { c.RedirectURIs = c.RedirectURIs[:1] },
		"any web origin":          func(c *OIDCClient) { c.WebOrigins = []string{"*"} },
		"web origin from uris":    func(c *OIDCClient) { c.WebOrigins = append(c.WebOrigins, "+") },
	} {
		t.Run(name, func(t *testing.T) {
			p, s := setup(t)
			inst := instance("shop", "/cb", "/logout")
			creds, err := p.Ensure(ctx, inst, nil)
			require.NoError(t, err)
			exact := s.Clients("plattr-staging")[0]

			// The hand edit, through the admin API as a person's console would.
			got, err := p.kc.FindClient(ctx, "plattr-staging", "shop")
			require.NoError(t, err)
			edit(got)
			require.NoError(t, p.kc.UpdateClient(ctx, "plattr-staging", *got))
			require.NotEqual(t, exact, s.Clients("plattr-staging")[0], "the fake took the edit")

			ok, err := p.Observe(ctx, inst, creds)
			require.NoError(t, err)
			assert.False(t, ok, "the edit is drift")
			again, err := p.Ensure(ctx, inst, creds)
			require.NoError(t, err)
			assert.Equal(t, exact, s.Clients("plattr-staging")[0], "back to exactly what Plattr made")
			assert.Equal(t, string(creds[KeySecret]), string(again[KeySecret]), "the secret is kept")
			ok, err = p.Observe(ctx, inst, again)
			require.NoError(t, err)
			assert.True(t, ok)
		})
	}
}

func TestProvisioner_ObserveComparesTheSecret(t *testing.T) {
	p, _ := setup(t)
	ctx := context.Background()
	inst := instance("shop")
	creds, err := p.Ensure(ctx, inst, nil)
	require.NoError(t, err)
	stale := services.Credentials{KeyIssuer: creds[KeyIssuer], KeyClientID: creds[KeyClientID], KeySecret: []byte("not-the-secret")}
	ok, err := p.Observe(ctx, inst, stale)
	require.NoError(t, err)
	assert.False(t, ok, "a Secret that does not hold the client's secret is drift")
	fixed, err := p.Ensure(ctx, inst, stale)
	require.NoError(t, err)
	assert.Equal(t, string(creds[KeySecret]), string(fixed[KeySecret]), "Keycloak's secret reaches the Secret")
}

// A client deleted by hand comes back with the secret the app already has.
func TestProvisioner_EnsureRecreatesWithTheAppsSecret(t *testing.T) {
	p, s := setup(t)
	ctx := context.Background()
	inst := instance("shop")
	creds, err := p.Ensure(ctx, inst, nil)
	require.NoError(t, err)
	require.NoError(t, p.kc.DeleteClient(ctx, "plattr-staging", s.Clients("plattr-staging")[0].ID))
	again, err := p.Ensure(ctx, inst, creds)
	require.NoError(t, err)
	assert.Equal(t, string(creds[KeySecret]), string(again[KeySecret]))
	ok, err := p.Observe(ctx, inst, creds)
	require.NoError(t, err)
	assert.True(t, ok)
}

// A stalled Keycloak costs one request per call: Ensure and Observe give up on
// the first admin API call that hangs instead of retrying it.
func TestProvisioner_StalledKeycloakOneRequestPerCall(t *testing.T) {
	p, s := setup(t)
	p.kc.http.Timeout = 50 * time.Millisecond // RequestTimeout, shortened for the test
	ctx := context.Background()
	inst := instance("shop")
	creds, err := p.Ensure(ctx, inst, nil)
	require.NoError(t, err)

	s.Stall(true)
	before := s.Requests()
	_, err = p.Ensure(ctx, inst, creds)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot reach Keycloak")
	assert.Equal(t, before+1, s.Requests(), "the realm read, once")
	assert.NotContains(t, err.Error(), "kc-admin-s3cret")
	assert.NotContains(t, err.Error(), string(creds[KeySecret]))

	before = s.Requests()
	_, err = p.Observe(ctx, inst, creds)
	require.Error(t, err)
	assert.Equal(t, before+1, s.Requests(), "the client lookup, once")
	assert.NotContains(t, err.Error(), string(creds[KeySecret]))

	before = s.Requests()
	require.Error(t, p.Delete(ctx, inst))
	assert.Equal(t, before+1, s.Requests())

	s.Stall(false)
	_, err = p.Ensure(ctx, inst, creds)
	require.NoError(t, err, "back once Keycloak answers")
}
