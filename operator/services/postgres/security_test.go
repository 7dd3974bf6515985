package postgres

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator/services"
)

// tenantExec runs SQL as the app's role, logged in with its Secret's password.
func tenantExec(t *testing.T, creds services.Credentials, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, string(creds[KeyURL]))
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	require.NoError(t, err)
}

// A tenant owns its database, so it may set the database's search_path and put
// functions and operators in public, or a schema named after the admin (the
// default path's "$user"). None of that may run when the admin's sessions check
// or create extensions: what it plants would run with CREATEROLE.
func TestProvisioner_TenantCannotRunSQLAsTheAdmin(t *testing.T) {
	testenv.EachPostgres(t, func(t *testing.T, pg *testenv.Postgres) {
		ctx := context.Background()
		p := provisionerFor(t, pg.AdminURL, appCA(pg)...)
		inst := instance("tenant")
		inst.Spec.Database.Extensions = []string{"citext"}
		creds := ensureOn(t, pg, p, inst, nil)
		attacker := testenv.TestNamePrefix + "attacker_" + runID
		t.Cleanup(func() { pg.Exec(t, "DROP ROLE IF EXISTS "+ident(attacker)) })

		// Every trap records that it ran, as whoever ran it, and tries to make a
		// role only a CREATEROLE admin may make.
		trap := func(schema string) string {
			var b strings.Builder
			for _, right := range []string{"name", "text"} {
				fn := schema + ".trap_" + right
				b.WriteString(`CREATE FUNCTION ` + fn + `(a name, b ` + right + `) RETURNS boolean LANGUAGE plpgsql AS $f$
				BEGIN
					INSERT INTO public.ran VALUES (current_user);
					BEGIN EXECUTE 'CREATE ROLE ` + attacker + `'; EXCEPTION WHEN others THEN NULL; END;
					RETURN a::text OPERATOR(pg_catalog.=) b::text;
				END $f$;
				CREATE OPERATOR ` + schema + `.= (LEFTARG = name, RIGHTARG = ` + right + `, FUNCTION = ` + fn + `);
				`)
			}
			return b.String()
		}
		adminRole := testenv.QueryRow[string](t, pg.AdminURL, "SELECT current_user::text")
		tenantExec(t, creds, `CREATE TABLE public.ran (who text);
			GRANT INSERT ON public.ran TO PUBLIC;
			CREATE SCHEMA `+ident(adminRole)+`;
			GRANT USAGE ON SCHEMA `+ident(adminRole)+` TO PUBLIC;
			`+trap("public")+`
			`+trap(ident(adminRole))+`
			ALTER DATABASE `+ident(Name(inst.Env, inst.App))+` SET search_path = public, pg_catalog`)
		// The trap is armed: the tenant's own session falls into it.
		tenantExec(t, creds, "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citext'::name")
		appDB := inDatabase(t, pg.SuperURL, Name(inst.Env, inst.App))
		require.Positive(t, testenv.QueryRow[int](t, appDB, "WITH d AS (DELETE FROM public.ran RETURNING 1) SELECT count(*)::int FROM d"), "the trap must work for the tenant itself")

		ok, err := p.Observe(ctx, inst, creds)
		require.NoError(t, err)
		assert.True(t, ok)
		inst.Spec.Database.Extensions = []string{"citext", "pgcrypto"}
		ok, err = p.Observe(ctx, inst, creds)
		require.NoError(t, err)
		assert.False(t, ok, "pgcrypto is missing")
		_, err = p.Ensure(ctx, inst, creds)
		require.NoError(t, err)
		ok, err = p.Observe(ctx, inst, creds)
		require.NoError(t, err)
		assert.True(t, ok)

		assert.False(t, roleExists(t, pg, attacker), "the tenant's code ran as the admin")
		assert.Equal(t, 0, testenv.QueryRow[int](t, appDB, "SELECT count(*)::int FROM public.ran"), "something the tenant planted ran")
	})
}

// A Secret's password is never SQL, even on a session where a backslash escapes
// a quote (standard_conforming_strings off, set for the admin role or in the
// admin URL's options).
func TestProvisioner_PasswordNeverBecomesSQL(t *testing.T) {
	testenv.EachPostgres(t, func(t *testing.T, pg *testenv.Postgres) {
		attacker := testenv.TestNamePrefix + "attacker_" + runID
		t.Cleanup(func() { pg.Exec(t, "DROP ROLE IF EXISTS "+ident(attacker)) })
		hostile := `\'; CREATE ROLE ` + attacker + `; --`
		for _, tc := range []struct{ name, reason string }{
			{"role default", "ALTER ROLE admin SET standard_conforming_strings = off"},
			{"url options", "options=-c standard_conforming_strings=off in DB_ADMIN_URL"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				adminURL := pg.AdminURL
				if tc.name == "role default" {
					pg.Exec(t, "ALTER ROLE "+testenv.AdminRole+" SET standard_conforming_strings = off")
					t.Cleanup(func() { pg.Exec(t, "ALTER ROLE "+testenv.AdminRole+" RESET standard_conforming_strings") })
				} else {
					adminURL += "&options=-c%20standard_conforming_strings%3Doff"
				}
				require.Equal(t, "off", testenv.QueryRow[string](t, adminURL, "SHOW standard_conforming_strings"), "armed: a plain session has it off")
				p := provisionerFor(t, adminURL, appCA(pg)...)
				inst := instance("hostile")
				name := Name(inst.Env, inst.App)
				secret := p.credentials(name, name, hostile)
				creds := ensureOn(t, pg, p, inst, secret)
				assert.False(t, roleExists(t, pg, attacker), "%s: the password became SQL", tc.reason)
				assert.Equal(t, hostile, string(creds[KeyPassword]), "the Secret's password is kept")
				assert.True(t, logsIn(t, creds), "the app logs in with it")
			})
		}
	})
}

