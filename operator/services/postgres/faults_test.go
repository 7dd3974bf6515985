package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
)

// cutEveryStatement cuts an Ensure, then a Delete, right after each of their
// statements in turn, and shows that a new provisioner (an operator restart)
// converges from there: one role, one database, the Secret's password logs in,
// and after Delete nothing is left. cut ends the operation; restore undoes what
// cut did to the server.
func cutEveryStatement(t *testing.T, pg *testenv.Postgres, cut func(cancel context.CancelFunc, conn *pgx.Conn), restore func()) {
	for _, op := range []string{"Ensure", "Delete"} {
		for n := 1; ; n++ {
			inst := instance(fmt.Sprintf("cut-%s-%d", op, n))
			inst.Spec.Database.Extensions = []string{"citext"}
			if op == "Delete" {
				ensureOn(t, pg, provisionerFor(t, pg.AdminURL, appCA(pg)...), inst, nil)
			}
			ctx, cancel := context.WithCancel(context.Background())
			rec := &recorder{n: n, cut: func(conn *pgx.Conn) { cut(cancel, conn) }}
			p1, err := New(pg.AdminURL, appCA(pg)...)
			require.NoError(t, err)
			p1.tracer = rec
			if op == "Ensure" {
				_, err = p1.Ensure(ctx, inst, nil)
			} else {
				err = p1.Delete(ctx, inst)
			}
			p1.Close()
			cancel()
			done := rec.count < n
			if done {
				require.NoError(t, err, "%s ran %d statements uncut", op, rec.count)
			}
			if restore != nil {
				restore()
			}
			p2 := provisionerFor(t, pg.AdminURL, appCA(pg)...)
			if op == "Ensure" {
				creds := ensureOn(t, pg, p2, inst, nil)
				converged(t, pg, p2, inst, creds)
			}
			require.NoError(t, p2.Delete(context.Background(), inst), "%s cut after statement %d", op, n)
			gone(t, pg, inst)
			if done {
				t.Logf("%s: cut after each of its %d statements", op, rec.count)
				break
			}
		}
	}
}

func TestProvisioner_CutByCancel(t *testing.T) {
	testenv.EachPostgres(t, func(t *testing.T, pg *testenv.Postgres) {
		cutEveryStatement(t, pg, func(cancel context.CancelFunc, _ *pgx.Conn) { cancel() }, nil)
	})
}

func TestProvisioner_CutByTerminatedBackend(t *testing.T) {
	testenv.EachPostgres(t, func(t *testing.T, pg *testenv.Postgres) {
		cutEveryStatement(t, pg, func(_ context.CancelFunc, conn *pgx.Conn) {
			require.True(t, testenv.QueryRow[bool](t, pg.SuperURL, "SELECT pg_terminate_backend($1)", conn.PgConn().PID()))
		}, nil)
	})
}

func TestProvisioner_CutByServerStop(t *testing.T) {
	for _, v := range []int{15, 18} {
		t.Run(fmt.Sprintf("pg%d", v), func(t *testing.T) {
			pp := testenv.StartPrivatePostgres(t, testenv.WithVersion(v))
			stopped := false
			cutEveryStatement(t, &pp.Postgres, func(context.CancelFunc, *pgx.Conn) { require.NoError(t, pp.Stop()); stopped = true },
				func() {
					if stopped {
						require.NoError(t, pp.Start())
						stopped = false
					}
				})
		})
	}
}
