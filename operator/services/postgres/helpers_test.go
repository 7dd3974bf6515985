package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator/services"
)

// provisionerFor returns a provisioner for the server's least-privileged admin.
func provisionerFor(t *testing.T, adminURL string, opts ...Option) *Provisioner {
	t.Helper()
	p, err := New(adminURL, opts...)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// ensureOn provisions inst and removes it when the test ends, with a provisioner
// of its own (the one under test may be cut or closed by then).
func ensureOn(t *testing.T, pg *testenv.Postgres, p *Provisioner, inst services.Instance, current services.Credentials) services.Credentials {
	t.Helper()
	creds, err := p.Ensure(context.Background(), inst, current)
	require.NoError(t, err)
	t.Cleanup(func() { deleteWithNew(t, pg.AdminURL, inst) })
	return creds
}

func deleteWithNew(t *testing.T, adminURL string, inst services.Instance) {
	p, err := New(adminURL)
	require.NoError(t, err)
	defer p.Close()
	assert.NoError(t, p.Delete(context.Background(), inst))
}

// withPassword is the Secret's data with another password, URL included, as a
// person editing the Secret consistently would leave it.
func withPassword(creds services.Credentials, password string) services.Credentials {
	out := services.Credentials{}
	for k, v := range creds {
		out[k] = v
	}
	u, _ := url.Parse(string(creds[KeyURL]))
	u.User = url.UserPassword(u.User.Username(), password)
	out[KeyURL], out[KeyPassword] = []byte(u.String()), []byte(password)
	return out
}

// logsIn says whether the Secret's URL logs in.
func logsIn(t *testing.T, creds services.Credentials) bool {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), string(creds[KeyURL]))
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	return true
}

func roleExists(t *testing.T, pg *testenv.Postgres, name string) bool {
	t.Helper()
	return testenv.QueryRow[bool](t, pg.SuperURL, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name)
}

// recorder keeps every statement the provisioner's sessions ran, and can cut an
// operation right after its n-th successful statement (n = 0: never).
type recorder struct {
	mu    sync.Mutex
	n     int
	cut   func(conn *pgx.Conn)
	count int
	sql   []string
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sql = append(r.sql, d.SQL)
	return ctx
}

func (r *recorder) TraceQueryEnd(_ context.Context, conn *pgx.Conn, d pgx.TraceQueryEndData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d.Err != nil {
		return
	}
	r.count++
	if r.count == r.n && r.cut != nil {
		r.cut(conn)
	}
}

func (r *recorder) statements() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sql...)
}

// inDatabase is rawURL with another database.
func inDatabase(t *testing.T, rawURL, database string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	u.Path = "/" + database
	return u.String()
}

// appCA is the option that hands a TLS server's CA to the app's URL.
func appCA(pg *testenv.Postgres) []Option {
	if pg.TLS {
		return []Option{WithAppCA(pg.CAFile)}
	}
	return nil
}

// A pooled connection the server closed reads as the server being
// unreachable, as a failed dial does.
func TestClean_LostConnection(t *testing.T) {
	for _, err := range []error{io.ErrUnexpectedEOF, fmt.Errorf("look up: %w", io.EOF), syscall.ECONNRESET} {
		assert.Contains(t, clean(err).Error(), "cannot connect to the PostgreSQL server: the connection was lost", err)
	}
	assert.Equal(t, "boom", clean(errors.New("boom")).Error())
}
