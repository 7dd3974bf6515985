package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresVersions are the majors of the matrix PostgresMatrix starts: 15 is
// Debian's, the others come from `make pg-assets`.
var PostgresVersions = []int{15, 16, 17, 18}

// PostgresTLSVersion is the major of the matrix whose server takes TLS
// connections only (hostssl), with a CA of its own.
const PostgresTLSVersion = 17

// AdminRole is the least-privileged admin every test server has, as Aurora's
// master user is: LOGIN CREATEDB CREATEROLE, not SUPERUSER, REPLICATION or BYPASSRLS.
const AdminRole = "plattr_admin"

// Postgres is a PostgreSQL server the tests may create databases and roles on.
// Every server started here takes passwords only (scram-sha-256, no trust).
type Postgres struct {
	// Version is the server's major (15…18).
	Version int
	// Name is "pg<Version>": the name of its subtest in EachPostgres.
	Name string
	// AdminURL connects as AdminRole (least privilege), its password in the URL,
	// with the sslmode the server needs (verify-full against CAFile on a TLS server).
	AdminURL string
	// SuperURL connects as the superuser postgres: for a test's setup and its
	// assertions only, never for the code under test.
	SuperURL string
	// TLS tells that the server refuses connections without TLS.
	TLS bool
	// CAFile is the PEM file of the CA that signed a TLS server's certificate
	// (for sslrootcert=); empty without TLS.
	CAFile string
}

// TestNamePrefix starts every database, role and ACL user a test creates, so that
// leftovers can be found (and none are expected).
const TestNamePrefix = "plattr_test_"

// StartPostgres returns the package's PostgreSQL 15: a private server started once
// per test binary (removed when its tests end), or the server at
// $PLATTR_TEST_PG_URL, whose role is then both AdminURL and SuperURL.
// For tests that do not need every major (see PostgresMatrix).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	skipShort(t, "PostgreSQL")
	var pg *Postgres
	var err error
	if u := os.Getenv("PLATTR_TEST_PG_URL"); u != "" {
		overrideOnce.Do(func() { override, overrideErr = externalPostgres(u) })
		pg, err = override, overrideErr
	} else {
		pg, err = sharedPostgres(PostgresVersions[0])
	}
	if err != nil {
		t.Fatalf("PostgreSQL for tests: %v", err)
	}
	return pg
}

// PostgresMatrix returns a server of each of PostgresVersions, started once per
// test binary (those not yet started, in parallel) and removed when its tests
// end; the one of PostgresTLSVersion takes TLS only. PLATTR_TEST_PG_URL does not
// change it. A major that cannot be had fails the test.
func PostgresMatrix(t testing.TB) []*Postgres {
	t.Helper()
	skipShort(t, "PostgreSQL "+fmt.Sprint(PostgresVersions))
	pgs := make([]*Postgres, len(PostgresVersions))
	errs := make([]error, len(PostgresVersions))
	var wg sync.WaitGroup
	for i, v := range PostgresVersions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pgs[i], errs[i] = sharedPostgres(v)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("PostgreSQL matrix for tests: %v", err)
	}
	return pgs
}

// EachPostgres runs f as a subtest per server of PostgresMatrix, named pg15…pg18.
func EachPostgres(t *testing.T, f func(t *testing.T, pg *Postgres)) {
	t.Helper()
	for _, pg := range PostgresMatrix(t) {
		t.Run(pg.Name, func(t *testing.T) { f(t, pg) })
	}
}

var (
	overrideOnce sync.Once
	override     *Postgres
	overrideErr  error

	sharedMu sync.Mutex
	shared   = map[int]*lazyPostgres{}
)

type lazyPostgres struct {
	once sync.Once
	pg   *Postgres
	err  error
}

// sharedPostgres starts the test binary's server of one major, once.
func sharedPostgres(major int) (*Postgres, error) {
	sharedMu.Lock()
	l := shared[major]
	if l == nil {
		l = &lazyPostgres{}
		shared[major] = l
	}
	sharedMu.Unlock()
	l.once.Do(func() {
		pp, err := newPrivatePG(pgConfig{version: major, tls: major == PostgresTLSVersion})
		if err != nil {
			l.err = err
			return
		}
		onStop(func() {
			if err := pp.remove(); err != nil {
				stopFailed(err)
			}
		})
		l.pg = &pp.Postgres
	})
	return l.pg, l.err
}

