package postgres

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// leastPrivilegeAdmin creates an admin role with only CREATEDB and CREATEROLE, as
// Aurora's master user is, and returns its URL.
func leastPrivilegeAdmin(t *testing.T) string {
	t.Helper()
	pg := testenv.StartPostgres(t)
	name := testenv.TestNamePrefix + "admin_" + strings.ToLower(t.Name()[:min(len(t.Name()), 20)])
	name = unsafe.ReplaceAllString(strings.ToLower(name), "_")
	pg.Exec(t, "DROP ROLE IF EXISTS "+ident(name))
	pg.Exec(t, "CREATE ROLE "+ident(name)+" LOGIN CREATEDB CREATEROLE PASSWORD 'admin-pw-s3cret'")
	t.Cleanup(func() { pg.Exec(t, "DROP ROLE IF EXISTS "+ident(name)) })
	u, err := url.Parse(pg.AdminURL)
	require.NoError(t, err)
	u.User = url.UserPassword(name, "admin-pw-s3cret")
	return u.String()
}

func newProvisioner(t *testing.T) (*Provisioner, string) {
	t.Helper()
	adminURL := leastPrivilegeAdmin(t)
	p, err := New(adminURL)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p, adminURL
}

// runID keeps this package's databases apart from those of other test packages
// running at the same time against the same server.
var runID = func() string { p, _ := services.Password(); return strings.ToLower(p[:6]) }()

func instance(app string) services.Instance {
	return services.Instance{Env: "plattr", App: "test-" + app + "-" + runID, Namespace: "staging",
		Spec: &plattrv1.ApplicationSpec{Database: &plattrv1.DatabaseSpec{Enabled: true}}}
}

func ensure(t *testing.T, p *Provisioner, inst services.Instance, current services.Credentials) services.Credentials {
	t.Helper()
	creds, err := p.Ensure(context.Background(), inst, current)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Delete(context.Background(), inst) })
	return creds
}