// The server never sees a password: not in a statement, so not in its log
// with log_statement = all.
func TestProvisioner_PasswordsNeverReachTheServerLog(t *testing.T) {
	pp := testenv.StartPrivatePostgres(t)
	pg := &pp.Postgres
	pg.Exec(t, "ALTER SYSTEM SET log_statement = 'all'")
	pg.Exec(t, "SELECT pg_reload_conf()")
	p := provisionerFor(t, pg.AdminURL)
	inst := instance("logged")
	creds := ensureOn(t, pg, p, inst, nil)
	edited := withPassword(creds, "an-edited-pa55word")
	_, err := p.Ensure(context.Background(), inst, edited)
	require.NoError(t, err)
	ok, err := p.Observe(context.Background(), inst, edited)
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, p.Delete(context.Background(), inst))

	log, err := os.ReadFile(pp.LogFile())
	require.NoError(t, err)
	assert.Contains(t, string(log), "CREATE ROLE", "statements are logged")
	assert.NotContains(t, string(log), string(creds[KeyPassword]), "a generated password reached the server")
	assert.NotContains(t, string(log), "an-edited-pa55word", "an edited password reached the server")
}

// The Secret is the truth: a password changed behind the operator's back (or by
// the tenant itself: a role may ALTER its own password) no longer logs in, so
// Observe says so and Ensure sets the Secret's again; an edited Secret's
// password is made the role's.
func TestProvisioner_ObserveLogsIn(t *testing.T) {
	testenv.EachPostgres(t, func(t *testing.T, pg *testenv.Postgres) {
		ctx := context.Background()
		rec := &recorder{}
		p := provisionerFor(t, pg.AdminURL, appCA(pg)...)
		p.tracer = rec
		inst := instance("truth")
		creds := ensureOn(t, pg, p, inst, nil)
		name := Name(inst.Env, inst.App)

		pg.Exec(t, "ALTER ROLE "+ident(name)+" PASSWORD 'changed-behind-its-back'")
		ok, err := p.Observe(ctx, inst, creds)
		require.NoError(t, err)
		assert.False(t, ok, "the Secret's password no longer logs in")
		again, err := p.Ensure(ctx, inst, creds)
		require.NoError(t, err)
		assert.Equal(t, string(creds[KeyPassword]), string(again[KeyPassword]))
		assert.True(t, logsIn(t, again), "the Secret's password logs in again")

		edited := withPassword(creds, "edited-by-a-person-1")
		ok, err = p.Observe(ctx, inst, edited)
		require.NoError(t, err)
		assert.False(t, ok, "the edited password does not log in yet")
		made, err := p.Ensure(ctx, inst, edited)
		require.NoError(t, err)
		assert.Equal(t, "edited-by-a-person-1", string(made[KeyPassword]))
		assert.True(t, logsIn(t, made), "the role takes the edited password")
		assert.False(t, logsIn(t, creds), "the old one is gone")

		// Steady state writes nothing: Observe only reads (its login is a read).
		before := len(rec.statements())
		ok, err = p.Observe(ctx, inst, made)
		require.NoError(t, err)
		assert.True(t, ok)
		for _, sql := range rec.statements()[before:] {
			assert.Regexp(t, `^\s*SELECT\b`, sql, "Observe wrote")
		}
	})
}

// A Secret's password the server would normalise differently (SASLprep) is
// refused, and the error never carries it.
func TestScramVerifier(t *testing.T) {
	cases := map[string]struct {
		password, reason string
		ok               bool
	}{
		"generated": {"Ab3xYz09Ab3xYz09Ab3xYz09Ab3xYz09", "services.Password's alphabet", true},
		"ascii":     {`\'; CREATE ROLE x; --`, "every printable ASCII character is kept as it is", true},
		"control":   {"tab\there", "SASLprep refuses it, so the server uses the raw bytes too", true},
		"non-ascii": {"caf\u00e9-s3cret", "SASLprep could change it", false},
		"empty":     {"", "no password", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v, err := scramVerifier(tc.password)
			if !tc.ok {
				require.Error(t, err, tc.reason)
				if tc.password != "" {
					assert.NotContains(t, err.Error(), tc.password)
				}
				return
			}
			require.NoError(t, err, tc.reason)
			assert.Regexp(t, `^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$`, v)
			assert.NotContains(t, v, tc.password)
		})
	}
}
