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

// The operations cutEveryStatement cuts: a first Ensure (no Secret yet), an
// Ensure after a person edited the Secret's password (the role's password is
// set again), and a Delete.
const (
	opEnsure = "Ensure"
	opEdited = "EnsureEditedSecret"
	opDelete = "Delete"
)

// cutEveryStatement cuts each operation right after each of its statements in
// turn, and shows that a new provisioner (an operator restart) converges from
// there: one role, one database, the Secret's password (the edited one, when a
// person changed it) logs in, and after Delete nothing is left. cut ends the
// operation; restore undoes what cut did to the server.
func cutEveryStatement(t *testing.T, pg *testenv.Postgres, cut func(cancel context.CancelFunc, conn *pgx.Conn), restore func()) {
	for _, op := range []string{opEnsure, opEdited, opDelete} {
		for n := 1; ; n++ {
			inst := instance(fmt.Sprintf("cut-%s-%d", op, n))
			inst.Spec.Database.Extensions = []string{"citext"}
			var current services.Credentials // the Secret when the operation starts
			if op != opEnsure {
				current = ensureOn(t, pg, provisionerFor(t, pg.AdminURL, appCA(pg)...), inst, nil)
			}
			if op == opEdited {
				current = withPassword(current, fmt.Sprintf("edited-by-a-person-%d", n))
			}
			ctx, cancel := context.WithCancel(context.Background())
			rec := &recorder{n: n, cut: func(conn *pgx.Conn) { cut(cancel, conn) }}
			p1, err := New(pg.AdminURL, appCA(pg)...)
			require.NoError(t, err)
			p1.tracer = rec
			if op == opDelete {
				err = p1.Delete(ctx, inst)
			} else {
				_, err = p1.Ensure(ctx, inst, current)
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
			if op != opDelete {
				creds := ensureOn(t, pg, p2, inst, current)
				converged(t, pg, p2, inst, creds)
				if op == opEdited {
					assert.Equal(t, string(current[KeyPassword]), string(creds[KeyPassword]), "the edited Secret stays the truth")
				}
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

// The server stopped right after each statement (a private server of each
// major, the TLS-only one included, as the matrix has them).
func TestProvisioner_CutByServerStop(t *testing.T) {
	for _, v := range testenv.PostgresVersions {
		t.Run(fmt.Sprintf("pg%d", v), func(t *testing.T) {
			opts := []testenv.PostgresOption{testenv.WithVersion(v)}
			if v == testenv.PostgresTLSVersion {
				opts = append(opts, testenv.WithTLS())
			}
			pp := testenv.StartPrivatePostgres(t, opts...)
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
