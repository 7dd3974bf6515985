package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator/services"
)

// converged asserts what a user of the app sees after Ensure: one role, one
// database it owns, the Secret's password logs in, and Observe agrees.
func converged(t *testing.T, pg *testenv.Postgres, p *Provisioner, inst services.Instance, creds services.Credentials) {
	t.Helper()
	name := Name(inst.Env, inst.App)
	assert.Equal(t, 1, testenv.QueryRow[int](t, pg.SuperURL, "SELECT count(*)::int FROM pg_roles WHERE rolname LIKE $1", name+"%"), "one role")
	assert.Equal(t, 1, testenv.QueryRow[int](t, pg.SuperURL, "SELECT count(*)::int FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname LIKE $1 AND r.rolname = $2", name+"%", name), "one database, owned by the role")
	assert.True(t, logsIn(t, creds), "the Secret's password logs in")
	ok, err := p.Observe(context.Background(), inst, creds)
	require.NoError(t, err)
	assert.True(t, ok, "Observe agrees")
}

// gone asserts that nothing of inst is left on the server.
func gone(t *testing.T, pg *testenv.Postgres, inst services.Instance) {
	t.Helper()
	name := Name(inst.Env, inst.App)
	assert.Equal(t, 0, testenv.QueryRow[int](t, pg.SuperURL, "SELECT count(*)::int FROM pg_roles WHERE rolname LIKE $1", name+"%"), "no role left")
	assert.Equal(t, 0, testenv.QueryRow[int](t, pg.SuperURL, "SELECT count(*)::int FROM pg_database WHERE datname LIKE $1", name+"%"), "no database left")
}

// PostgreSQL 16 and later give a CREATEROLE admin only ADMIN on the roles it
// creates (no SET, no INHERIT), so an Ensure cut right after CREATE ROLE left a
// role the admin was "a member of" but could not make a database's owner.
func TestProvisioner_EnsureCutAfterCreateRole(t *testing.T) {
	testenv.EachPostgres(t, func(t *testing.T, pg *testenv.Postgres) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		inst := instance("cutrole")
		cut := &recorder{n: 2, cut: func(*pgx.Conn) { cancel() }} // 1: observe, 2: CREATE ROLE
		p1 := provisionerFor(t, pg.AdminURL, appCA(pg)...)
		p1.tracer = cut
		_, err := p1.Ensure(ctx, inst, nil)
		require.Error(t, err)
		require.Regexp(t, `^CREATE ROLE`, cut.statements()[1])
		require.True(t, roleExists(t, pg, Name(inst.Env, inst.App)), "cut after the role was made")

		p2 := provisionerFor(t, pg.AdminURL, appCA(pg)...)
		creds := ensureOn(t, pg, p2, inst, nil)
		converged(t, pg, p2, inst, creds)
		require.NoError(t, p2.Delete(context.Background(), inst))
		gone(t, pg, inst)
	})
}

// A role of the app's name that another admin made: on 16 and later the admin
// may not manage it until a DBA grants it ADMIN OPTION, and the error says the
// exact statement (not Invalid: a person fixes it without touching the
// Application, and the next retry converges). On 15 CREATEROLE manages every
// role that is not a superuser, so Ensure takes it over.
func TestProvisioner_RoleMadeByAnotherAdmin(t *testing.T) {
	testenv.EachPostgres(t, func(t *testing.T, pg *testenv.Postgres) {
		ctx := context.Background()
		inst := instance("foreign")
		name := Name(inst.Env, inst.App)
		pg.Exec(t, "CREATE ROLE "+ident(name)+" LOGIN")
		t.Cleanup(func() { pg.Exec(t, "DROP ROLE IF EXISTS "+ident(name)) })
		p := provisionerFor(t, pg.AdminURL, appCA(pg)...)
		statement := fmt.Sprintf("GRANT %s TO %s WITH ADMIN OPTION", ident(name), ident(testenv.AdminRole))
		if pg.Version >= 16 {
			_, err := p.Ensure(ctx, inst, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), statement)
			assert.NotErrorIs(t, err, services.ErrInvalid)
			err = p.Delete(ctx, inst)
			require.Error(t, err, "Delete does not drop a role it may not manage")
			assert.Contains(t, err.Error(), statement)
			assert.True(t, roleExists(t, pg, name))
			pg.Exec(t, statement) // the DBA
		}
		creds := ensureOn(t, pg, p, inst, nil)
		converged(t, pg, p, inst, creds)
		require.NoError(t, p.Delete(ctx, inst))
		gone(t, pg, inst)
	})
}

// A superuser of the app's name is never taken over, on any major.
func TestProvisioner_SuperuserOfTheAppsName(t *testing.T) {
	testenv.EachPostgres(t, func(t *testing.T, pg *testenv.Postgres) {
		inst := instance("super")
		name := Name(inst.Env, inst.App)
		pg.Exec(t, "CREATE ROLE "+ident(name)+" SUPERUSER")
		t.Cleanup(func() { pg.Exec(t, "DROP ROLE IF EXISTS "+ident(name)) })
		p := provisionerFor(t, pg.AdminURL, appCA(pg)...)
		_, err := p.Ensure(context.Background(), inst, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "superuser")
		require.Error(t, p.Delete(context.Background(), inst))
		assert.True(t, roleExists(t, pg, name))
	})
}
