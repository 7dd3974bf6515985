package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connectErr is the error of a connection to dbURL (nil when it connects).
func connectErr(t *testing.T, dbURL string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// withUser is u with another user and password.
func withUser(t *testing.T, raw, user, password string) string {
	u, err := url.Parse(raw)
	require.NoError(t, err)
	u.User = url.UserPassword(user, password)
	return u.String()
}

// withQuery is u with its query replaced.
func withQuery(t *testing.T, raw, query string) string {
	u, err := url.Parse(raw)
	require.NoError(t, err)
	u.RawQuery = query
	return u.String()
}

// Every server of the matrix is the major it says, takes passwords only, and
// its admin has no more than Aurora's master.
func TestPostgres_Matrix(t *testing.T) {
	var names []string
	EachPostgres(t, func(t *testing.T, pg *Postgres) {
		names = append(names, pg.Name)
		assert.Equal(t, pg.Version, QueryRow[int](t, pg.AdminURL, "SELECT current_setting('server_version_num')::int / 10000"))
		assert.Equal(t, fmt.Sprintf("pg%d", pg.Version), pg.Name)
		assert.Equal(t, AdminRole, QueryRow[string](t, pg.AdminURL, "SELECT current_user::text"))

		for _, c := range []struct{ name, user, password, why string }{
			{"superuser, wrong password", "postgres", "wrong", "the superuser's password is checked"},
			{"admin, wrong password", AdminRole, "wrong", "the admin's password is checked"},
			{"admin, no password", AdminRole, "", "an empty password is not trust"},
			{"unknown role", "nobody", "x", "a role that does not exist is refused as a wrong password"},
		} {
			t.Run(c.name, func(t *testing.T) {
				err := connectErr(t, withUser(t, pg.AdminURL, c.user, c.password))
				require.Error(t, err, c.why)
				assert.Equal(t, "28P01", sqlState(err), "invalid_password: %v", err)
			})
		}

		type role struct{ Super, Replication, BypassRLS, CreateDB, CreateRole, Login bool }
		var got role
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, pg.AdminURL)
		require.NoError(t, err)
		defer conn.Close(ctx)
		require.NoError(t, conn.QueryRow(ctx, `SELECT rolsuper, rolreplication, rolbypassrls, rolcreatedb, rolcreaterole, rolcanlogin
			FROM pg_roles WHERE rolname = $1`, AdminRole).Scan(&got.Super, &got.Replication, &got.BypassRLS, &got.CreateDB, &got.CreateRole, &got.Login))
		assert.Equal(t, role{CreateDB: true, CreateRole: true, Login: true}, got, "LOGIN CREATEDB CREATEROLE and nothing more")

		// No rule of pg_hba.conf lets anyone in without a password.
		methods := QueryRow[[]string](t, pg.SuperURL, "SELECT array_agg(DISTINCT auth_method) FROM pg_hba_file_rules")
		assert.Equal(t, []string{"scram-sha-256"}, methods)
		assert.Equal(t, "scram-sha-256", QueryRow[string](t, pg.SuperURL, "SHOW password_encryption"))
		assert.Equal(t, pg.Version == PostgresTLSVersion, pg.TLS, "one server of the matrix takes TLS only")
	})
	assert.Equal(t, []string{"pg15", "pg16", "pg17", "pg18"}, names)
}

// The TLS server refuses plain connections and a client that does not trust its
// CA, and takes verify-full with it.
func TestPostgres_TLSOnly(t *testing.T) {
	var pg *Postgres
	for _, p := range PostgresMatrix(t) {
		if p.TLS {
			pg = p
		}
	}
	require.NotNil(t, pg, "a server of the matrix takes TLS")
	require.FileExists(t, pg.CAFile)
	admin, err := url.Parse(pg.AdminURL)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"sslmode": {"verify-full"}, "sslrootcert": {pg.CAFile}}, admin.Query(), "AdminURL verifies the server")

	err = connectErr(t, withQuery(t, pg.AdminURL, "sslmode=disable"))
	require.Error(t, err, "a plain connection is refused")
	assert.Equal(t, "28000", sqlState(err), "invalid_authorization_specification (no hostssl-less pg_hba entry): %v", err)
	assert.Contains(t, err.Error(), "no encryption")

	err = connectErr(t, withQuery(t, pg.AdminURL, "sslmode=verify-full"))
	require.Error(t, err, "without the CA the server's certificate is not trusted")
	assert.Contains(t, err.Error(), "certificate")

	u := withQuery(t, pg.AdminURL, "sslmode=verify-full&sslrootcert="+pg.CAFile)
	assert.True(t, QueryRow[bool](t, u, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
	assert.True(t, QueryRow[bool](t, pg.AdminURL, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "AdminURL itself uses TLS")
	admin.Host = "localhost:" + admin.Port()
	assert.Equal(t, 1, QueryRow[int](t, admin.String(), "SELECT 1"), "the certificate names localhost too")
}

// A private server of another major may be stopped and started again.
func TestStartPrivatePostgres_WithVersion(t *testing.T) {
	pp := StartPrivatePostgres(t, WithVersion(18))
	assert.Equal(t, 18, QueryRow[int](t, pp.AdminURL, "SELECT current_setting('server_version_num')::int / 10000"))
	assert.False(t, QueryRow[bool](t, pp.AdminURL, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
	require.NoError(t, pp.Stop())
	require.Error(t, connectErr(t, pp.AdminURL), "stopped")
	require.NoError(t, pp.Start())
	assert.Equal(t, 1, QueryRow[int](t, pp.AdminURL, "SELECT 1"))
}

// A paused server keeps an open connection waiting without an error (only the
// caller's deadline ends the wait), and answers it again once resumed.
func TestPrivatePostgres_Pause(t *testing.T) {
	pp := StartPrivatePostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pp.AdminURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, pp.Pause())
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var n int
	err = conn.QueryRow(short, "SELECT 1").Scan(&n)
	require.ErrorIs(t, err, context.DeadlineExceeded, "no answer, no error: only the deadline ends the wait")
	require.NoError(t, pp.Resume())
	assert.Equal(t, 1, QueryRow[int](t, pp.AdminURL, "SELECT 1"), "a new connection is served")
}

// PLATTR_TEST_PG_URL replaces the package's server, its one role serving as both.
func TestStartPostgres_URLOverride(t *testing.T) {
	pp := StartPrivatePostgres(t, WithVersion(16))
	t.Setenv("PLATTR_TEST_PG_URL", pp.AdminURL)
	pg := StartPostgres(t)
	assert.Equal(t, &Postgres{Version: 16, Name: "pg16", AdminURL: pp.AdminURL, SuperURL: pp.AdminURL}, pg)
	name, dbURL := pg.Database(t)
	assert.Equal(t, name, QueryRow[string](t, dbURL, "SELECT current_database()::text"))
}