func externalPostgres(u string) (*Postgres, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("PLATTR_TEST_PG_URL does not answer: %v", err)
	}
	defer conn.Close(ctx)
	var num int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num); err != nil {
		return nil, fmt.Errorf("ask PLATTR_TEST_PG_URL its version: %v", err)
	}
	q := url.Values{}
	if parsed, err := url.Parse(u); err == nil {
		q = parsed.Query()
	}
	mode := q.Get("sslmode")
	return &Postgres{Version: num / 10000, Name: fmt.Sprintf("pg%d", num/10000), AdminURL: u, SuperURL: u,
		TLS: mode == "require" || mode == "verify-ca" || mode == "verify-full", CAFile: q.Get("sslrootcert")}, nil
}

// PostgresOption chooses what StartPrivatePostgres starts.
type PostgresOption func(*pgConfig)

type pgConfig struct {
	version int
	tls     bool
}

// WithVersion starts a server of that major (one of PostgresVersions) instead of 15.
func WithVersion(major int) PostgresOption { return func(c *pgConfig) { c.version = major } }

// WithTLS starts a server that takes TLS connections only, as PostgresTLSVersion's.
func WithTLS() PostgresOption { return func(c *pgConfig) { c.tls = true } }

// PrivatePostgres is a PostgreSQL server of one test's own, which the test may
// stop and start again (to see how code copes with a database outage).
type PrivatePostgres struct {
	Postgres
	bin, dir, data string
}

