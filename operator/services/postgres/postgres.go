// Package postgres provisions PostgreSQL for Applications: one database and one
// login role per app and environment, on a shared server (Aurora) reached through
// DB_ADMIN_URL. The admin role needs only LOGIN, CREATEDB and CREATEROLE; on
// PostgreSQL 16 and later it manages only roles it created itself (or was given
// ADMIN OPTION on), and the error for any other names the GRANT a DBA must run.
//
// Tenants run SQL in databases they own, so every admin session pins
// search_path to pg_catalog, pg_temp and standard_conforming_strings to on at
// connection start (a startup parameter overrides ALTER DATABASE ... SET), and
// every query schema-qualifies what it calls. Identifiers are always quoted
// (pgx.Identifier). Passwords come from crypto/rand, or from the Secret, which is
// the truth: Observe logs in as the app with it, and Ensure sets it again when it
// no longer does. A password never reaches the server: CREATE/ALTER ROLE take a
// SCRAM-SHA-256 verifier computed here, and the login check speaks SCRAM. No SQL
// text, password or admin URL ever goes into an error.
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
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
	services.Identity
	adminURL string
	host     string
	port     string
	sslmode  string
	appCA    string

	// tracer sees every statement of every admin session: tests cut an
	// operation after a given statement with it.
	tracer pgx.QueryTracer

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

// WithAppCA sets the sslrootcert of the apps' DATABASE_URL: a path in the app's
// pod (the admin URL's sslrootcert is a file of the operator's, which apps cannot
// read, so it is never carried), or "system" for a public CA with libpq 16+ and
// pgx. Without it an app verifying the server uses its client's default root
// certificate (~/.postgresql/root.crt for libpq).
func WithAppCA(pathInPod string) Option { return func(p *Provisioner) { p.appCA = pathInPod } }

// New returns a provisioner for the server at adminURL. An empty adminURL gives a
// provisioner whose every call reports services.ErrNotConfigured. The admin
// URL's sslmode is the apps' too, so they connect the way the operator does.
func New(adminURL string, opts ...Option) (*Provisioner, error) {
	p := &Provisioner{Identity: services.Identity{Service: plattrv1.ServiceDatabase}, adminURL: adminURL}
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

var errNotPostgresURL = errors.New("DB_ADMIN_URL is not a valid PostgreSQL URL")

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
			return nil, errNotPostgresURL
		}
		cfg.MaxConns = 4
		p.harden(cfg.ConnConfig)
		cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error { return checkSession(conn.PgConn()) }
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("connect to PostgreSQL: %w", clean(err))
		}
		p.pool = pool
	}
	return p.pool, nil
}

// adminSettings are every admin session's, sent at connection start so that
// they hold before its first statement and override what a database's owner set
// with ALTER DATABASE ... SET (or a role default, or the URL's options): names
// resolve in pg_catalog only (pg_temp last, and never searched for functions or
// operators), and a backslash never escapes a quote.
var adminSettings = map[string]string{
	"search_path":                 "pg_catalog, pg_temp",
	"standard_conforming_strings": "on",
}

func (p *Provisioner) harden(cfg *pgx.ConnConfig) {
	cfg.ConnectTimeout = connectTimeout
	cfg.Tracer = p.tracer
	for k, v := range adminSettings {
		cfg.RuntimeParams[k] = v
	}
}

// checkSession refuses a session on which a quoted literal could become SQL (a
// pooler or proxy that drops startup parameters): the server reports the
// setting at connection start, so this costs no round trip.
func checkSession(conn *pgconn.PgConn) error {
	if conn.ParameterStatus("standard_conforming_strings") != "on" {
		return errors.New("the session has standard_conforming_strings off: refusing to send SQL literals on it")
	}
	return nil
}

