package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a PostgreSQL server the tests may create databases and roles on.
type Postgres struct {
	// AdminURL connects as a role that may create databases and roles.
	AdminURL string
}

var (
	pgOnce sync.Once
	pg     *Postgres
	pgErr  error
)

// TestNamePrefix starts every database, role and ACL user a test creates, so that
// leftovers can be found (and none are expected).
const TestNamePrefix = "plattr_test_"

// StartPostgres returns the package's PostgreSQL: $PLATTR_TEST_PG_URL, else the
// local server on 127.0.0.1:5432, else a private server started with initdb and
// pg_ctl on a free port (stopped when the package's tests end).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	skipShort(t, "PostgreSQL")
	pgOnce.Do(func() { pg, pgErr = findPostgres() })
	if pgErr != nil {
		t.Fatalf("PostgreSQL for tests: %v", pgErr)
	}
	return pg
}

func findPostgres() (*Postgres, error) {
	if u := os.Getenv("PLATTR_TEST_PG_URL"); u != "" {
		if err := pingPG(u); err != nil {
			return nil, fmt.Errorf("PLATTR_TEST_PG_URL does not answer: %v", err)
		}
		return &Postgres{AdminURL: u}, nil
	}
	local := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	if pingPG(local) == nil && os.Getenv("PLATTR_TEST_SERVERS") != "private" {
		return &Postgres{AdminURL: local}, nil
	}
	return startPrivatePG()
}

func pingPG(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// pgBinDir finds initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<v>/bin.
func pgBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server found on 127.0.0.1:5432 and no initdb to start one: " +
		"install it (Debian: apt-get install postgresql; 'make test' does this when run as root) or set PLATTR_TEST_PG_URL")
}

func pgVersion(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func startPrivatePG() (*Postgres, error) {
	pp, err := newPrivatePG()
	if err != nil {
		return nil, err
	}
	onStop(pp.remove)
	return &pp.Postgres, nil
}

// PrivatePostgres is a PostgreSQL server of one test's own, which the test may
// stop and start again (to see how code copes with a database outage).
type PrivatePostgres struct {
	Postgres
	bin, dir, data, opts string
}

// StartPrivatePostgres starts a PostgreSQL server for the calling test only; it
// is removed when the test ends.
func StartPrivatePostgres(t testing.TB) *PrivatePostgres {
	t.Helper()
	skipShort(t, "PostgreSQL")
	pp, err := newPrivatePG()
	if err != nil {
		t.Fatalf("start a private PostgreSQL: %v", err)
	}
	t.Cleanup(pp.remove)
	return pp
}

func newPrivatePG() (*PrivatePostgres, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "plattr-testenv-pg-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("chown %s to postgres: %v: %s", dir, err, out)
		}
	}
	pp := &PrivatePostgres{bin: bin, dir: dir, data: filepath.Join(dir, "data"),
		opts:     fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300", port, dir),
		Postgres: Postgres{AdminURL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}}
	if out, err := pp.run("initdb", "-D", pp.data, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if err := pp.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return pp, nil
}

// run runs a PostgreSQL program; PostgreSQL refuses to run as root, so as root it
// runs as the postgres account.
func (pp *PrivatePostgres) run(name string, args ...string) *exec.Cmd {
	path := filepath.Join(pp.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// Start starts the server (again) and waits until it accepts connections.
func (pp *PrivatePostgres) Start() error {
	if out, err := pp.run("pg_ctl", "-D", pp.data, "-o", pp.opts, "-l", filepath.Join(pp.dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s", err, out)
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

// LogFile is the server's log.
func (pp *PrivatePostgres) LogFile() string { return filepath.Join(pp.dir, "log") }

func (pp *PrivatePostgres) remove() {
	_ = pp.Stop()
	os.RemoveAll(pp.dir)
}

// Database creates an empty database with a unique name for the test, dropped
// when the test ends, and returns its URL (as the admin role).
func (p *Postgres) Database(t testing.TB) (name, dbURL string) {
	t.Helper()
	name = TestNamePrefix + randomSuffix(10)
	p.Exec(t, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() { p.Exec(t, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)") })
	u, err := url.Parse(p.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return name, u.String()
}

// Exec runs SQL as the admin role.
func (p *Postgres) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.AdminURL)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", strings.SplitN(sql, " ", 3)[:2], err)
	}
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
