package postgres

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator/services"
)

// A rotation with no failed login, on every PostgreSQL of the matrix: the
// other login role gets a new password while the current one still logs in;
// objects made through either belong to the owner; once no session of the
// old login remains it no longer logs in; the next rotation comes back to the
// owner's own login. An app from before rotations (the owner as its login)
// rotates without a move.
func TestProvisioner_RotateWithNoFailedLogin(t *testing.T) {
	testenv.EachPostgres(t, func(t *testing.T, pg *testenv.Postgres) {
		ctx := context.Background()
		p := provisionerFor(t, pg.AdminURL, appCA(pg)...)
		inst := instance("rotate")
		name := Name(inst.Env, inst.App)
		old := ensureOn(t, pg, p, inst, nil)
		require.Equal(t, name, string(old[KeyUser]), "the owner logs in, as before rotations")

		var pod atomic.Pointer[services.Credentials] // the credentials the pods have
		pod.Store(&old)
		stop := testenv.KeepLoggingIn(t, func() error {
			conn, err := pgx.Connect(ctx, string((*pod.Load())[KeyURL]))
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS made_by_pods (id int)")
			return err
		})

		next, err := p.Rotate(ctx, inst, old)
		require.NoError(t, err)
		assert.Equal(t, AltName(name), string(next[KeyUser]))
		assert.Equal(t, name, string(next[KeyDatabase]))
		during := inst
		during.Previous = old
		seen, err := p.Observe(ctx, during, next)
		require.NoError(t, err)
		assert.True(t, seen, "mid-rotation, both logins are what is wanted")
		again, err := p.Ensure(ctx, during, next)
		require.NoError(t, err)
		assert.Equal(t, next, again)
		assert.True(t, logsIn(t, old), "Ensure mid-rotation keeps the old login")

		time.Sleep(100 * time.Millisecond)
		pod.Store(&next)
		time.Sleep(100 * time.Millisecond)
		// A session of the old login still open: retiring waits for it.
		held, err := pgx.Connect(ctx, string(old[KeyURL]))
		require.NoError(t, err)
		err = p.Retire(ctx, inst, next, old)
		require.ErrorIs(t, err, services.ErrInUse)
		held.Close(ctx)
		testenv.Eventually(t, 10*time.Second, "the old login retired", func() (bool, error) {
			err := p.Retire(ctx, inst, next, old)
			return err == nil, err
		})
		time.Sleep(50 * time.Millisecond)
		ok, failed := stop()
		assert.Zero(t, failed, "no failed login during the rotation")
		assert.Greater(t, ok, int64(5))

		assert.False(t, logsIn(t, old), "the old login no longer logs in")
		assert.True(t, logsIn(t, next))
		assert.Equal(t, name, testenv.QueryRow[string](t, string(next[KeyURL]),
			"SELECT pg_catalog.pg_get_userbyid(relowner) FROM pg_catalog.pg_class WHERE relname = 'made_by_pods'"),
			"objects belong to the owner, whichever login made them")
		assert.Equal(t, name, testenv.QueryRow[string](t, string(next[KeyURL]), "SELECT current_user::text"), "the second login acts as the owner")
		seen, err = p.Observe(ctx, inst, next)
		require.NoError(t, err)
		assert.True(t, seen, "after it, exactly what Ensure makes")

		third, err := p.Rotate(ctx, inst, next)
		require.NoError(t, err)
		assert.Equal(t, name, string(third[KeyUser]), "back to the owner's login")
		// The sessions the checks above closed may take a moment to leave pg_stat_activity.
		testenv.Eventually(t, 10*time.Second, "the second login retired", func() (bool, error) {
			err := p.Retire(ctx, inst, third, next)
			return err == nil, err
		})
		assert.False(t, logsIn(t, next))
		assert.True(t, logsIn(t, third))
		require.NoError(t, p.Delete(ctx, inst))
		gone(t, pg, inst)
	})
}
