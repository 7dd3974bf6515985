// Package postgres provisions PostgreSQL for Applications: one database and one
// login role per app and environment, on a shared server (Aurora) reached through
// DB_ADMIN_URL. The admin role needs only CREATEDB and CREATEROLE.
//
// Identifiers are always quoted (pgx.Identifier); passwords come from crypto/rand
// and are sent as quoted literals because CREATE ROLE takes no parameters. No SQL
// text, password or admin URL ever goes into an error.
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// Secret keys.
const (
	KeyURL      = "DATABASE_URL"
	KeyHost     = "PGHOST"
	KeyPort     = "PGPORT"
	KeyDatabase = "PGDATABASE"
	KeyUser     = "PGUSER"
	KeyPassword = "PGPASSWORD"
)

// Provisioner is the PostgreSQL backing service.
type Provisioner struct {
	adminURL string
	host     string
	port     string
	sslmode  string

	mu   sync.Mutex
	pool *pgxpool.Pool
}

var _ services.Provisioner = (*Provisioner)(nil)

// Option configures the provisioner.
type Option func(*Provisioner)

// WithAppHost sets the host and port apps connect to, when it differs from the
// admin URL's (for example a reader/writer endpoint or a pooler). An empty port
// keeps the admin URL's.
func WithAppHost(host, port string) Option {
	return func(p *Provisioner) {
		p.host = host
		if port != "" {
			p.port = port
		}
	}
}

// New returns a provisioner for the server at adminURL. An empty adminURL gives a
// provisioner whose every call reports services.ErrNotConfigured.
func New(adminURL string, opts ...Option) (*Provisioner, error) {
	p := &Provisioner{adminURL: adminURL}
	if adminURL != "" {
		u, err := url.Parse(adminURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return nil, errors.New("DB_ADMIN_URL must be a URL such as postgres://admin:PASSWORD@host:5432/postgres")
		}
		p.host, p.port = u.Hostname(), u.Port()
		if p.port == "" {
			p.port = "5432"
		}
		p.sslmode = u.Query().Get("sslmode")
	}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Name implements services.Provisioner.
func (p *Provisioner) Name() string { return "postgres" }

// Condition implements services.Provisioner.
func (p *Provisioner) Condition() string { return plattrv1.ConditionDatabaseReady }

// Enabled implements services.Provisioner.
func (p *Provisioner) Enabled(spec *plattrv1.ApplicationSpec) bool {
	return spec.Database != nil && spec.Database.Enabled
}

// Close releases the connection pool.
func (p *Provisioner) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pool != nil {
		p.pool.Close()
		p.pool = nil
	}
}

// connectTimeout bounds every connection attempt: a server that accepts TCP and
// stalls must not hold a reconcile worker.
const connectTimeout = 5 * time.Second

func (p *Provisioner) db(ctx context.Context) (*pgxpool.Pool, error) {
	if p.adminURL == "" {
		return nil, services.NotConfigured("PostgreSQL", "DB_ADMIN_URL")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pool == nil {
		cfg, err := pgxpool.ParseConfig(p.adminURL)
		if err != nil {
			return nil, errors.New("DB_ADMIN_URL is not a valid PostgreSQL URL")
		}
		cfg.MaxConns = 4
		cfg.ConnConfig.ConnectTimeout = connectTimeout
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("connect to PostgreSQL: %w", clean(err))
		}
		p.pool = pool
	}
	return p.pool, nil
}

var (
	simpleEnv = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	simpleApp = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	unsafe    = regexp.MustCompile(`[^a-z0-9_]`)
)

