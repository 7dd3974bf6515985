// Package opensearch provisions OpenSearch for Applications through the security
// plugin's REST API: a role allowed only on the app's indices, an internal user
// with a random password, and the mapping between them. Credentials rotate
// (services.Rotator) by alternating between two internal users,
// "<env>.<app>" and "<env>.<app>.b", both mapped to the role until the old
// one is retired: no user's password changes under a pod.
//
// The index prefix is "<env>.<app>." and the role's pattern "<env>.<app>.*": '.'
// cannot occur in app or environment names, so "staging.shop.*" never matches an
// index of "shop-admin" (a '-' delimiter would: "staging-shop-*" matches
// "staging-shop-admin-logs"). Names are checked before they reach a URL path.
// Reserved or hidden resources (403) are never touched.
//
// Observe reads each object once (the role, its mapping, and the user through
// authinfo with the app's own credentials) and compares it whole, so a hand edit
// that widens what the app may do is found and Ensure puts it back. Every call
// is one request bounded by RequestTimeout and never retried here: the
// controller's workqueue backs off instead.
package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

// RequestTimeout bounds each request to OpenSearch.
const RequestTimeout = 5 * time.Second

// requestTimeout is RequestTimeout, shortened by tests of a stalled cluster.
var requestTimeout = RequestTimeout

// Provisioner is the OpenSearch backing service.
type Provisioner struct {
	services.Identity
	url string
	sec *security.Client
	api *opensearchapi.Client
}

var _ services.Provisioner = (*Provisioner)(nil)

// New returns a provisioner for the cluster at url, managed as admin. An empty
// url reports services.ErrNotConfigured on every call.
func New(url, user, password string) (*Provisioner, error) {
	p := &Provisioner{Identity: services.Identity{Service: plattrv1.ServiceSearch}, url: url}
	if url == "" {
		return p, nil
	}
	cfg := opensearch.Config{Addresses: []string{url}, Username: user, Password: password,
		DisableRetry: true, RequestTimeout: requestTimeout, HealthCheckMaxRetries: -1}
	var err error
	if p.sec, err = security.NewClient(security.Config{Client: cfg}); err != nil {
		return nil, fmt.Errorf("OPENSEARCH_URL: %w", err)
	}
	if p.api, err = opensearchapi.NewClient(opensearchapi.Config{Client: cfg}); err != nil {
		return nil, fmt.Errorf("OPENSEARCH_URL: %w", err)
	}
	return p, nil
}

// names are an app's OpenSearch resources. Its credentials alternate between
// two internal users, user and alt, so that a rotation never changes the
// password of a user a pod logs in as: the next credentials are the other
// user's, both mapped to the role until the old one is retired.
type names struct{ user, alt, role, prefix string }

// altSuffix ends the name of an app's second internal user. '.' cannot occur
// in app names, so "<env>.<app>.b" is no other app's user, and the index
// own_index gives it is under the app's prefix.
const altSuffix = ".b"

func namesOf(inst services.Instance) (names, error) {
	if err := services.CheckNames(inst, "OpenSearch resources"); err != nil {
		return names{}, err
	}
	base := inst.Env + "." + inst.App
	return names{user: base, alt: base + altSuffix, role: "plattr." + base, prefix: base + "."}, nil
}

// userOf is the app's user that creds name (user or alt), "" for neither.
func (n names) userOf(creds services.Credentials) string {
	if u := string(creds[KeyUser]); u == n.user || u == n.alt {
		return u
	}
	return ""
}

// other is the app's user that is not u.
func (n names) other(u string) string {
	if u == n.alt {
		return n.user
	}
	return n.alt
}