// StartPrivatePostgres starts a PostgreSQL server for the calling test only
// (PostgreSQL 15 unless WithVersion says otherwise), with the same password
// authentication and AdminRole as the shared ones; it is removed when the test ends.
func StartPrivatePostgres(t testing.TB, opts ...PostgresOption) *PrivatePostgres {
	t.Helper()
	skipShort(t, "PostgreSQL")
	cfg := pgConfig{version: PostgresVersions[0]}
	for _, o := range opts {
		o(&cfg)
	}
	pp, err := newPrivatePG(cfg)
	if err != nil {
		t.Fatalf("start a private PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := pp.remove(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return pp
}

// pgAssetsDir is where `make pg-assets` puts PostgreSQL 16 and later:
// $PLATTR_PG_ASSETS, else bin/postgres in the project.
func pgAssetsDir() string {
	if d := os.Getenv("PLATTR_PG_ASSETS"); d != "" {
		return d
	}
	root, err := RepoRoot()
	if err != nil {
		return filepath.Join("bin", "postgres")
	}
	return filepath.Join(root, "bin", "postgres")
}

// pgBinDir finds the programs of one major: bin/postgres/<major>/bin once `make
// pg-assets` completed it, else (15) Debian's /usr/lib/postgresql/15/bin.
func pgBinDir(major int) (string, error) {
	assets := filepath.Join(pgAssetsDir(), fmt.Sprint(major))
	if _, err := os.Stat(filepath.Join(assets, ".complete")); err == nil {
		return filepath.Join(assets, "bin"), nil
	}
	debian := fmt.Sprintf("/usr/lib/postgresql/%d/bin", major)
	if _, err := os.Stat(filepath.Join(debian, "initdb")); err == nil {
		return debian, nil
	}
	return "", fmt.Errorf("no PostgreSQL %d in %s or %s: run 'make pg-assets' (as root it also installs Debian's PostgreSQL 15)", major, assets, debian)
}

// pgAccount is who runs the servers: PostgreSQL refuses root, so as root the
// postgres account that Debian's package makes.
func pgAccount() (string, error) {
	if os.Geteuid() != 0 {
		return "", nil
	}
	if _, err := user.Lookup("postgres"); err != nil {
		return "", errors.New("as root the test servers run as the postgres account, which does not exist: run 'make pg-assets' (it installs Debian's PostgreSQL 15, which makes it)")
	}
	return "postgres", nil
}

func newPrivatePG(cfg pgConfig) (_ *PrivatePostgres, err error) {
	bin, err := pgBinDir(cfg.version)
	if err != nil {
		return nil, err
	}
	account, err := pgAccount()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "plattr-testenv-pg-")
	if err != nil {
		return nil, err
	}
	pp := &PrivatePostgres{bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	// Who made it, for the leftovers check to name when a test binary ends
	// without removing it (a panic, a timeout, a kill).
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(fmt.Sprintf("PostgreSQL %d of %s (pid %d)", cfg.version, filepath.Base(os.Args[0]), os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = pp.Stop()
			os.RemoveAll(dir)
		}
	}()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	superPW, adminPW := randomSuffix(24), randomSuffix(24)
	pwFile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwFile, []byte(superPW+"\n"), 0o600); err != nil {
		return nil, err
	}
	conf := []string{"listen_addresses = '127.0.0.1'", fmt.Sprintf("port = %d", port),
		"unix_socket_directories = '" + dir + "'", "fsync = off", "max_connections = 300",
		"password_encryption = 'scram-sha-256'"}
	// Passwords only, over TCP only: no trust, no peer, no unix-socket line.
	hba := "host all all 127.0.0.1/32 scram-sha-256\n"
	query := "sslmode=disable"
	if cfg.tls {
		files, err := writePGTLS(dir)
		if err != nil {
			return nil, fmt.Errorf("make the server's certificate: %w", err)
		}
		conf = append(conf, "ssl = on", "ssl_cert_file = '"+files.cert+"'", "ssl_key_file = '"+files.key+"'")
		hba = "hostssl all all 127.0.0.1/32 scram-sha-256\n"
		query = "sslmode=verify-full&sslrootcert=" + files.ca
		pp.TLS, pp.CAFile = true, files.ca
	}
	if account != "" {
		if out, err := exec.Command("chown", "-R", account, dir).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("chown %s to %s: %v: %s", dir, account, err, out)
		}
	}
	if out, err := pp.run("initdb", "-D", pp.data, "--auth=scram-sha-256", "-U", "postgres", "--pwfile="+pwFile,
		"--encoding=UTF8", "--no-locale", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb (PostgreSQL %d): %v: %s", cfg.version, err, out)
	}
	if err := os.Remove(pwFile); err != nil {
		return nil, err
	}
	// initdb made both files as the server's account: writing keeps their owner.
	if err := os.WriteFile(filepath.Join(pp.data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(pp.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString("\n# plattr testenv\n" + strings.Join(conf, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	pp.Version, pp.Name = cfg.version, fmt.Sprintf("pg%d", cfg.version)
	pp.SuperURL = pgURL("postgres", superPW, port, query)
	pp.AdminURL = pgURL(AdminRole, adminPW, port, query)
	if err := pp.Start(); err != nil {
		return nil, err
	}
	if err := execSQL(pp.SuperURL, "CREATE ROLE "+AdminRole+" LOGIN CREATEDB CREATEROLE PASSWORD '"+adminPW+"'"); err != nil {
		return nil, fmt.Errorf("create %s: %w", AdminRole, err)
	}
	return pp, nil
}

func pgURL(user, password string, port int, query string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: fmt.Sprintf("127.0.0.1:%d", port), Path: "/postgres", RawQuery: query}
	return u.String()
}

// run runs a PostgreSQL program, as the postgres account when this is root.
func (pp *PrivatePostgres) run(name string, args ...string) *exec.Cmd {
	path := filepath.Join(pp.bin, name)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = pp.dir
	return cmd
}

// Start starts the server (again) and waits until it accepts connections.
func (pp *PrivatePostgres) Start() error {
	if out, err := pp.run("pg_ctl", "-D", pp.data, "-l", pp.LogFile(), "-w", "start").CombinedOutput(); err != nil {
		return fmt.Errorf("start PostgreSQL %d with pg_ctl: %v: %s%s", pp.Version, err, out, "\nserver log: "+LogTail(pp.LogFile(), 2000))
	}
	// pg_ctl daemonises the server: make sure it stops with this test binary even
	// when a panic or a kill ends it before the cleanup runs (SIGQUIT: immediate).
	pidFile, err := os.ReadFile(filepath.Join(pp.data, "postmaster.pid"))
	if err != nil {
		return err
	}
	return killOnExit([]string{strings.SplitN(string(pidFile), "\n", 2)[0]}, "QUIT")
}

// Stop stops the server at once, dropping every connection.
func (pp *PrivatePostgres) Stop() error {
	if out, err := pp.run("pg_ctl", "-D", pp.data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

// Pause freezes the server and every session of it (SIGSTOP to the postmaster,
// then to each of its children: backends run in sessions of their own), as a
// server that accepts connections and never answers: open connections wait
// without an error, new ones are accepted by the kernel and never greeted.
func (pp *PrivatePostgres) Pause() error { return pp.signalAll(syscall.SIGSTOP) }

// Resume lets a paused server go on where it stopped.
func (pp *PrivatePostgres) Resume() error { return pp.signalAll(syscall.SIGCONT) }

func (pp *PrivatePostgres) signalAll(sig syscall.Signal) error {
	pidFile, err := os.ReadFile(filepath.Join(pp.data, "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("read the server's pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pidFile), "\n", 2)[0]))
	if err != nil {
		return fmt.Errorf("read the server's pid: %w", err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal the postmaster: %w", err)
	}
	children, err := childrenOf(pid)
	if err != nil {
		return err
	}
	for _, c := range children {
		_ = syscall.Kill(c, sig) // one may have ended meanwhile
	}
	return nil
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after its ')'.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out, nil
}

// LogFile is the server's log.
func (pp *PrivatePostgres) LogFile() string { return filepath.Join(pp.dir, "log") }

// remove stops the server and deletes its folder. A server pg_ctl could not
// stop is killed; a folder that cannot be deleted at once (a process of the
// server still writing) is tried again. What is left is an error: the test
// (or, for a shared server, the test binary) fails, naming it, rather than
// leaving it for the leftovers check to find without a cause.
func (pp *PrivatePostgres) remove() error {
	_ = pp.Resume() // a paused server cannot stop
	var errs []error
	if err := pp.Stop(); err != nil {
		if kill := pp.signalAll(syscall.SIGKILL); kill == nil {
			errs = append(errs, fmt.Errorf("stop PostgreSQL %d in %s: %w (killed it)", pp.Version, pp.dir, err))
		}
	}
	var err error
	for range 10 {
		if err = os.RemoveAll(pp.dir); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("remove PostgreSQL %d's folder: %w", pp.Version, err))
	}
	return errors.Join(errs...)
}

// ownerFile, in a test ground's temporary folder, says which test binary made it.
const ownerFile = "made-by"

// FolderOwner reads which test binary made one of the test ground's temporary
// folders, or "" when it does not say.
func FolderOwner(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return ""
	}
	return string(data)
}

// Database creates an empty database with a unique name for the test, owned by
// the admin role and dropped when the test ends, and returns its URL (as the
// admin role).
func (p *Postgres) Database(t testing.TB) (name, dbURL string) {
	t.Helper()
	name = TestNamePrefix + randomSuffix(10)
	p.ExecAdmin(t, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() { p.Exec(t, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)") })
	u, err := url.Parse(p.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return name, u.String()
}

// Exec runs SQL as the superuser (SuperURL): for a test's setup.
func (p *Postgres) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if err := execSQL(p.SuperURL, sql, args...); err != nil {
		t.Fatal(err)
	}
}

// ExecAdmin runs SQL as the admin role (AdminURL), with its least privilege.
func (p *Postgres) ExecAdmin(t testing.TB, sql string, args ...any) {
	t.Helper()
	if err := execSQL(p.AdminURL, sql, args...); err != nil {
		t.Fatal(err)
	}
}

func execSQL(dbURL, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL at %s: %v", RedactURL(dbURL), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		// The statement's first two words only: it may hold a password.
		words := strings.Fields(sql)
		return fmt.Errorf("%s: %v", strings.Join(words[:min(2, len(words))], " "), err)
	}
	return nil
}

// Leftovers lists databases and roles whose names start with TestNamePrefix.
func (p *Postgres) Leftovers(ctx context.Context) ([]string, error) {
	conn, err := pgx.Connect(ctx, p.AdminURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	// Tests of `plattr deploy local` cannot choose the environment: theirs
	// are local_test_<app>.
	rows, err := conn.Query(ctx, `SELECT 'database '||datname FROM pg_database WHERE datname LIKE $1 OR datname LIKE $2
		UNION ALL SELECT 'role '||rolname FROM pg_roles WHERE rolname LIKE $1 OR rolname LIKE $2`,
		TestNamePrefix+"%", `local\_test\_%`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// QueryRow runs sql on the database at dbURL (a connection of its own, closed
// after) and returns the single value of its single row.
func QueryRow[T any](t testing.TB, dbURL, sql string, args ...any) T {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", RedactURL(dbURL), err)
	}
	defer conn.Close(ctx)
	var v T
	if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// RedactURL hides the password of a URL, for messages.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return u.Redacted()
}
