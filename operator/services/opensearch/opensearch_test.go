package opensearch

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/opensearch-project/opensearch-go/v4/plugins/security"
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

	// 5xx is not retried here: one request, the error, and the workqueue's
	// backoff decides when to come back.
	before := s.Requests()
	s.FailNext(1, http.StatusServiceUnavailable)
	_, err = p.Ensure(ctx, instance("retry"), nil)
	require.Error(t, err)
	assert.Equal(t, before+1, s.Requests(), "one request, not retried")
	_, err = p.Ensure(ctx, instance("retry"), nil)
	require.NoError(t, err, "the next reconcile goes through")

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

func TestProvisioner_ObserveFindsAndEnsureResetsHandEdits(t *testing.T) {
	ctx := context.Background()
	const role, user = "plattr.staging.shop", "staging.shop"
	for name, tc := range map[string]struct {
		reason string
		edit   func(t *testing.T, sec *security.Client)
	}{
		"role widened to every index": {"the attack: index pattern *", func(t *testing.T, sec *security.Client) {
			putRole(t, sec, role, []string{"*"}, allowedActions, clusterActions)
		}},
		"role widened to another app": {"a second pattern", func(t *testing.T, sec *security.Client) {
			putRole(t, sec, role, []string{"staging.shop.*", "staging.billing.*"}, allowedActions, clusterActions)
		}},
		"more index actions": {"delete indices, change settings", func(t *testing.T, sec *security.Client) {
			putRole(t, sec, role, []string{"staging.shop.*"}, []string{"indices_all"}, clusterActions)
		}},
		"more cluster actions": {"cluster_all", func(t *testing.T, sec *security.Client) {
			putRole(t, sec, role, []string{"staging.shop.*"}, allowedActions, append(slices.Clone(clusterActions), "cluster_all"))
		}},
		"fewer index actions": {"the app would break", func(t *testing.T, sec *security.Client) {
			putRole(t, sec, role, []string{"staging.shop.*"}, []string{"read"}, clusterActions)
		}},
		"mapping names another user": {"eve reads the app's indices", func(t *testing.T, sec *security.Client) {
			_, err := sec.RolesMapping.Put(ctx, security.RolesMappingPutReq{Role: role, Body: security.RolesMappingPutBody{Users: []string{user, "eve"}}})
			require.NoError(t, err)
		}},
		"mapping names a backend role": {"everyone with it gets the role", func(t *testing.T, sec *security.Client) {
			_, err := sec.RolesMapping.Put(ctx, security.RolesMappingPutReq{Role: role, Body: security.RolesMappingPutBody{Users: []string{user}, BackendRoles: []string{"dev"}}})
			require.NoError(t, err)
		}},
		"user given backend role admin": {"all_access through the default mapping", func(t *testing.T, sec *security.Client) {
			_, err := sec.InternalUsers.Put(ctx, security.InternalUsersPutReq{User: user, Body: security.InternalUsersPutBody{BackendRoles: []string{"admin"}}})
			require.NoError(t, err)
		}},
	} {
		t.Run(name, func(t *testing.T) {
			p, s := setup(t)
			inst := instance("shop")
			creds, err := p.Ensure(ctx, inst, nil)
			require.NoError(t, err)
			exact := s.Role(role)

			tc.edit(t, p.sec)
			ok, err := p.Observe(ctx, inst, creds)
			require.NoError(t, err)
			assert.False(t, ok, "drift: %s", tc.reason)

			again, err := p.Ensure(ctx, inst, creds)
			require.NoError(t, err)
			assert.Equal(t, exact, s.Role(role), "the role is exact again")
			assert.Equal(t, string(creds[KeyPassword]), string(again[KeyPassword]), "the password is kept")
			ok, err = p.Observe(ctx, inst, again)
			require.NoError(t, err)
			assert.True(t, ok)
			code, _ := indexDoc(appClient(t, again), "staging.billing.invoices")
			assert.Equal(t, http.StatusForbidden, code, "confined again")
		})
	}
}

// A mapping of another role that names the app's user is not Plattr's to change:
// Observe finds it and Ensure says what a person must do.
func TestProvisioner_EnsureRefusesForeignRoles(t *testing.T) {
	p, _ := setup(t)
	ctx := context.Background()
	creds, err := p.Ensure(ctx, instance("shop"), nil)
	require.NoError(t, err)
	_, err = p.sec.RolesMapping.Put(ctx, security.RolesMappingPutReq{Role: "readall", Body: security.RolesMappingPutBody{Users: []string{"staging.shop"}}})
	require.NoError(t, err)
	ok, err := p.Observe(ctx, instance("shop"), creds)
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = p.Ensure(ctx, instance("shop"), creds)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "also holds roles [readall]")
	assert.NotContains(t, err.Error(), string(creds[KeyPassword]))
}

func putRole(t *testing.T, sec *security.Client, name string, patterns, actions, cluster []string) {
	t.Helper()
	_, err := sec.Roles.Put(context.Background(), security.RolesPutReq{Role: name, Body: security.RolesPutBody{
		ClusterPermissions: cluster, IndexPermissions: []security.RolesIndexPermission{{IndexPatterns: patterns, AllowedActions: actions}}}})
	require.NoError(t, err)
}

// A stalled cluster costs one request per call, bounded by the request timeout,
// and its errors carry no credentials.
func TestProvisioner_StalledClusterOneRequestPerCall(t *testing.T) {
	requestTimeout = 50 * time.Millisecond // RequestTimeout, shortened for the test
	t.Cleanup(func() { requestTimeout = RequestTimeout })
	s := fakeopensearch.New("admin", "admin-s3cret")
	t.Cleanup(s.Close)
	p, err := New(strings.Replace(s.URL, "http://", "http://admin:admin-s3cret@", 1), "admin", "admin-s3cret")
	require.NoError(t, err)
	ctx := context.Background()
	inst := instance("shop")
	creds, err := p.Ensure(ctx, inst, nil)
	require.NoError(t, err)

	s.Stall(true)
	for name, call := range map[string]func() error{
		"ensure":  func() error { _, err := p.Ensure(ctx, inst, creds); return err },
		"observe": func() error { _, err := p.Observe(ctx, inst, creds); return err },
		"delete":  func() error { return p.Delete(ctx, inst) },
	} {
		before := s.Requests()
		err := call()
		require.Error(t, err, name)
		assert.Equal(t, before+1, s.Requests(), "%s: one request, not retried", name)
		assert.NotContains(t, err.Error(), "admin-s3cret", name)
		assert.NotContains(t, err.Error(), string(creds[KeyPassword]), name)
	}
	s.Stall(false)
	ok, err := p.Observe(ctx, inst, creds)
	require.NoError(t, err, "back once the cluster answers")
	assert.True(t, ok)
}