// mapped are the users the app's role maps: the current credentials' user,
// and during a rotation the previous one's when it is the other.
func (n names) mapped(inst services.Instance, current string) []string {
	out := []string{current}
	if prev := n.userOf(inst.Previous); prev != "" && prev != current && len(inst.Previous[KeyPassword]) > 0 {
		out = append(out, prev)
	}
	return out
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

// Observe implements services.Provisioner: the role is exactly the one Ensure
// puts, its mapping names the app's user and nobody else, and the Secret's
// password logs in as that user, who holds that role and no other.
func (p *Provisioner) Observe(ctx context.Context, inst services.Instance, current services.Credentials) (bool, error) {
	if err := p.ready(); err != nil {
		return false, err
	}
	n, err := namesOf(inst)
	if err != nil {
		return false, err
	}
	user := n.userOf(current)
	if user == "" || string(current[KeyPrefix]) != n.prefix || string(current[KeyURL]) != p.url {
		return false, nil
	}
	role, err := p.sec.Roles.Get(ctx, &security.RolesGetReq{Role: n.role})
	if code := status(role, err); code == http.StatusNotFound {
		return false, nil
	} else if err != nil {
		return false, wrap("read role", n.role, code, err)
	}
	if r, ok := role.Roles[n.role]; !ok || !sameRole(r, n) {
		return false, nil
	}
	m, err := p.sec.RolesMapping.Get(ctx, &security.RolesMappingGetReq{Role: n.role})
	if code := status(m, err); code == http.StatusNotFound {
		return false, nil
	} else if err != nil {
		return false, wrap("read role mapping", n.role, code, err)
	}
	if got, ok := m.RolesMapping[n.role]; !ok || !sameSet(got.Users, n.mapped(inst, user)) ||
		len(got.BackendRoles)+len(got.AndBackendRoles)+len(got.Hosts) > 0 {
		return false, nil
	}
	for _, u := range n.mapped(inst, user) {
		creds := current
		if u != user {
			creds = inst.Previous
		}
		who, err := p.authinfo(ctx, u, string(creds[KeyPassword]))
		if err != nil || who == nil {
			return false, err
		}
		if who.UserName != u || len(who.BackendRoles) > 0 || len(foreignRoles(who.Roles, n)) > 0 || !slices.Contains(who.Roles, n.role) {
			return false, nil
		}
	}
	return true, nil
}

// everyUsersRoles are mapped to every user (users: ["*"]) by OpenSearch's default
// security configuration: own_index reaches only an index named after the user
// ("<env>.<app>", never another app's).
var everyUsersRoles = []string{"own_index"}

// foreignRoles are the roles the user holds besides the app's own.
func foreignRoles(roles []string, n names) []string {
	return slices.DeleteFunc(slices.Clone(roles), func(r string) bool { return r == n.role || slices.Contains(everyUsersRoles, r) })
}

// role is the one role Ensure puts for n.
func role(inst services.Instance, n names) security.RolesPutBody {
	return security.RolesPutBody{
		Description:        "Plattr: app " + inst.App + " in " + inst.Env,
		ClusterPermissions: clusterActions,
		IndexPermissions:   []security.RolesIndexPermission{{IndexPatterns: []string{n.prefix + "*"}, AllowedActions: allowedActions}},
	}
}

// sameRole says whether got grants exactly what role does: the same cluster
// actions, one index permission on the app's pattern with the same actions and
// no field or document rules, no tenants (orders are OpenSearch's to keep).
func sameRole(got security.RolesGetItem, n names) bool {
	want := role(services.Instance{}, n)
	if got.Reserved || got.Hidden || !sameSet(got.ClusterPermissions, want.ClusterPermissions) ||
		len(got.TenantPermissions) != 0 || len(got.IndexPermissions) != 1 {
		return false
	}
	ip := got.IndexPermissions[0]
	return slices.Equal(ip.IndexPatterns, want.IndexPermissions[0].IndexPatterns) &&
		sameSet(ip.AllowedActions, want.IndexPermissions[0].AllowedActions) &&
		ip.DLS == "" && len(ip.FLS) == 0 && len(ip.MaskedFields) == 0
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// whoAmI is what authinfo says of the credentials it was asked with.
type whoAmI struct {
	UserName     string   `json:"user_name"`
	BackendRoles []string `json:"backend_roles"`
	Roles        []string `json:"roles"`
}

// authinfo asks the cluster who the app's credentials authenticate as, and with
// which roles, through the admin's client and connections: the transport keeps
// an Authorization header that the request already has. It is nil when they do
// not log in.
func (p *Provisioner) authinfo(ctx context.Context, user, password string) (*whoAmI, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/_plugins/_security/authinfo", nil)
	req.SetBasicAuth(user, password)
	resp, err := p.api.Client.Stream(req)
	if err != nil {
		return nil, fmt.Errorf("check the credentials of %q: cannot reach OpenSearch: %w", user, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil
	}
	var who whoAmI
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&who); err != nil {
		return nil, fmt.Errorf("check the credentials of %q: unexpected answer from authinfo: %w", user, err)
	}
	return &who, nil
}

// Ensure implements services.Provisioner: the role, the user and the mapping
// are each put whole (a PUT replaces a hand edit), then authinfo confirms the
// user holds the app's role and no other.
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
	user := n.userOf(current)
	if user == "" {
		user = n.user
	}
	password, err := services.KeptPassword(current, KeyUser, KeyPassword, user)
	if err != nil {
		return nil, err
	}
	resp, err := p.sec.Roles.Put(ctx, security.RolesPutReq{Role: n.role, Body: role(inst, n)})
	if err != nil {
		return nil, wrap("put role", n.role, status(resp, err), err)
	}
	users := map[string]string{user: password}
	for _, u := range n.mapped(inst, user) {
		if u != user {
			users[u] = string(inst.Previous[KeyPassword])
		}
	}
	for u, pw := range users {
		if err := p.putUser(ctx, inst, u, pw); err != nil {
			return nil, err
		}
	}
	if err := p.mapUsers(ctx, n, n.mapped(inst, user)); err != nil {
		return nil, err
	}
	for u, pw := range users {
		if err := p.checkUser(ctx, n, u, pw); err != nil {
			return nil, err
		}
	}
	if len(users) == 1 {
		// Not rotating: the other user, left by a rotation cut short, goes.
		if err := p.deleteUser(ctx, n.other(user)); err != nil {
			return nil, err
		}
	}
	return services.Credentials{KeyURL: []byte(p.url), KeyUser: []byte(user), KeyPassword: []byte(password), KeyPrefix: []byte(n.prefix)}, nil
}

// putUser puts internal user u of the app with password.
func (p *Provisioner) putUser(ctx context.Context, inst services.Instance, u, password string) error {
	uresp, err := p.sec.InternalUsers.Put(ctx, security.InternalUsersPutReq{User: u, Body: security.InternalUsersPutBody{
		Password: password, Description: "Plattr: app " + inst.App + " in " + inst.Env}})
	if err != nil {
		return wrap("put internal user", u, status(uresp, err), err)
	}
	return nil
}

// mapUsers maps the app's role to users, and to nobody else; then each user
// must hold the role and no other.
func (p *Provisioner) mapUsers(ctx context.Context, n names, users []string) error {
	mresp, err := p.sec.RolesMapping.Put(ctx, security.RolesMappingPutReq{Role: n.role, Body: security.RolesMappingPutBody{Users: users}})
	if err != nil {
		return wrap("map role", n.role, status(mresp, err), err)
	}
	return nil
}

// checkUser asks authinfo that u logs in with password and holds the app's
// role and no other: a mapping of another role that names the user (added by
// hand) is not Plattr's to change, but the app must not be reported ready
// with it.
func (p *Provisioner) checkUser(ctx context.Context, n names, u, password string) error {
	who, err := p.authinfo(ctx, u, password)
	if err != nil {
		return err
	}
	if who == nil {
		return fmt.Errorf("internal user %q: OpenSearch does not accept the password just set", u)
	}
	if extra := foreignRoles(who.Roles, n); len(extra) > 0 {
		return fmt.Errorf("internal user %q also holds roles %v that Plattr did not give it: remove it from their role mappings", u, extra)
	}
	return nil
}

func (p *Provisioner) deleteUser(ctx context.Context, u string) error {
	resp, err := p.sec.InternalUsers.Delete(ctx, security.InternalUsersDeleteReq{User: u})
	if code := status(resp, err); err != nil && code != http.StatusNotFound {
		return wrap("delete internal user", u, code, err)
	}
	return nil
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
		{"delete internal user", n.alt, func() (interface{ Inspect() security.Inspect }, error) {
			return p.sec.InternalUsers.Delete(ctx, security.InternalUsersDeleteReq{User: n.alt})
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

var _ services.Rotator = (*Provisioner)(nil)

// Rotate implements services.Rotator: the app's other internal user gets a
// new password and the app's role, beside the current user.
func (p *Provisioner) Rotate(ctx context.Context, inst services.Instance, current services.Credentials) (services.Credentials, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	n, err := namesOf(inst)
	if err != nil {
		return nil, err
	}
	user := n.userOf(current)
	if user == "" {
		return nil, fmt.Errorf("rotate the credentials of %q: the current credentials are not the app's", n.user)
	}
	next := n.other(user)
	password, err := services.Password()
	if err != nil {
		return nil, fmt.Errorf("generate a password: %w", err)
	}
	if err := p.putUser(ctx, inst, next, password); err != nil {
		return nil, err
	}
	if err := p.mapUsers(ctx, n, []string{next, user}); err != nil {
		return nil, err
	}
	if err := p.checkUser(ctx, n, next, password); err != nil {
		return nil, err
	}
	return services.Credentials{KeyURL: []byte(p.url), KeyUser: []byte(next), KeyPassword: []byte(password), KeyPrefix: []byte(n.prefix)}, nil
}

// Retire implements services.Rotator: the role maps current's user alone,
// and the previous user is deleted.
func (p *Provisioner) Retire(ctx context.Context, inst services.Instance, current, previous services.Credentials) error {
	if err := p.ready(); err != nil {
		return err
	}
	n, err := namesOf(inst)
	if err != nil {
		return err
	}
	user := n.userOf(current)
	if user == "" {
		return fmt.Errorf("retire the previous credentials of %q: the current credentials are not the app's", n.user)
	}
	if err := p.mapUsers(ctx, n, []string{user}); err != nil {
		return err
	}
	if prev := n.userOf(previous); prev != "" && prev != user {
		return p.deleteUser(ctx, prev)
	}
	return nil
}
