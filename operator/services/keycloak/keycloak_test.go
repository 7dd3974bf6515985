package keycloak

import (
	"context"
	"net/http"
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
	p.kc.backoff = time.Millisecond
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

	// 5xx is retried with backoff; too many are an error.
	s.FailNext(2, http.StatusServiceUnavailable)
	_, err = p.Ensure(ctx, instance("blog", "/z"), nil)
	require.NoError(t, err)
	s.FailNext(10, http.StatusBadGateway)
	_, err = p.Ensure(ctx, instance("blog"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "502")
}

func TestProvisioner_RefusesAndLeaksNothing(t *testing.T) {
	s := fakekeycloak.New("admin", "right")
	defer s.Close()
	p := New(s.URL, "admin", "wrong-kc-s3cret")
	_, err := p.Ensure(context.Background(), instance("x"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "KEYCLOAK_ADMIN_PASSWORD")
	assert.NotContains(t, err.Error(), "wrong-kc-s3cret")

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

func TestOrigin_HTTPOnlyForLoopbackHosts(t *testing.T) {
	for host, want := range map[string]string{
		"localhost:3000":              "http://localhost:3000",
		"shop.localtest.me":           "http://shop.localtest.me",
		"app.localhost":               "http://app.localhost",
		"127.0.0.1:8080":              "http://127.0.0.1:8080",
		"shop.staging.example.com":    "https://shop.staging.example.com",
		"localtest.me.evil.example":   "https://localtest.me.evil.example",
		"localhost.example.com:8443":  "https://localhost.example.com:8443",
		"shop.apps.localtest.me.corp": "https://shop.apps.localtest.me.corp",
	} {
		assert.Equal(t, want, Origin(host), host)
	}
}

func TestProvisioner_LocalHostsGetHTTPRedirects(t *testing.T) {
	p, s := setup(t)
	inst := instance("shop", "/cb")
	inst.Host = "localhost:3000" // plattr dev
	_, err := p.Ensure(context.Background(), inst, nil)
	require.NoError(t, err)
	clients := s.Clients("plattr-staging")
	require.Len(t, clients, 1)
	assert.Equal(t, []string{"http://localhost:3000/cb"}, clients[0].RedirectURIs)
	assert.Equal(t, []string{"http://localhost:3000"}, clients[0].WebOrigins)
}
