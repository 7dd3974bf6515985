//go:build realservers

package opensearch

import (
	"context"
	"net/http"
	"os"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/plugins/security"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRealServer runs the cross-tenant and life-cycle cases against a real
// OpenSearch with the security plugin, for machines that have one:
// go test -tags realservers ./operator/services/opensearch with
// PLATTR_REAL_OPENSEARCH_URL, _USERNAME and _PASSWORD (a security REST API admin).
func TestRealServer(t *testing.T) {
	url := os.Getenv("PLATTR_REAL_OPENSEARCH_URL")
	if url == "" {
		t.Fatal("set PLATTR_REAL_OPENSEARCH_URL, PLATTR_REAL_OPENSEARCH_USERNAME and PLATTR_REAL_OPENSEARCH_PASSWORD")
	}
	p, err := New(url, os.Getenv("PLATTR_REAL_OPENSEARCH_USERNAME"), os.Getenv("PLATTR_REAL_OPENSEARCH_PASSWORD"))
	require.NoError(t, err)
	ctx := context.Background()
	shop, admin := instance("plattr-rs-shop"), instance("plattr-rs-shop-admin")
	t.Cleanup(func() { _ = p.Delete(ctx, shop); _ = p.Delete(ctx, admin) })
	shopCreds, err := p.Ensure(ctx, shop, nil)
	require.NoError(t, err)
	adminCreds, err := p.Ensure(ctx, admin, nil)
	require.NoError(t, err)
	code, err := indexDoc(appClient(t, shopCreds), string(shopCreds[KeyPrefix])+"products")
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, code)
	code, _ = indexDoc(appClient(t, shopCreds), string(adminCreds[KeyPrefix])+"logs")
	assert.Equal(t, http.StatusForbidden, code, "no cross-tenant writes")
	ok, err := p.Observe(ctx, shop, shopCreds)
	require.NoError(t, err)
	assert.True(t, ok)

	// A role widened to every index by hand is found and put back.
	_, err = p.sec.Roles.Put(ctx, security.RolesPutReq{Role: "plattr." + string(shopCreds[KeyUser]), Body: security.RolesPutBody{
		IndexPermissions: []security.RolesIndexPermission{{IndexPatterns: []string{"*"}, AllowedActions: allowedActions}}}})
	require.NoError(t, err)
	ok, err = p.Observe(ctx, shop, shopCreds)
	require.NoError(t, err)
	assert.False(t, ok, "drift")
	_, err = p.Ensure(ctx, shop, shopCreds)
	require.NoError(t, err)
	ok, err = p.Observe(ctx, shop, shopCreds)
	require.NoError(t, err)
	assert.True(t, ok)

	require.NoError(t, p.Delete(ctx, shop))
	require.NoError(t, p.Delete(ctx, shop), "already gone")
}
