package fakeopensearch

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
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

// A hand edit is what GET returns: a role widened to every index, and a user
// given a backend role, which authinfo then reports with the roles it reaches.
func TestServer_HandEditsAreWhatGetReturns(t *testing.T) {
	s := New("admin", "pw")
	defer s.Close()
	sec, _ := clients(t, s, "admin", "pw")
	ctx := context.Background()
	_, err := sec.Roles.Put(ctx, security.RolesPutReq{Role: "r", Body: security.RolesPutBody{
		ClusterPermissions: []string{"indices:data/write/bulk"},
		IndexPermissions:   []security.RolesIndexPermission{{IndexPatterns: []string{"a.*"}, AllowedActions: []string{"crud"}}}}})
	require.NoError(t, err)
	_, err = sec.Roles.Put(ctx, security.RolesPutReq{Role: "r", Body: security.RolesPutBody{
		IndexPermissions: []security.RolesIndexPermission{{IndexPatterns: []string{"*"}, AllowedActions: []string{"indices_all"}, FLS: []string{"~secret"}}}}})
	require.NoError(t, err)
	got, err := sec.Roles.Get(ctx, &security.RolesGetReq{Role: "r"})
	require.NoError(t, err)
	r := got.Roles["r"]
	require.Len(t, r.IndexPermissions, 1)
	assert.Equal(t, []string{"*"}, r.IndexPermissions[0].IndexPatterns)
	assert.Equal(t, []string{"indices_all"}, r.IndexPermissions[0].AllowedActions)
	assert.Equal(t, []string{"~secret"}, r.IndexPermissions[0].FLS)
	assert.Empty(t, r.ClusterPermissions, "a PUT replaces the whole role")

	_, err = sec.InternalUsers.Put(ctx, security.InternalUsersPutReq{User: "u", Body: security.InternalUsersPutBody{Password: "upw"}})
	require.NoError(t, err)
	_, err = sec.RolesMapping.Put(ctx, security.RolesMappingPutReq{Role: "r", Body: security.RolesMappingPutBody{Users: []string{"u", "eve"}, BackendRoles: []string{"dev"}}})
	require.NoError(t, err)
	m, err := sec.RolesMapping.Get(ctx, &security.RolesMappingGetReq{Role: "r"})
	require.NoError(t, err)
	assert.Equal(t, []string{"u", "eve"}, m.RolesMapping["r"].Users)
	assert.Equal(t, []string{"dev"}, m.RolesMapping["r"].BackendRoles)

	assert.Equal(t, []string{"r"}, authinfo(t, s, "u", "upw").Roles)
	_, err = sec.InternalUsers.Put(ctx, security.InternalUsersPutReq{User: "u", Body: security.InternalUsersPutBody{BackendRoles: []string{"admin"}}})
	require.NoError(t, err, "an existing user keeps its password")
	who := authinfo(t, s, "u", "upw")
	assert.Equal(t, []string{"admin"}, who.BackendRoles)
	assert.Equal(t, []string{"all_access", "r"}, who.Roles, "the default mapping gives backend role admin all_access")
	u, err := sec.InternalUsers.Get(ctx, &security.InternalUsersGetReq{User: "u"})
	require.NoError(t, err)
	assert.Equal(t, []string{"admin"}, u.Users["u"].BackendRoles)
	_, err = sec.InternalUsers.Put(ctx, security.InternalUsersPutReq{User: "u", Body: security.InternalUsersPutBody{Password: "upw"}})
	require.NoError(t, err)
	assert.Empty(t, authinfo(t, s, "u", "upw").BackendRoles, "a PUT replaces the whole user")
	// The admin client is unchanged by what a user was given.
	assert.Equal(t, "admin", authinfo(t, s, "admin", "pw").UserName)
}

// A stalled fake answers nothing until the client gives up; every request counts.
func TestServer_Stall(t *testing.T) {
	s := New("admin", "pw")
	defer s.Close()
	s.Stall(true)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/_plugins/_security/authinfo", nil)
	req.SetBasicAuth("admin", "pw")
	done := make(chan error)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for s.Requests() < 1 {
		runtime.Gosched()
	}
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled, "no answer came")
	s.Stall(false)
	assert.Equal(t, "admin", authinfo(t, s, "admin", "pw").UserName)
	assert.Equal(t, 2, s.Requests())
}

type who struct {
	UserName     string   `json:"user_name"`
	BackendRoles []string `json:"backend_roles"`
	Roles        []string `json:"roles"`
}

func authinfo(t *testing.T, s *Server, user, pw string) who {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/_plugins/_security/authinfo", nil)
	req.SetBasicAuth(user, pw)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var w who
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&w))
	return w
}