// connect opens a connection to database as the admin, or as user with password.
func (p *Provisioner) connect(ctx context.Context, database, user, password string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(p.adminURL)
	if err != nil {
		return nil, errNotPostgresURL
	}
	p.harden(cfg)
	cfg.Database = database
	if user != "" {
		cfg.User, cfg.Password = user, password
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := checkSession(conn.PgConn()); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

func (p *Provisioner) connectAdmin(ctx context.Context, name string) (*pgx.Conn, error) {
	conn, err := p.connect(ctx, name, "", "")
	if err != nil {
		return nil, fmt.Errorf("connect to database %q: %w", name, clean(err))
	}
	return conn, nil
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

// literal quotes a string as an SQL literal: only SCRAM verifiers (base64 and
// "$:"), on sessions checkSession passed.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

type state struct {
	admin string // current_user
	// roleExists: a role of the app's name exists; super: it is a superuser;
	// manageable: the admin may alter, grant and drop it (16+: ADMIN OPTION;
	// before: CREATEROLE manages every role but superusers); member: the admin
	// has the role's privileges and may SET ROLE to it, as owning, creating and
	// dropping its database need.
	roleExists, super, manageable, member bool
	dbExists, ownerOK, publicRevoked      bool
	// altExists: the app's second login role (AltName) exists, made by a
	// rotation.
	altExists bool
}

// observeSQL reads everything Ensure and Delete decide on in one round trip.
// pg_has_role's 'SET' exists from 16 on; before, MEMBER is the right to SET ROLE.
const observeSQL = `SELECT current_user::pg_catalog.text,
	r.oid IS NOT NULL,
	COALESCE(r.rolsuper, false),
	COALESCE(CASE WHEN v.num OPERATOR(pg_catalog.>=) 160000
		THEN pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER WITH ADMIN OPTION')
		ELSE NOT r.rolsuper END, false),
	COALESCE(pg_catalog.pg_has_role(current_user, r.oid, 'USAGE') AND pg_catalog.pg_has_role(current_user, r.oid,
		CASE WHEN v.num OPERATOR(pg_catalog.>=) 160000 THEN 'SET' ELSE 'MEMBER' END), false),
	d.oid IS NOT NULL,
	COALESCE(d.datdba OPERATOR(pg_catalog.=) r.oid, false),
	COALESCE(d.datacl IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM pg_catalog.aclexplode(d.datacl) a
		WHERE a.grantee OPERATOR(pg_catalog.=) 0 AND a.privilege_type OPERATOR(pg_catalog.=) 'CONNECT'), false),
	EXISTS (SELECT 1 FROM pg_catalog.pg_roles b WHERE b.rolname OPERATOR(pg_catalog.=) $2)
FROM (SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4 AS num) v
LEFT JOIN pg_catalog.pg_roles r ON r.rolname OPERATOR(pg_catalog.=) $1
LEFT JOIN pg_catalog.pg_database d ON d.datname OPERATOR(pg_catalog.=) $1`

func (p *Provisioner) observe(ctx context.Context, pool *pgxpool.Pool, name string) (state, error) {
	var s state
	err := pool.QueryRow(ctx, observeSQL, name, AltName(name)).Scan(&s.admin, &s.roleExists, &s.super, &s.manageable, &s.member,
		&s.dbExists, &s.ownerOK, &s.publicRevoked, &s.altExists)
	if err != nil {
		return s, fmt.Errorf("look up database %q: %w", name, clean(err))
	}
	return s, nil
}

// mayManage refuses a role of the app's name the admin may not manage: a
// superuser is never taken over; on 16 and later a role another admin created
// needs a DBA's grant. Not services.ErrInvalid: the Application is fine, a
// person fixes the server, and the next retry converges.
func (s state) mayManage(name string) error {
	switch {
	case !s.roleExists:
		return nil
	case s.super:
		return fmt.Errorf("role %q exists and is a superuser: the operator never manages it; a DBA must rename or drop it", name)
	case !s.manageable:
		return fmt.Errorf("role %q exists but was not created by the admin %s, which may not manage it; if it is this app's, a DBA must run: GRANT %s TO %s WITH ADMIN OPTION",
			name, ident(s.admin), ident(name), ident(s.admin))
	}
	return nil
}

// Observe implements services.Provisioner: the role and database exist, the role
// owns the database, PUBLIC may not connect, the Secret names them and its
// password logs in, and the extensions the spec asks for are installed. It only
// reads.
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
	if !(s.roleExists && s.dbExists && s.ownerOK && s.publicRevoked) || current == nil || len(current[KeyPassword]) == 0 {
		return false, nil
	}
	user := loginOf(name, current)
	if user == "" {
		return false, nil
	}
	want := p.credentials(name, user, string(current[KeyPassword]))
	for k, v := range want {
		if string(current[k]) != string(v) {
			return false, nil
		}
	}
	for _, l := range logins(name, inst, current) {
		if l.user != name {
			if ok, err := p.actsAsOwner(ctx, pool, name, l.user); !ok || err != nil {
				return false, err
			}
		}
		if ok, err := p.logsIn(ctx, name, l.user, l.password); !ok || err != nil {
			return false, err
		}
	}
	return p.hasExtensions(ctx, name, inst.Spec)
}

// Credential rotation (services.Rotator) alternates between two login roles:
// the owner itself, "<name>" (so an app from before rotations needs no move),
// and "<name>_b" (AltName), a member of the owner whose sessions act as the
// owner (ALTER ROLE … SET role): every object stays the owner's. The login
// that is neither current nor, during a rotation, previous has no password.

// AltName is the second login role of the app whose owner role is name.
func AltName(name string) string {
	if len(name)+2 <= 63 {
		return name + "_b"
	}
	sum := sha256.Sum256([]byte(name))
	return name[:52] + "_" + hex.EncodeToString(sum[:])[:8] + "_b"
}

// loginOf is the login role creds name: name or AltName(name); "" for
// another.
func loginOf(name string, creds services.Credentials) string {
	switch u := string(creds[KeyUser]); u {
	case name, AltName(name):
		return u
	}
	return ""
}

// otherLogin is the login role of name that is not user.
func otherLogin(name, user string) string {
	if user == name {
		return AltName(name)
	}
	return name
}

type login struct{ user, password string }

// logins are the login roles that must log in: current's, and during a
// rotation inst.Previous's when it is the other.
func logins(name string, inst services.Instance, current services.Credentials) []login {
	out := []login{{loginOf(name, current), string(current[KeyPassword])}}
	if prev := loginOf(name, inst.Previous); prev != "" && prev != out[0].user && len(inst.Previous[KeyPassword]) > 0 {
		out = append(out, login{prev, string(inst.Previous[KeyPassword])})
	}
	return out
}

// actsAsOwner says whether the login role alt is a member of the owner role
// name whose sessions act as it (its role setting).
func (p *Provisioner) actsAsOwner(ctx context.Context, pool *pgxpool.Pool, name, alt string) (bool, error) {
	var ok bool
	err := pool.QueryRow(ctx, `SELECT COALESCE(pg_catalog.pg_has_role(r.oid, o.oid, 'MEMBER')
		AND (r.rolconfig IS NOT NULL AND ('role=' OPERATOR(pg_catalog.||) o.rolname) OPERATOR(pg_catalog.=) ANY(r.rolconfig)), false)
		FROM pg_catalog.pg_roles r, pg_catalog.pg_roles o
		WHERE r.rolname OPERATOR(pg_catalog.=) $1 AND o.rolname OPERATOR(pg_catalog.=) $2`, alt, name).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up role %q: %w", alt, clean(err))
	}
	return ok, nil
}

// logsIn says whether the role logs in with password: the Secret is the truth,
// and the role's verifier (pg_authid) is for superusers only, so a real login
// over the server's own authentication is the check.
func (p *Provisioner) logsIn(ctx context.Context, database, user, password string) (bool, error) {
	conn, err := p.connect(ctx, database, user, password)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "28") { // invalid_password, may not log in
			return false, nil
		}
		return false, fmt.Errorf("log in as role %q: %w", user, clean(err))
	}
	conn.Close(ctx)
	return true, nil
}

