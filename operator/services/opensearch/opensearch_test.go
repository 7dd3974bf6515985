package opensearch

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakeopensearch"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

func setup(t *testing.T) (*Provisioner, *fakeopensearch.Server) {
	t.Helper()
	s := fakeopensearch.New("admin", "admin-s3cret")
	t.Cleanup(s.Close)
	p, err := New(s.URL, "admin", "admin-s3cret")
	require.NoError(t, err)
	return p, s
}

func instance(app string) services.Instance {
	return services.Instance{Env: "staging", App: app, Spec: &plattrv1.ApplicationSpec{Search: &plattrv1.SearchSpec{Enabled: true}}}
}

// appClient is what the app would use: opensearch-go with the Secret's credentials.
func appClient(t *testing.T, creds services.Credentials) *opensearchapi.Client {
	t.Helper()
	c, err := opensearchapi.NewClient(opensearchapi.Config{Client: opensearch.Config{
		Addresses: []string{string(creds[KeyURL])}, Username: string(creds[KeyUser]), Password: string(creds[KeyPassword]), DisableRetry: true}})
	require.NoError(t, err)
	return c
}

func indexDoc(c *opensearchapi.Client, index string) (int, error) {
	resp, err := c.Index(context.Background(), opensearchapi.IndexReq{Index: index, Body: strings.NewReader(`{"title":"hello"}`)})
	if resp != nil && resp.Inspect().Response != nil {
		return resp.Inspect().Response.StatusCode, err
	}
	return 0, err
}

func TestProvisioner_CrossTenant(t *testing.T) {
	p, s := setup(t)
	ctx := context.Background()
	shop, err := p.Ensure(ctx, instance("shop"), nil)
	require.NoError(t, err)
	admin, err := p.Ensure(ctx, instance("shop-admin"), nil)
	require.NoError(t, err)
	assert.Equal(t, "staging.shop.", string(shop[KeyPrefix]))
	assert.Equal(t, "staging.shop", string(shop[KeyUser]))

	c := appClient(t, shop)
	code, err := indexDoc(c, "staging.shop.products")
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, code, "its own index")
	code, err = indexDoc(appClient(t, admin), "staging.shop-admin.logs")
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, code)

	for _, other := range []string{"staging.shop-admin.logs", "staging.shopx.a", "prod.shop.products", "global"} {
		code, err := indexDoc(c, other)
		assert.Error(t, err, other)
		assert.Equal(t, http.StatusForbidden, code, "shop may not write %s", other)
	}
	assert.Equal(t, []string{"staging.shop-admin.logs", "staging.shop.products"}, s.Indices())

	ok, err := p.Observe(ctx, instance("shop"), shop)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestProvisioner_IdempotentUpdateAndDelete(t *testing.T) {
	p, s := setup(t)
	ctx := context.Background()
	inst := instance("blog")
	first, err := p.Ensure(ctx, inst, nil)
	require.NoError(t, err)
	again, err := p.Ensure(ctx, inst, first)
	require.NoError(t, err, "re-creating: every PUT answers 200 OK")
	assert.Equal(t, string(first[KeyPassword]), string(again[KeyPassword]), "the password is kept")
	ok, err := p.Observe(ctx, inst, again)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = p.Observe(ctx, inst, services.Credentials{KeyURL: first[KeyURL], KeyUser: first[KeyUser], KeyPrefix: first[KeyPrefix], KeyPassword: []byte("wrong")})
	require.NoError(t, err)
	assert.False(t, ok, "a password that does not log in is not up to date")

	_, err = indexDoc(appClient(t, first), "staging.blog.posts")
	require.NoError(t, err)
	require.NoError(t, p.Delete(ctx, inst))
	assert.False(t, s.Has("roles", "plattr.staging.blog"))
	assert.False(t, s.Has("internalusers", "staging.blog"))
	assert.False(t, s.Has("rolesmapping", "plattr.staging.blog"))
	assert.Empty(t, s.Indices(), "the app's indices are deleted with it")
	require.NoError(t, p.Delete(ctx, inst), "already gone is success")
}

func TestProvisioner_ReservedAndErrors(t *testing.T) {
	p, s := setup(t)
	ctx := context.Background()
	// A reserved role is never touched: not even overwritten, let alone deleted.
	s.AddReservedRole("plattr.staging.reserved")
	_, err := p.Ensure(ctx, instance("reserved"), nil)
	assert.ErrorIs(t, err, services.ErrInvalid)
	assert.Contains(t, err.Error(), "reserved")
	err = p.Delete(ctx, instance("reserved"))
	assert.ErrorIs(t, err, services.ErrInvalid, "403 on delete")
	assert.Equal(t, "reserved", s.RoleDescription("plattr.staging.reserved"))
	assert.False(t, s.Has("internalusers", "staging.reserved"))
	_, err = p.Ensure(ctx, services.Instance{Env: "staging", App: "../all_access"}, nil)
	assert.ErrorIs(t, err, services.ErrInvalid, "names are checked before they reach a URL path")

	s.FailNext(2, http.StatusServiceUnavailable)
	_, err = p.Ensure(ctx, instance("retry"), nil)
	require.NoError(t, err, "5xx is retried with backoff")

	bad, err := New(s.URL, "admin", "wrong-s3cret")
	require.NoError(t, err)
	_, err = bad.Ensure(ctx, instance("x"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rejected the admin credentials")
	assert.NotContains(t, err.Error(), "wrong-s3cret")

	none, err := New("", "", "")
	require.NoError(t, err)
	_, err = none.Ensure(ctx, instance("x"), nil)
	assert.ErrorIs(t, err, services.ErrNotConfigured)
}