// Name is the database and role name of app in env: "<env>_<app>" with '-' as '_'
// when that is unambiguous and fits in 63 bytes; otherwise a safe, truncated
// prefix and a hash of both names, so that no two apps share a name.
func Name(env, app string) string {
	base := strings.ToLower(env) + "_" + strings.ReplaceAll(strings.ToLower(app), "-", "_")
	if simpleEnv.MatchString(env) && simpleApp.MatchString(app) && len(base) <= 63 {
		return base
	}
	sum := sha256.Sum256([]byte(env + "\x00" + app))
	safe := unsafe.ReplaceAllString(base, "_")
	if len(safe) > 54 {
		safe = safe[:54]
	}
	if safe == "" || (safe[0] >= '0' && safe[0] <= '9') {
		safe = "a" + safe
	}
	return safe + "_" + hex.EncodeToString(sum[:])[:8]
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// literal quotes a string as an SQL literal (standard_conforming_strings).
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

type state struct {
	roleExists, member, dbExists, ownerOK, publicRevoked bool
}

func (p *Provisioner) observe(ctx context.Context, pool *pgxpool.Pool, name string) (state, error) {
	var s state
	err := pool.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
		COALESCE((SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = $1), false),
		EXISTS (SELECT 1 FROM pg_database WHERE datname = $1),
		COALESCE((SELECT pg_get_userbyid(datdba) = $1 FROM pg_database WHERE datname = $1), false),
		COALESCE((SELECT datacl IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM aclexplode(datacl) a WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT')
			FROM pg_database WHERE datname = $1), false)`, name).Scan(&s.roleExists, &s.member, &s.dbExists, &s.ownerOK, &s.publicRevoked)
	if err != nil {
		return s, fmt.Errorf("look up database %q: %w", name, clean(err))
	}
	return s, nil
}

// Observe implements services.Provisioner: the role and database exist, the role
// owns the database, PUBLIC may not connect, the extensions the spec asks for are
// installed, and the Secret names them.
func (p *Provisioner) Observe(ctx context.Context, inst services.Instance, current services.Credentials) (bool, error) {
	pool, err := p.db(ctx)
	if err != nil {
		return false, err
	}
	name := Name(inst.Env, inst.App)
	s, err := p.observe(ctx, pool, name)
	if err != nil {
		return false, err
	}
	if !(s.roleExists && s.dbExists && s.ownerOK && s.publicRevoked) || current == nil {
		return false, nil
	}
	want := p.credentials(name, string(current[KeyPassword]))
	for k, v := range want {
		if string(current[k]) != string(v) {
			return false, nil
		}
	}
	if len(current[KeyPassword]) == 0 {
		return false, nil
	}
	return p.hasExtensions(ctx, name, inst.Spec)
}

// hasExtensions says whether every extension spec asks for is installed in the
// database (an extension added to a running app's plattr.yaml must be created).
// It connects to the app's database only when the spec names extensions.
func (p *Provisioner) hasExtensions(ctx context.Context, name string, spec *plattrv1.ApplicationSpec) (bool, error) {
	exts := requestedExtensions(spec)
	if len(exts) == 0 {
		return true, nil
	}
	conn, err := p.connect(ctx, name)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(DISTINCT extname) FROM pg_extension WHERE extname = ANY($1)", exts).Scan(&n); err != nil {
		return false, fmt.Errorf("list the extensions of database %q: %w", name, clean(err))
	}
	return n == len(exts), nil
}

func requestedExtensions(spec *plattrv1.ApplicationSpec) []string {
	if spec == nil || spec.Database == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range spec.Database.Extensions {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

// connect opens a connection to the app's database as the admin.
func (p *Provisioner) connect(ctx context.Context, name string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(p.adminURL)
	if err != nil {
		return nil, errors.New("DB_ADMIN_URL is not a valid PostgreSQL URL")
	}
	cfg.Database = name
	cfg.ConnectTimeout = connectTimeout
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database %q: %w", name, clean(err))
	}
	return conn, nil
}

// Ensure implements services.Provisioner.
func (p *Provisioner) Ensure(ctx context.Context, inst services.Instance, current services.Credentials) (services.Credentials, error) {
	pool, err := p.db(ctx)
	if err != nil {
		return nil, err
	}
	name := Name(inst.Env, inst.App)
	s, err := p.observe(ctx, pool, name)
	if err != nil {
		return nil, err
	}
	password := ""
	if current != nil && string(current[KeyUser]) == name {
		password = string(current[KeyPassword])
	}
	newPassword := password == ""
	if newPassword {
		if password, err = services.Password(); err != nil {
			return nil, fmt.Errorf("generate a password: %w", err)
		}
	}
	switch {
	case !s.roleExists:
		if _, err := pool.Exec(ctx, "CREATE ROLE "+ident(name)+" LOGIN PASSWORD "+literal(password)); err != nil && !isCode(err, "42710") {
			return nil, fmt.Errorf("create role %q: %w", name, sqlState(err))
		}
	case newPassword:
		if _, err := pool.Exec(ctx, "ALTER ROLE "+ident(name)+" WITH LOGIN PASSWORD "+literal(password)); err != nil {
			return nil, fmt.Errorf("set the password of role %q: %w", name, sqlState(err))
		}
	}
	if !s.member && (!s.dbExists || !s.ownerOK) {
		// The admin must be a member of the role to make it a database's owner
		// (Aurora's master is not a superuser). Checked, not assumed: a GRANT that
		// failed earlier (concurrent GRANTs can) is made good here.
		if _, err := pool.Exec(ctx, "GRANT "+ident(name)+" TO CURRENT_USER"); err != nil {
			return nil, fmt.Errorf("grant role %q to the admin: %w", name, clean(err))
		}
	}
	if !s.dbExists {
		// CREATE DATABASE cannot run in a transaction, and has no IF NOT EXISTS.
		if _, err := pool.Exec(ctx, "CREATE DATABASE "+ident(name)+" OWNER "+ident(name)); err != nil && !isCode(err, "42P04") {
			return nil, fmt.Errorf("create database %q: %w", name, clean(err))
		}
	} else if !s.ownerOK {
		if _, err := pool.Exec(ctx, "ALTER DATABASE "+ident(name)+" OWNER TO "+ident(name)); err != nil {
			return nil, fmt.Errorf("make role %q own database %q: %w", name, name, clean(err))
		}
	}
	if !s.publicRevoked || !s.dbExists {
		// One app may not reach another's data: only the owner connects.
		if _, err := pool.Exec(ctx, "REVOKE ALL ON DATABASE "+ident(name)+" FROM PUBLIC"); err != nil {
			return nil, fmt.Errorf("revoke PUBLIC access to database %q: %w", name, clean(err))
		}
	}
	if err := p.extensions(ctx, name, inst.Spec); err != nil {
		return nil, err
	}
	return p.credentials(name, password), nil
}

func (p *Provisioner) extensions(ctx context.Context, name string, spec *plattrv1.ApplicationSpec) error {
	exts := requestedExtensions(spec)
	if len(exts) == 0 {
		return nil
	}
	conn, err := p.connect(ctx, name)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, ext := range exts {
		if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS "+ident(ext)); err != nil {
			return fmt.Errorf("create extension %q in database %q: %w", ext, name, clean(err))
		}
	}
	return nil
}

func (p *Provisioner) credentials(name, password string) services.Credentials {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(name, password), Host: net.JoinHostPort(p.host, p.port), Path: "/" + name}
	if p.sslmode != "" {
		u.RawQuery = "sslmode=" + url.QueryEscape(p.sslmode)
	}
	return services.Credentials{
		KeyURL: []byte(u.String()), KeyHost: []byte(p.host), KeyPort: []byte(p.port),
		KeyDatabase: []byte(name), KeyUser: []byte(name), KeyPassword: []byte(password),
	}
}

// Delete implements services.Provisioner: connections are terminated, then the
// database and the role are dropped.
func (p *Provisioner) Delete(ctx context.Context, inst services.Instance) error {
	pool, err := p.db(ctx)
	if err != nil {
		return err
	}
	name := Name(inst.Env, inst.App)
	s, err := p.observe(ctx, pool, name)
	if err != nil {
		return err
	}
	if s.roleExists && !s.member {
		// Only the owner (or a member of it) may drop the database.
		if _, err := pool.Exec(ctx, "GRANT "+ident(name)+" TO CURRENT_USER"); err != nil {
			return fmt.Errorf("grant role %q to the admin: %w", name, clean(err))
		}
	}
	if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
		return fmt.Errorf("terminate connections to database %q: %w", name, clean(err))
	}
	if _, err := pool.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %q: %w", name, clean(err))
	}
	if _, err := pool.Exec(ctx, "DROP ROLE IF EXISTS "+ident(name)); err != nil {
		return fmt.Errorf("drop role %q: %w", name, clean(err))
	}
	return nil
}

func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// sqlState reduces an error of a statement that carried a password to its SQLSTATE
// code and message class: the server may quote the statement back.
func sqlState(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("SQLSTATE %s", pe.Code)
	}
	return clean(err)
}

// clean keeps PostgreSQL's own message but never a connection string.
func clean(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		if inner := errors.Unwrap(ce); inner != nil {
			return fmt.Errorf("cannot connect to the PostgreSQL server: %w", inner)
		}
		return errors.New("cannot connect to the PostgreSQL server")
	}
	return err
}
