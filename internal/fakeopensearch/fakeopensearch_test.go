package fakeopensearch

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/opensearch-project/opensearch-go/v4/plugins/security"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func clients(t *testing.T, s *Server, user, pw string) (*security.Client, *opensearchapi.Client) {
	t.Helper()
	cfg := opensearch.Config{Addresses: []string{s.URL}, Username: user, Password: pw, DisableRetry: true}
	sec, err := security.NewClient(security.Config{Client: cfg})
	require.NoError(t, err)
	api, err := opensearchapi.NewClient(opensearchapi.Config{Client: cfg})
	require.NoError(t, err)
	return sec, api
}

func TestServer_SecurityAPI(t *testing.T) {
	s := New("admin", "pw")
	defer s.Close()
	sec, _ := clients(t, s, "admin", "pw")
	ctx := context.Background()

	put, err := sec.Roles.Put(ctx, security.RolesPutReq{Role: "r", Body: security.RolesPutBody{IndexPermissions: []security.RolesIndexPermission{{IndexPatterns: []string{"a.*"}, AllowedActions: []string{"crud"}}}}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, put.Inspect().Response.StatusCode)
	assert.Equal(t, "CREATED", put.Status)
	put, err = sec.Roles.Put(ctx, security.RolesPutReq{Role: "r", Body: security.RolesPutBody{IndexPermissions: []security.RolesIndexPermission{{IndexPatterns: []string{"a.*"}, AllowedActions: []string{"crud", "create_index"}}}}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, put.Inspect().Response.StatusCode, "an update answers 200")

	get, err := sec.Roles.Get(ctx, &security.RolesGetReq{Role: "nope"})
	require.Error(t, err)
	assert.Equal(t, http.StatusNotFound, get.Inspect().Response.StatusCode)

	_, err = sec.Roles.Put(ctx, security.RolesPutReq{Role: "all_access", Body: security.RolesPutBody{}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "reserved")
	_, err = sec.Roles.Get(ctx, &security.RolesGetReq{Role: "security_rest_api_access"})
	require.Error(t, err, "hidden resources are not even readable")

	_, err = sec.InternalUsers.Put(ctx, security.InternalUsersPutReq{User: "u", Body: security.InternalUsersPutBody{}})
	require.Error(t, err, "a new user needs a password")
	_, err = sec.InternalUsers.Put(ctx, security.InternalUsersPutReq{User: "u", Body: security.InternalUsersPutBody{Password: "upw"}})
	require.NoError(t, err)
	_, err = sec.RolesMapping.Put(ctx, security.RolesMappingPutReq{Role: "r", Body: security.RolesMappingPutBody{Users: []string{"u"}}})
	require.NoError(t, err)

	// The user is confined by the patterns of the roles mapped to it.
	_, api := clients(t, s, "u", "upw")
	resp, err := api.Index(ctx, opensearchapi.IndexReq{Index: "a.x", Body: strings.NewReader(`{}`)})
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, resp.Inspect().Response.StatusCode)
	resp, err = api.Index(ctx, opensearchapi.IndexReq{Index: "ab.x", Body: strings.NewReader(`{}`)})
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, resp.Inspect().Response.StatusCode)
	uSec, _ := clients(t, s, "u", "upw")
	_, err = uSec.Roles.Put(ctx, security.RolesPutReq{Role: "mine", Body: security.RolesPutBody{}})
	require.Error(t, err, "only the admin uses the security API")
	_, bad := clients(t, s, "u", "wrong")
	_, err = bad.Index(ctx, opensearchapi.IndexReq{Index: "a.x", Body: strings.NewReader(`{}`)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Unauthorized")

	del, err := sec.Roles.Delete(ctx, security.RolesDeleteReq{Role: "r"})
	require.NoError(t, err)
	assert.Equal(t, "OK", del.Status)
	_, err = sec.Roles.Delete(ctx, security.RolesDeleteReq{Role: "r"})
	require.Error(t, err, "deleting twice: 404")
}

func TestMatch(t *testing.T) {
	assert.True(t, Match("staging.shop.*", "staging.shop.products"))
	assert.False(t, Match("staging.shop.*", "staging.shop-admin.logs"))
	assert.True(t, Match("staging-shop-*", "staging-shop-admin-logs"), "why Plattr does not use '-' as the delimiter")
	assert.True(t, Match("a?c", "abc"))
	assert.False(t, Match("a?c", "ac"))
}

// A body that does not parse is refused (400) and changes nothing, as on OpenSearch.
func TestServer_BadBodyChangesNothing(t *testing.T) {
	s := New("admin", "pw")
	defer s.Close()
	sec, _ := clients(t, s, "admin", "pw")
	ctx := context.Background()
	_, err := sec.Roles.Put(ctx, security.RolesPutReq{Role: "r", Body: security.RolesPutBody{IndexPermissions: []security.RolesIndexPermission{{IndexPatterns: []string{"a.*"}, AllowedActions: []string{"crud"}}}}})
	require.NoError(t, err)
	for _, kind := range []string{"roles", "rolesmapping"} {
		req, _ := http.NewRequest(http.MethodPut, s.URL+"/_plugins/_security/api/"+kind+"/r", strings.NewReader("{not json"))
		req.SetBasicAuth("admin", "pw")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, kind)
	}
	got, err := sec.Roles.Get(ctx, &security.RolesGetReq{Role: "r"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a.*"}, got.Roles["r"].IndexPermissions[0].IndexPatterns, "the role is as it was")
	_, err = sec.RolesMapping.Get(ctx, &security.RolesMappingGetReq{Role: "r"})
	require.Error(t, err, "no mapping was made")
}