// hasExtensions says whether every extension spec asks for is installed in the
// database (an extension added to a running app's plattr.yaml must be created).
// It connects to the app's database only when the spec names extensions.
func (p *Provisioner) hasExtensions(ctx context.Context, name string, spec *plattrv1.ApplicationSpec) (bool, error) {
	exts := requestedExtensions(spec)
	if len(exts) == 0 {
		return true, nil
	}
	conn, err := p.connectAdmin(ctx, name)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT pg_catalog.count(DISTINCT e.extname) FROM pg_catalog.pg_extension e
		WHERE e.extname OPERATOR(pg_catalog.=) ANY($1::pg_catalog.name[])`, exts).Scan(&n); err != nil {
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

// Ensure implements services.Provisioner. The Secret's password is the truth: it
// is set on the role every time (Ensure runs only when Observe found something
// wrong), so a password changed behind the operator's back, or an edited
// Secret, converges. Every step is checked, not assumed, so an Ensure cut at any
// point is finished by the next.
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
	if err := s.mayManage(name); err != nil {
		return nil, err
	}
	user := loginOf(name, current)
	if user == "" {
		user = name
	}
	password, err := services.KeptPassword(current, KeyUser, KeyPassword, user)
	if err != nil {
		return nil, err
	}
	current = services.Credentials{KeyUser: []byte(user), KeyPassword: []byte(password)}
	ls := logins(name, inst, current)
	passwordSet := false
	if !s.roleExists {
		// A new app's one login is its owner role: made with its password.
		create := "CREATE ROLE " + ident(name) + " LOGIN"
		if len(ls) == 1 && user == name {
			verifier, err := scramVerifier(password)
			if err != nil {
				return nil, fmt.Errorf("hash the password of role %q: %w", user, err)
			}
			create += " PASSWORD " + literal(verifier)
		}
		_, err = pool.Exec(ctx, create)
		switch {
		case err == nil:
			passwordSet = len(ls) == 1 && user == name
		case !isCode(err, "42710"): // made meanwhile: fine, set below
			return nil, fmt.Errorf("create role %q: %w", name, sqlState(err))
		}
	}
	if !s.member {
		if err := grantToAdmin(ctx, pool, name); err != nil {
			return nil, err
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
	// The logins: current's password (and, during a rotation, previous's)
	// set every time; the other login, when it exists, has none.
	for _, l := range ls {
		if passwordSet {
			break // set as the role was made
		}
		if err := p.setLogin(ctx, pool, name, l.user, l.password); err != nil {
			return nil, err
		}
	}
	if len(ls) == 1 && (s.altExists || user != name) {
		if err := p.noPassword(ctx, pool, otherLogin(name, user)); err != nil {
			return nil, err
		}
	}
	if err := p.extensions(ctx, name, inst.Spec); err != nil {
		return nil, err
	}
	return p.credentials(name, user, password), nil
}

// setLogin gives login role user of the app (the owner name, or AltName(name)
// made a member of it acting as it) the password; the password travels as a
// SCRAM verifier only.
func (p *Provisioner) setLogin(ctx context.Context, pool *pgxpool.Pool, name, user, password string) error {
	verifier, err := scramVerifier(password)
	if err != nil {
		return fmt.Errorf("hash the password of role %q: %w", user, err)
	}
	if user != name {
		if _, err := pool.Exec(ctx, "CREATE ROLE "+ident(user)+" LOGIN"); err != nil && !isCode(err, "42710") {
			return fmt.Errorf("create role %q: %w", user, sqlState(err))
		}
		if _, err := pool.Exec(ctx, "GRANT "+ident(name)+" TO "+ident(user)); err != nil {
			return fmt.Errorf("make role %q a member of %q: %w", user, name, clean(err))
		}
		if _, err := pool.Exec(ctx, "ALTER ROLE "+ident(user)+" SET role TO "+ident(name)); err != nil {
			return fmt.Errorf("make role %q act as %q: %w", user, name, clean(err))
		}
	}
	if _, err := pool.Exec(ctx, "ALTER ROLE "+ident(user)+" WITH LOGIN PASSWORD "+literal(verifier)); err != nil {
		return fmt.Errorf("set the password of role %q: %w", user, sqlState(err))
	}
	return nil
}

// noPassword takes the password of login role user, when it exists: it no
// longer logs in with one.
func (p *Provisioner) noPassword(ctx context.Context, pool *pgxpool.Pool, user string) error {
	_, err := pool.Exec(ctx, "ALTER ROLE "+ident(user)+" WITH PASSWORD NULL")
	if err != nil && !isCode(err, "42704") { // undefined_object: no such role, nothing to take
		return fmt.Errorf("take the password of role %q: %w", user, clean(err))
	}
	return nil
}

var _ services.Rotator = (*Provisioner)(nil)

// Rotate implements services.Rotator: the app's other login role gets a new
// password, beside the current one.
func (p *Provisioner) Rotate(ctx context.Context, inst services.Instance, current services.Credentials) (services.Credentials, error) {
	pool, err := p.db(ctx)
	if err != nil {
		return nil, err
	}
	name := Name(inst.Env, inst.App)
	user := loginOf(name, current)
	if user == "" {
		return nil, fmt.Errorf("rotate the credentials of %q: the current credentials are not the app's", name)
	}
	next := otherLogin(name, user)
	password, err := services.Password()
	if err != nil {
		return nil, fmt.Errorf("generate a password: %w", err)
	}
	if err := p.setLogin(ctx, pool, name, next, password); err != nil {
		return nil, err
	}
	return p.credentials(name, next, password), nil
}

// Retire implements services.Rotator: once no session of the previous login
// role remains (services.ErrInUse until then), its password goes.
func (p *Provisioner) Retire(ctx context.Context, inst services.Instance, current, previous services.Credentials) error {
	pool, err := p.db(ctx)
	if err != nil {
		return err
	}
	name := Name(inst.Env, inst.App)
	prev := loginOf(name, previous)
	if prev == "" || prev == loginOf(name, current) {
		return nil
	}
	var sessions int
	if err := pool.QueryRow(ctx, `SELECT pg_catalog.count(*)::pg_catalog.int4 FROM pg_catalog.pg_stat_activity
		WHERE usename OPERATOR(pg_catalog.=) $1`, prev).Scan(&sessions); err != nil {
		return fmt.Errorf("count the sessions of role %q: %w", prev, clean(err))
	}
	if sessions > 0 {
		return fmt.Errorf("role %q has %d session(s): %w", prev, sessions, services.ErrInUse)
	}
	return p.noPassword(ctx, pool, prev)
}

// grantToAdmin gives the admin the role's privileges and SET ROLE on it, which
// owning, creating and dropping its database need. On 16 and later CREATE ROLE
// gives a CREATEROLE admin ADMIN OPTION only (createrole_self_grant is empty by
// default), and this grant, made with it, adds the rest; before 16 CREATEROLE
// alone may grant it. The same statement on every major, checked by observe.
func grantToAdmin(ctx context.Context, pool *pgxpool.Pool, name string) error {
	if _, err := pool.Exec(ctx, "GRANT "+ident(name)+" TO CURRENT_USER"); err != nil {
		return fmt.Errorf("grant role %q to the admin: %w", name, clean(err))
	}
	return nil
}

// extensions creates the extensions spec asks for. CREATE EXTENSION runs with
// search_path = public, pg_temp, for this statement only: public is the schema
// extensions are created in (as before), pg_catalog is still searched first, and
// the extension's script sets its own path (its schema, pg_temp) anyway.
func (p *Provisioner) extensions(ctx context.Context, name string, spec *plattrv1.ApplicationSpec) error {
	exts := requestedExtensions(spec)
	if len(exts) == 0 {
		return nil
	}
	conn, err := p.connectAdmin(ctx, name)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, ext := range exts {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL search_path = public, pg_temp"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS "+ident(ext))
			return err
		})
		if err != nil {
			return fmt.Errorf("create extension %q in database %q: %w", ext, name, clean(err))
		}
	}
	return nil
}

// credentials is the Secret's data. The admin URL's sslmode is carried, so the
// app connects as the operator does; its sslrootcert is not (a file of the
// operator's), WithAppCA's is.
func (p *Provisioner) credentials(name, user, password string) services.Credentials {
	q := url.Values{}
	if p.sslmode != "" {
		q.Set("sslmode", p.sslmode)
	}
	if p.appCA != "" {
		q.Set("sslrootcert", p.appCA)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: net.JoinHostPort(p.host, p.port), Path: "/" + name, RawQuery: q.Encode()}
	return services.Credentials{
		KeyURL: []byte(u.String()), KeyHost: []byte(p.host), KeyPort: []byte(p.port),
		KeyDatabase: []byte(name), KeyUser: []byte(user), KeyPassword: []byte(password),
	}
}

// Delete implements services.Provisioner: the database (its connections
// terminated: WITH (FORCE)) and the role are dropped. A role the admin may not
// manage is left alone.
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
	if err := s.mayManage(name); err != nil {
		return err
	}
	if s.roleExists && s.dbExists && !s.member {
		// Only the owner (or a member of it) may drop the database.
		if err := grantToAdmin(ctx, pool, name); err != nil {
			return err
		}
	}
	if err := dropDatabase(ctx, pool, name); err != nil {
		return err
	}
	for _, role := range []string{AltName(name), name} {
		if _, err := pool.Exec(ctx, "DROP ROLE IF EXISTS "+ident(role)); err != nil {
			return fmt.Errorf("drop role %q: %w", role, clean(err))
		}
	}
	return nil
}

// dropDatabase drops the app's database, its sessions terminated. WITH (FORCE)
// refuses outright when one session in it is not the admin's to terminate, and
// an autovacuum worker visiting the database is one such (it has no role), so on
// that refusal the admin terminates the sessions it may (the app's) and drops
// without FORCE, which stops autovacuum workers itself and waits a few seconds
// for the rest; a session of another role still there is named in the error.
func dropDatabase(ctx context.Context, pool *pgxpool.Pool, name string) error {
	_, err := pool.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
	if isCode(err, "42501") {
		_, err = pool.Exec(ctx, `SELECT pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_activity a
			WHERE a.datname OPERATOR(pg_catalog.=) $1 AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
			AND a.usesysid IS NOT NULL AND pg_catalog.pg_has_role(current_user, a.usesysid, 'USAGE')`, name)
		if err == nil {
			_, err = pool.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name))
		}
	}
	if err != nil {
		return fmt.Errorf("drop database %q: %w", name, clean(err))
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
	// A pooled connection the server closed (it stopped, restarted, failed
	// over): the server is as unreachable as when a dial fails.
	var ne net.Error
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.As(err, &ne) {
		return fmt.Errorf("cannot connect to the PostgreSQL server: the connection was lost (%w)", err)
	}
	return err
}
