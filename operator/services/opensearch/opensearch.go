// Package opensearch provisions OpenSearch for Applications through the security
// plugin's REST API: a role allowed only on the app's indices, an internal user
// with a random password, and the mapping between them.
//
// The index prefix is "<env>.<app>." and the role's pattern "<env>.<app>.*": '.'
// cannot occur in app or environment names, so "staging.shop.*" never matches an
// index of "shop-admin" (a '-' delimiter would: "staging-shop-*" matches
// "staging-shop-admin-logs"). Names are checked before they reach a URL path.
// Reserved or hidden resources (403) are never touched.
package opensearch

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/opensearch-project/opensearch-go/v4/plugins/security"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// Secret keys.
const (
	KeyURL      = "OPENSEARCH_URL"
	KeyUser     = "OPENSEARCH_USERNAME"
	KeyPassword = "OPENSEARCH_PASSWORD"
	KeyPrefix   = "OPENSEARCH_INDEX_PREFIX"
)

// allowedActions are what an app may do on its own indices: documents, creating
// and mapping indices, refresh and stats; not deleting indices or changing settings.
var allowedActions = []string{"crud", "create_index", "indices:admin/mapping/put", "indices:admin/refresh*", "indices:monitor/stats"}

// clusterActions let an app use bulk, multi-get and multi-search (cluster-level
// actions that are then checked per index).
var clusterActions = []string{"indices:data/write/bulk", "indices:data/read/mget", "indices:data/read/msearch", "indices:data/read/scroll*"}

// Provisioner is the OpenSearch backing service.
type Provisioner struct {
	url string
	sec *security.Client
	api *opensearchapi.Client
}

var _ services.Provisioner = (*Provisioner)(nil)

// New returns a provisioner for the cluster at url, managed as admin. An empty
// url reports services.ErrNotConfigured on every call.
func New(url, user, password string) (*Provisioner, error) {
	p := &Provisioner{url: url}
	if url == "" {
		return p, nil
	}
	cfg := opensearch.Config{Addresses: []string{url}, Username: user, Password: password,
		RetryOnStatus: []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusInternalServerError},
		MaxRetries:    3, RetryBackoff: func(n int) time.Duration { return time.Duration(n) * 200 * time.Millisecond }}
	var err error
	if p.sec, err = security.NewClient(security.Config{Client: cfg}); err != nil {
		return nil, fmt.Errorf("OPENSEARCH_URL: %w", err)
	}
	if p.api, err = opensearchapi.NewClient(opensearchapi.Config{Client: cfg}); err != nil {
		return nil, fmt.Errorf("OPENSEARCH_URL: %w", err)
	}
	return p, nil
}

// Name implements services.Provisioner.
func (p *Provisioner) Name() string { return "opensearch" }

// Condition implements services.Provisioner.
func (p *Provisioner) Condition() string { return plattrv1.ConditionSearchReady }

// Enabled implements services.Provisioner.
func (p *Provisioner) Enabled(spec *plattrv1.ApplicationSpec) bool {
	return spec.Search != nil && spec.Search.Enabled
}

var safe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

type names struct{ user, role, prefix string }

func namesOf(inst services.Instance) (names, error) {
	for _, n := range []string{inst.Env, inst.App} {
		if !safe.MatchString(n) {
			return names{}, fmt.Errorf("%q cannot name OpenSearch resources (lower-case letters, digits, '-'): %w", n, services.ErrInvalid)
		}
	}
	base := inst.Env + "." + inst.App
	return names{user: base, role: "plattr." + base, prefix: base + "."}, nil
}

func (p *Provisioner) ready() error {
	if p.url == "" {
		return services.NotConfigured("OpenSearch", "OPENSEARCH_URL")
	}
	return nil
}

// status is the HTTP status of a failed call, 0 when there was no answer.
func status(resp interface{ Inspect() security.Inspect }, err error) int {
	if err == nil {
		return http.StatusOK
	}
	if r := resp.Inspect().Response; r != nil {
		return r.StatusCode
	}
	return 0
}

func wrap(what, name string, code int, err error) error {
	switch code {
	case http.StatusForbidden:
		return fmt.Errorf("%s %q: OpenSearch refuses (reserved, hidden or not permitted): %w", what, name, services.ErrInvalid)
	case http.StatusUnauthorized:
		return fmt.Errorf("%s %q: OpenSearch rejected the admin credentials (check OPENSEARCH_USERNAME and OPENSEARCH_PASSWORD)", what, name)
	case 0:
		return fmt.Errorf("%s %q: cannot reach OpenSearch: %w", what, name, err)
	}
	return fmt.Errorf("%s %q: %w", what, name, err)
}

// Observe implements services.Provisioner: the role allows exactly the app's
// pattern, it is mapped to the user, and the Secret's password logs in as the user.
func (p *Provisioner) Observe(ctx context.Context, inst services.Instance, current services.Credentials) (bool, error) {
	if err := p.ready(); err != nil {
		return false, err
	}
	n, err := namesOf(inst)
	if err != nil {
		return false, err
	}
	if current == nil || string(current[KeyUser]) != n.user || string(current[KeyPrefix]) != n.prefix || string(current[KeyURL]) != p.url {
		return false, nil
	}
	role, err := p.sec.Roles.Get(ctx, &security.RolesGetReq{Role: n.role})
	if code := status(role, err); code == http.StatusNotFound {
		return false, nil
	} else if err != nil {
		return false, wrap("read role", n.role, code, err)
	}
	r, ok := role.Roles[n.role]
	if !ok || len(r.IndexPermissions) != 1 || !slices.Equal(r.IndexPermissions[0].IndexPatterns, []string{n.prefix + "*"}) {
		return false, nil
	}
	m, err := p.sec.RolesMapping.Get(ctx, &security.RolesMappingGetReq{Role: n.role})
	if code := status(m, err); code == http.StatusNotFound {
		return false, nil
	} else if err != nil {
		return false, wrap("read role mapping", n.role, code, err)
	}
	if !slices.Contains(m.RolesMapping[n.role].Users, n.user) {
		return false, nil
	}
	return p.logsIn(ctx, n.user, string(current[KeyPassword]))
}