func TestProvisioner_EnsureObserveDelete(t *testing.T) {
	p, adminURL := newProvisioner(t)
	ctx := context.Background()
	shop, blog := instance("shop"), instance("blog")
	shopCreds := ensure(t, p, shop, nil)
	blogCreds := ensure(t, p, blog, nil)

	shopDB := Name(shop.Env, shop.App)
	assert.Equal(t, "plattr_test_shop_"+runID, shopDB)
	assert.Equal(t, shopDB, string(shopCreds[KeyDatabase]))
	assert.Equal(t, shopDB, string(shopCreds[KeyUser]))
	assert.Len(t, string(shopCreds[KeyPassword]), 32)
	assert.NotEqual(t, shopCreds[KeyPassword], blogCreds[KeyPassword])

	// The app's own URL logs in and can create a table in its own database.
	conn, err := pgx.Connect(ctx, string(shopCreds[KeyURL]))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE orders (id int PRIMARY KEY)")
	require.NoError(t, err)
	conn.Close(ctx)
	// ...and the libpq variables say the same.
	assert.Equal(t, shopDB, testenv.QueryRow[string](t, string(shopCreds[KeyURL]), "SELECT current_user"))

	// It cannot connect to another app's database.
	other, _ := url.Parse(string(shopCreds[KeyURL]))
	other.Path = "/" + string(blogCreds[KeyDatabase])
	_, err = pgx.Connect(ctx, other.String())
	require.Error(t, err, "shop's role must not reach blog's database")
	assert.Contains(t, err.Error(), "permission denied for database")

	ok, err := p.Observe(ctx, shop, shopCreds)
	require.NoError(t, err)
	assert.True(t, ok, "provisioned and described by its Secret")
	ok, err = p.Observe(ctx, shop, nil)
	require.NoError(t, err)
	assert.False(t, ok, "without its Secret it is not up to date")

	// Ensuring again keeps the password: the Secret stays valid.
	again := ensure(t, p, shop, shopCreds)
	assert.Equal(t, string(shopCreds[KeyPassword]), string(again[KeyPassword]))
	// A lost Secret gets a new password, set on the existing role.
	fresh := ensure(t, p, shop, nil)
	assert.NotEqual(t, string(shopCreds[KeyPassword]), string(fresh[KeyPassword]))
	assert.Equal(t, 1, testenv.QueryRow[int](t, string(fresh[KeyURL]), "SELECT 1"), "the new password logs in")
	assert.Equal(t, "orders", testenv.QueryRow[string](t, string(fresh[KeyURL]), "SELECT tablename::text FROM pg_tables WHERE tablename = 'orders'"), "data kept")

	require.NoError(t, p.Delete(ctx, shop))
	assert.False(t, testenv.QueryRow[bool](t, adminURL, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", shopDB))
	assert.False(t, testenv.QueryRow[bool](t, adminURL, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", shopDB))
	require.NoError(t, p.Delete(ctx, shop), "already gone is success")
}

func TestProvisioner_DeleteTerminatesConnections(t *testing.T) {
	p, adminURL := newProvisioner(t)
	ctx := context.Background()
	inst := instance("busy")
	creds := ensure(t, p, inst, nil)
	conn, err := pgx.Connect(ctx, string(creds[KeyURL]))
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, p.Delete(ctx, inst))
	assert.False(t, testenv.QueryRow[bool](t, adminURL, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", Name(inst.Env, inst.App)))
}

// A session in the app's database the admin may not end (a superuser's; an
// autovacuum worker visiting the database is the everyday case, which WITH
// (FORCE) refuses too) makes Delete fail, naming the database, with the app's
// own sessions ended and nothing half-removed; once it is gone Delete finishes.
func TestProvisioner_DeleteBlockedBySessionItMayNotEnd(t *testing.T) {
	p, adminURL := newProvisioner(t)
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	inst := instance("blocked")
	name := Name(inst.Env, inst.App)
	creds := ensure(t, p, inst, nil)
	app, err := pgx.Connect(ctx, string(creds[KeyURL]))
	require.NoError(t, err)
	defer app.Close(ctx)
	u, err := url.Parse(pg.SuperURL)
	require.NoError(t, err)
	u.Path = "/" + name
	super, err := pgx.Connect(ctx, u.String())
	require.NoError(t, err)

	err = p.Delete(ctx, inst)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `drop database "`+name+`"`)
	assert.Contains(t, err.Error(), "being accessed by other users")
	assert.NotContains(t, err.Error(), "admin-pw-s3cret")
	assert.True(t, roleExists(t, pg, name), "the role stays while its database does")
	assert.True(t, testenv.QueryRow[bool](t, adminURL, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name))
	assert.Error(t, app.Ping(ctx), "the app's own session was ended")

	require.NoError(t, super.Close(ctx))
	require.NoError(t, p.Delete(ctx, inst))
	assert.False(t, testenv.QueryRow[bool](t, adminURL, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name))
	assert.False(t, roleExists(t, pg, name))
}

func TestProvisioner_Extensions(t *testing.T) {
	p, _ := newProvisioner(t)
	inst := instance("ext")
	inst.Spec.Database.Extensions = []string{"pgcrypto"}
	creds := ensure(t, p, inst, nil)
	assert.Equal(t, 1, testenv.QueryRow[int](t, string(creds[KeyURL]), "SELECT count(*)::int FROM pg_extension WHERE extname = 'pgcrypto'"))
	ok, err := p.Observe(context.Background(), inst, creds)
	require.NoError(t, err)
	assert.True(t, ok, "provisioned as the spec asks")

	// An extension added to a running app: Observe sees it missing, so the
	// controller calls Ensure, which creates it and keeps the password.
	inst.Spec.Database.Extensions = []string{"pgcrypto", "citext", "citext"}
	ok, err = p.Observe(context.Background(), inst, creds)
	require.NoError(t, err)
	assert.False(t, ok, "citext is missing")
	again := ensure(t, p, inst, creds)
	assert.Equal(t, string(creds[KeyPassword]), string(again[KeyPassword]))
	assert.Equal(t, 2, testenv.QueryRow[int](t, string(again[KeyURL]), "SELECT count(*)::int FROM pg_extension WHERE extname IN ('pgcrypto', 'citext')"))
	ok, err = p.Observe(context.Background(), inst, again)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestProvisioner_NotConfigured(t *testing.T) {
	p, err := New("")
	require.NoError(t, err)
	_, err = p.Ensure(context.Background(), instance("x"), nil)
	assert.ErrorIs(t, err, services.ErrNotConfigured)
	assert.Contains(t, err.Error(), "DB_ADMIN_URL")
	_, err = New("mysql://x")
	assert.ErrorContains(t, err, "DB_ADMIN_URL must be a URL")
}

func TestProvisioner_ServerDownLeaksNothing(t *testing.T) {
	p, err := New("postgres://admin:very-s3cret-pw@127.0.0.1:1/postgres?sslmode=disable")
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Ensure(context.Background(), instance("x"), nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "very-s3cret-pw")
	assert.Contains(t, err.Error(), "cannot connect to the PostgreSQL server")
	assert.False(t, errors.Is(err, services.ErrNotConfigured))
}

func TestName(t *testing.T) {
	cases := map[string]struct {
		reason, env, app, want string
	}{
		"plain":     {"readable when unambiguous", "staging", "hello", "staging_hello"},
		"dashes":    {"dashes become underscores", "prod", "my-shop", "prod_my_shop"},
		"preview":   {"previews", "preview", "hello-pr-7", "preview_hello_pr_7"},
		"env dash":  {"'a-b'+'c' and 'a'+'b-c' must differ", "a-b", "c", ""},
		"double":    {"double dashes are ambiguous", "a", "b--c", ""},
		"unicode":   {"non-ASCII", "prod", "caf\u00e9", ""},
		"hostile":   {"quotes, semicolons, comments", "prod", `x"; DROP DATABASE postgres; --`, ""},
		"very long": {"200 characters", "prod", strings.Repeat("a", 200), ""},
	}
	seen := map[string]string{}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Name(tc.env, tc.app)
			if tc.want != "" {
				assert.Equal(t, tc.want, got, tc.reason)
			}
			assert.LessOrEqual(t, len(got), 63, "PostgreSQL truncates identifiers at 63 bytes")
			assert.Regexp(t, `^[a-z][a-z0-9_]*$`, got, "only safe characters: %s", tc.reason)
			if prev, dup := seen[got]; dup {
				t.Fatalf("%q and %q share the name %q", prev, tc.env+"/"+tc.app, got)
			}
			seen[got] = tc.env + "/" + tc.app
		})
	}
	assert.NotEqual(t, Name("a-b", "c"), Name("a", "b-c"))
	assert.NotEqual(t, Name("prod", strings.Repeat("a", 200)), Name("prod", strings.Repeat("a", 201)), "truncation keeps names apart")
}

// Hostile names never reach SQL unquoted: the database and role are created with
// exactly the sanitised name, and nothing else happens.
func TestProvisioner_HostileNames(t *testing.T) {
	p, adminURL := newProvisioner(t)
	for _, app := range []string{`x"; DROP DATABASE postgres; --` + runID, "o'brien" + runID, "caf\u00e9" + runID, strings.Repeat("z", 200) + runID} {
		inst := services.Instance{Env: "plattr_test", App: app, Spec: &plattrv1.ApplicationSpec{Database: &plattrv1.DatabaseSpec{Enabled: true}}}
		creds := ensure(t, p, inst, nil)
		name := Name(inst.Env, app)
		assert.True(t, strings.HasPrefix(name, testenv.TestNamePrefix))
		assert.Equal(t, name, testenv.QueryRow[string](t, string(creds[KeyURL]), "SELECT current_database()::text"))
	}
	assert.True(t, testenv.QueryRow[bool](t, adminURL, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'postgres')"), "nothing was dropped")
}

// Apps reach the app host on the admin URL's port unless another is given.
func TestWithAppHost_KeepsTheAdminPortUnlessGiven(t *testing.T) {
	for _, tc := range []struct{ port, want string }{{"", "6432"}, {"5433", "5433"}} {
		p, err := New("postgres://admin:pw@admin.internal:6432/postgres", WithAppHost("app.internal", tc.port))
		require.NoError(t, err)
		creds := p.credentials("plattr_test_x", "plattr_test_x", "pw")
		assert.Equal(t, "app.internal", string(creds[KeyHost]))
		assert.Equal(t, tc.want, string(creds[KeyPort]), "port %q", tc.port)
	}
}
