package postgres

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
)

// Against the server that takes TLS only: the admin connects with verify-full or
// require, and the app's URL connects the same way (the admin's sslmode, the CA
// WithAppCA names), never with the operator's own CA file; without TLS the
// server refuses.
func TestProvisioner_TLS(t *testing.T) {
	testenv.EachPostgres(t, func(t *testing.T, pg *testenv.Postgres) {
		if !pg.TLS {
			t.Skip("this server takes plain connections")
		}
		ctx := context.Background()
		verifyFull, err := url.Parse(pg.AdminURL)
		require.NoError(t, err)
		require.Equal(t, "verify-full", verifyFull.Query().Get("sslmode"))
		requireURL := *verifyFull
		requireURL.RawQuery = "sslmode=require"
		cases := []struct{ name, adminURL, reason string }{
			{"verify-full", verifyFull.String(), "the server's certificate checked against the CA"},
			{"require", requireURL.String(), "encrypted, certificate not checked (as RDS's default)"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := provisionerFor(t, tc.adminURL, WithAppCA(pg.CAFile))
				inst := instance("tls-" + tc.name)
				creds := ensureOn(t, pg, p, inst, nil)
				app, err := url.Parse(string(creds[KeyURL]))
				require.NoError(t, err)
				assert.Equal(t, tc.name, app.Query().Get("sslmode"), tc.reason)
				assert.True(t, logsIn(t, creds), "the app's URL connects: %s", tc.reason)
				ok, err := p.Observe(ctx, inst, creds)
				require.NoError(t, err)
				assert.True(t, ok)

				plain := *app
				plain.RawQuery = "sslmode=disable"
				_, err = pgx.Connect(ctx, plain.String())
				assert.Error(t, err, "the server refuses a connection without TLS")
			})
		}
		// Without WithAppCA the operator's CA file (a path in its own container)
		// stays out of the app's URL.
		p := provisionerFor(t, pg.AdminURL)
		creds := p.credentials("plattr_test_x", "plattr_test_x", "pw")
		assert.Contains(t, string(creds[KeyURL]), "sslmode=verify-full")
		assert.False(t, strings.Contains(string(creds[KeyURL]), "sslrootcert"), string(creds[KeyURL]))
	})
}