// logsIn asks the cluster who the app's credentials authenticate as, through the
// admin's client and connections: the transport keeps an Authorization header
// that the request already has.
func (p *Provisioner) logsIn(ctx context.Context, user, password string) (bool, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/_plugins/_security/authinfo", nil)
	req.SetBasicAuth(user, password)
	resp, err := p.api.Client.Perform(req)
	if err != nil {
		return false, fmt.Errorf("check the credentials of %q: cannot reach OpenSearch: %w", user, err)
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// Ensure implements services.Provisioner.
func (p *Provisioner) Ensure(ctx context.Context, inst services.Instance, current services.Credentials) (services.Credentials, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	n, err := namesOf(inst)
	if err != nil {
		return nil, err
	}
	// Never touch a reserved or hidden role, even to look at it twice.
	if role, err := p.sec.Roles.Get(ctx, &security.RolesGetReq{Role: n.role}); err == nil {
		if r := role.Roles[n.role]; r.Reserved || r.Hidden {
			return nil, fmt.Errorf("role %q is reserved in OpenSearch: %w", n.role, services.ErrInvalid)
		}
	} else if code := status(role, err); code != http.StatusNotFound {
		return nil, wrap("read role", n.role, code, err)
	}
	password := ""
	if current != nil && string(current[KeyUser]) == n.user {
		password = string(current[KeyPassword])
	}
	if password == "" {
		if password, err = services.Password(); err != nil {
			return nil, fmt.Errorf("generate a password: %w", err)
		}
	}
	resp, err := p.sec.Roles.Put(ctx, security.RolesPutReq{Role: n.role, Body: security.RolesPutBody{
		Description:        "Plattr: app " + inst.App + " in " + inst.Env,
		ClusterPermissions: clusterActions,
		IndexPermissions:   []security.RolesIndexPermission{{IndexPatterns: []string{n.prefix + "*"}, AllowedActions: allowedActions}},
	}})
	if err != nil {
		return nil, wrap("put role", n.role, status(resp, err), err)
	}
	uresp, err := p.sec.InternalUsers.Put(ctx, security.InternalUsersPutReq{User: n.user, Body: security.InternalUsersPutBody{
		Password: password, Description: "Plattr: app " + inst.App + " in " + inst.Env}})
	if err != nil {
		return nil, wrap("put internal user", n.user, status(uresp, err), err)
	}
	mresp, err := p.sec.RolesMapping.Put(ctx, security.RolesMappingPutReq{Role: n.role, Body: security.RolesMappingPutBody{Users: []string{n.user}}})
	if err != nil {
		return nil, wrap("map role", n.role, status(mresp, err), err)
	}
	return services.Credentials{KeyURL: []byte(p.url), KeyUser: []byte(n.user), KeyPassword: []byte(password), KeyPrefix: []byte(n.prefix)}, nil
}

// Delete implements services.Provisioner: the app's indices, then the mapping,
// the user and the role. What is already gone is success.
func (p *Provisioner) Delete(ctx context.Context, inst services.Instance) error {
	if err := p.ready(); err != nil {
		return err
	}
	n, err := namesOf(inst)
	if err != nil {
		return err
	}
	cat, err := p.api.Cat.Indices(ctx, &opensearchapi.CatIndicesReq{Indices: []string{n.prefix + "*"}})
	if err != nil && (cat == nil || cat.Inspect().Response == nil || cat.Inspect().Response.StatusCode != http.StatusNotFound) {
		return fmt.Errorf("list the indices of %q: %w", n.prefix, err)
	}
	var indices []string
	if cat != nil {
		for _, i := range cat.Indices {
			indices = append(indices, i.Index)
		}
	}
	if len(indices) > 0 {
		if _, err := p.api.Indices.Delete(ctx, opensearchapi.IndicesDeleteReq{Indices: indices}); err != nil {
			return fmt.Errorf("delete the indices of %q: %w", n.prefix, err)
		}
	}
	for _, step := range []struct {
		what, name string
		call       func() (interface{ Inspect() security.Inspect }, error)
	}{
		{"delete role mapping", n.role, func() (interface{ Inspect() security.Inspect }, error) {
			return p.sec.RolesMapping.Delete(ctx, security.RolesMappingDeleteReq{Role: n.role})
		}},
		{"delete internal user", n.user, func() (interface{ Inspect() security.Inspect }, error) {
			return p.sec.InternalUsers.Delete(ctx, security.InternalUsersDeleteReq{User: n.user})
		}},
		{"delete role", n.role, func() (interface{ Inspect() security.Inspect }, error) {
			return p.sec.Roles.Delete(ctx, security.RolesDeleteReq{Role: n.role})
		}},
	} {
		resp, err := step.call()
		if code := status(resp, err); err != nil && code != http.StatusNotFound {
			return wrap(step.what, step.name, code, err)
		}
	}
	return nil
}
