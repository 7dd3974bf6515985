package plattr

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakekeycloak"
	"github.com/plattr/plattr/internal/fakeopensearch"
	"github.com/plattr/plattr/internal/testenv"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
	"github.com/plattr/plattr/operator/services/postgres"
	"github.com/plattr/plattr/operator/services/redis"
)

// testEnv is the environment the dev tests provision in: with apps named
// "test-…", databases and roles are "plattr_test_…" and Redis users
// "plattr:test-…", which the leftovers check of `make test` recognises.
const testEnv = "plattr"

// uniqueApp is an app name no other run shares.
func uniqueApp(t *testing.T, kind string) string {
	t.Helper()
	p, err := services.Password()
	require.NoError(t, err)
	return "test-" + kind + "-" + strings.ToLower(p[:8])
}

// appDir writes plattr.yaml for app into a new folder, and gives the test its own
// cache folder for the credentials plattr dev keeps.
func appDir(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plattr.yaml"), []byte(yaml), 0o644))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(t.TempDir(), "cache"))
	return dir
}

// helperCmd is the test binary, run as the command of plattr dev (see TestMain).
func helperCmd(t *testing.T, steps ...string) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	t.Setenv(helperEnv, strings.Join(steps, ","))
	return exe
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err, "the command ran and wrote its environment")
	env := map[string]string{}
	for _, kv := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// removeServices drops what plattr dev may have made for app, whatever the test
// got to: the safety net behind --reset.
func removeServices(t *testing.T, pgURL, redisURL, app string) {
	t.Helper()
	inst := services.Instance{Env: testEnv, App: app, Spec: &plattrv1.ApplicationSpec{}}
	t.Cleanup(func() {
		if pg, err := postgres.New(pgURL); err == nil {
			_ = pg.Delete(context.Background(), inst)
			pg.Close()
		}
		if rd, err := redis.New(redisURL); err == nil {
			_ = rd.Delete(context.Background(), inst)
			rd.Close()
		}
	})
}

func TestDev_ProvisionsRunsKeepsAndResets(t *testing.T) {
	pg := testenv.StartPostgres(t)
	rd := testenv.StartRedis(t)
	app := uniqueApp(t, "dev")
	dbName := postgres.Name(testEnv, app)
	require.True(t, strings.HasPrefix(dbName, testenv.TestNamePrefix), "leftovers of %s would be recognised", dbName)
	removeServices(t, pg.AdminURL, rd.AdminURL, app)
	dir := appDir(t, "name: "+app+"\nport: 3456\nenv: {GREETING: hello}\ndatabase: {enabled: true}\nredis: {enabled: true}\n")
	// PostgreSQL's admin comes from the environment, Redis's from the flag.
	t.Setenv("DB_ADMIN_URL", pg.AdminURL)
	envFile := filepath.Join(t.TempDir(), "env")
	ctx := context.Background()

	code, out, errOut := run(t, "dev", "--dir", dir, "--env", testEnv, "--redis-url", rd.AdminURL, "--", helperCmd(t, "env="+envFile, "exit=7"))
	require.Equal(t, 7, code, "the command's exit code is plattr dev's; stderr: %s", errOut)
	env := readEnv(t, envFile)
	assert.Equal(t, "3456", env["PORT"])
	assert.Equal(t, "hello", env["GREETING"], "plattr.yaml's env")
	assert.NotContains(t, env, "DB_ADMIN_URL", "the admin's URL is not the app's")
	assert.Equal(t, dbName, env["PGDATABASE"])
	assert.Equal(t, testEnv+":"+app+":", env["REDIS_KEY_PREFIX"])
	for _, k := range []string{"DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "REDIS_URL"} {
		assert.NotEmpty(t, env[k], k)
	}
	assert.Contains(t, errOut, "database  created")
	assert.Contains(t, errOut, "redis     created")

	// DATABASE_URL works, as the app's own role, in the app's own database.
	conn, err := pgx.Connect(ctx, env["DATABASE_URL"])
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept')")
	require.NoError(t, err)
	var user string
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_user").Scan(&user))
	assert.Equal(t, dbName, user)
	conn.Close(ctx)

	// REDIS_URL works under REDIS_KEY_PREFIX, and nowhere else.
	opt, err := goredis.ParseURL(env["REDIS_URL"])
	require.NoError(t, err)
	rc := goredis.NewClient(opt)
	defer rc.Close()
	require.NoError(t, rc.Set(ctx, env["REDIS_KEY_PREFIX"]+"greeting", "hi", time.Hour).Err())
	err = rc.Set(ctx, "elsewhere:greeting", "hi", time.Hour).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOPERM")

	// The credentials are kept for the user only.
	states, err := filepath.Glob(filepath.Join(os.Getenv("XDG_CACHE_HOME"), "plattr", "dev", "*.json"))
	require.NoError(t, err)
	require.Len(t, states, 1)
	fi, err := os.Stat(states[0])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// Again: the same passwords, the data still there.
	envFile2 := filepath.Join(t.TempDir(), "env")
	code, out2, errOut2 := run(t, "dev", "--dir", dir, "--env", testEnv, "--redis-url", rd.AdminURL, "--", helperCmd(t, "env="+envFile2))
	require.Equal(t, 0, code, errOut2)
	env2 := readEnv(t, envFile2)
	assert.Equal(t, env["PGPASSWORD"], env2["PGPASSWORD"], "running again keeps the password")
	assert.Equal(t, env["REDIS_URL"], env2["REDIS_URL"], "and the Redis user's")
	assert.Contains(t, errOut2, "database  kept")
	assert.Equal(t, "kept", testenv.QueryRow[string](t, env2["DATABASE_URL"], "SELECT body FROM notes"))
	// A new connection: one authenticated before the second run would stay so.
	rc2 := goredis.NewClient(opt)
	defer rc2.Close()
	v, err := rc2.Get(ctx, env["REDIS_KEY_PREFIX"]+"greeting").Result()
	require.NoError(t, err, "the first run's Redis password still works")
	assert.Equal(t, "hi", v)

	// No password in anything plattr dev printed.
	for _, secret := range []string{env["PGPASSWORD"], env["REDIS_PASSWORD"]} {
		require.NotEmpty(t, secret)
		for _, printed := range []string{out, errOut, out2, errOut2} {
			assert.NotContains(t, printed, secret)
		}
	}

	// --reset drops the role, the database, the ACL user and its keys, and the state.
	code, _, errOut = run(t, "dev", "--dir", dir, "--env", testEnv, "--redis-url", rd.AdminURL, "--reset")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "database  dropped")
	admin := pg.AdminURL
	assert.Zero(t, testenv.QueryRow[int](t, admin, "SELECT count(*) FROM pg_roles WHERE rolname = $1", dbName), "role dropped")
	assert.Zero(t, testenv.QueryRow[int](t, admin, "SELECT count(*) FROM pg_database WHERE datname = $1", dbName), "database dropped")
	users, err := rd.Client(t).Do(ctx, "ACL", "USERS").StringSlice()
	require.NoError(t, err)
	assert.NotContains(t, users, testEnv+":"+app, "ACL user deleted")
	n, err := rd.Client(t).Exists(ctx, env["REDIS_KEY_PREFIX"]+"greeting").Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the app's keys are gone")
	_, err = os.Stat(states[0])
	assert.True(t, os.IsNotExist(err), "the state file is removed with what it described")
}

func TestDev_SearchAndAuthThroughTheirProvisioners(t *testing.T) {
	// No OpenSearch or Keycloak can run here: their stateful fakes stand in.
	search := fakeopensearch.New("admin", "search-admin-s3cret")
	defer search.Close()
	kc := fakekeycloak.New("admin", "kc-admin-s3cret")
	defer kc.Close()
	t.Setenv("OPENSEARCH_URL", search.URL)
	t.Setenv("OPENSEARCH_USERNAME", "admin")
	t.Setenv("OPENSEARCH_PASSWORD", "search-admin-s3cret")
	t.Setenv("KEYCLOAK_URL", kc.URL)
	t.Setenv("KEYCLOAK_ADMIN_USER", "admin")
	t.Setenv("KEYCLOAK_ADMIN_PASSWORD", "kc-admin-s3cret")
	app := uniqueApp(t, "dev")
	dir := appDir(t, "name: "+app+"\nsearch: {enabled: true}\nauth: {enabled: true}\n")
	envFile := filepath.Join(t.TempDir(), "env")

	code, out, errOut := run(t, "dev", "--dir", dir, "--env", testEnv, "--", helperCmd(t, "env="+envFile))
	require.Equal(t, 0, code, errOut)
	env := readEnv(t, envFile)
	assert.Equal(t, testEnv+"."+app+".", env["OPENSEARCH_INDEX_PREFIX"])
	assert.Equal(t, testEnv+"."+app, env["OPENSEARCH_USERNAME"], "the app's user, not the admin")
	assert.NotEqual(t, "search-admin-s3cret", env["OPENSEARCH_PASSWORD"])
	assert.True(t, search.Has("internalusers", testEnv+"."+app), "the user exists in OpenSearch")
	assert.Equal(t, app, env["OIDC_CLIENT_ID"])
	assert.NotEmpty(t, env["OIDC_CLIENT_SECRET"])
	assert.Len(t, kc.Clients("plattr-"+testEnv), 1)
	assert.NotContains(t, env, "KEYCLOAK_ADMIN_PASSWORD", "the admin's password is not the app's")
	for _, secret := range []string{"search-admin-s3cret", "kc-admin-s3cret", env["OPENSEARCH_PASSWORD"], env["OIDC_CLIENT_SECRET"]} {
		assert.NotContains(t, out+errOut, secret)
	}

	code, _, errOut = run(t, "dev", "--dir", dir, "--env", testEnv, "--reset")
	require.Equal(t, 0, code, errOut)
	assert.False(t, search.Has("internalusers", testEnv+"."+app), "--reset deletes the OpenSearch user")
	assert.Empty(t, kc.Clients("plattr-"+testEnv), "and the OIDC client")
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestDev_UnavailableServiceStopsBeforeTheCommand(t *testing.T) {
	t.Setenv("OPENSEARCH_URL", "")
	cases := map[string]struct {
		reason, yaml string
		args         []string
		want         []string
		secret       string
	}{
		"search without OpenSearch": {
			reason: "no OpenSearch can be had locally unless one is given: say what to set, never fake it",
			yaml:   "search: {enabled: true}\n",
			want:   []string{"search: not available locally: set --opensearch-url or OPENSEARCH_URL", "or disable search in plattr.yaml"},
		},
		"PostgreSQL down": {
			reason: "an unreachable server names the flag and the variable, not the admin's password",
			yaml:   "database: {enabled: true}\n",
			args:   []string{"--postgres-url", "postgres://admin:pg-admin-s3cret@" + closedPort(t) + "/postgres?sslmode=disable"},
			want:   []string{"database: ", "cannot connect to the PostgreSQL server", "set --postgres-url or DB_ADMIN_URL"},
			secret: "pg-admin-s3cret",
		},
		"Redis down": {
			reason: "the same for Redis",
			yaml:   "redis: {enabled: true}\n",
			args:   []string{"--redis-url", "redis://admin:redis-admin-s3cret@" + closedPort(t)},
			want:   []string{"redis: ", "cannot connect to the Redis server", "set --redis-url or REDIS_ADMIN_URL"},
			secret: "redis-admin-s3cret",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := appDir(t, "name: "+uniqueApp(t, "dev")+"\n"+tc.yaml)
			envFile := filepath.Join(t.TempDir(), "env")
			args := append([]string{"dev", "--dir", dir, "--env", testEnv}, tc.args...)
			code, out, errOut := run(t, append(args, "--", helperCmd(t, "env="+envFile))...)
			assert.Equal(t, 1, code, tc.reason)
			for _, w := range tc.want {
				assert.Contains(t, errOut, w, tc.reason)
			}
			assert.Contains(t, errOut, "the command did not run")
			assert.NoFileExists(t, envFile, "the command did not run")
			if tc.secret != "" {
				assert.NotContains(t, out+errOut, tc.secret)
			}
		})
	}
}

func TestDev_RunsDevCommandOfManifest(t *testing.T) {
	exe := helperCmd(t, "exit=5")
	dir := appDir(t, "name: shop\ndev:\n  command: ["+exe+"]\n")
	code, _, errOut := run(t, "dev", "--dir", dir)
	assert.Equal(t, 5, code, "dev.command ran and its exit code came back: %s", errOut)
	assert.Contains(t, errOut, "running: "+exe)
}

func TestDev_ForwardsSignals(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	dir := appDir(t, "name: shop\n")
	exe := helperCmd(t, "ready="+ready, "wait")
	codes := make(chan int, 1)
	go func() {
		code, _, _ := run(t, "dev", "--dir", dir, "--", exe)
		codes <- code
	}()
	var pid int
	testenv.Eventually(t, 60*time.Second, "the command to start", func() (bool, error) {
		data, err := os.ReadFile(ready)
		pid, _ = strconv.Atoi(string(data))
		return pid > 0, err
	})
	// Should forwarding fail, the command must not outlive the test.
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	// plattr dev traps SIGTERM while the command runs: this reaches the command.
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case code := <-codes:
		assert.Equal(t, 42, code, "the command got SIGTERM and exited with its own status")
	case <-time.After(60 * time.Second):
		t.Fatal("plattr dev did not return: SIGTERM was not forwarded to the command")
	}
}

func TestDev_BadInput(t *testing.T) {
	dir := appDir(t, "name: shop\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dev", "--dir", t.TempDir(), "--", "true"}, "no plattr.yaml in"},
		{[]string{"dev", "--dir", dir}, "no command to run: give one after -- (plattr dev -- npm run dev), or set dev.command in"},
		{[]string{"dev", "--dir", dir, "npm", "start"}, "put the command after --, as in 'plattr dev -- npm start'"},
		{[]string{"dev", "--dir", dir, "--reset", "--", "true"}, "--reset drops the app's local services and runs nothing"},
		{[]string{"dev", "--dir", dir, "--env", "Dev", "--", "true"}, `--env: invalid environment name "Dev"`},
		{[]string{"dev", "--dir", dir, "--env", "prod", "--reset"}, "--env prod: that is a cluster environment's name"},
		{[]string{"dev", "--dir", dir, "--postgres-url", "mysql://x", "--", "true"}, "DB_ADMIN_URL must be a URL such as postgres://"},
		{[]string{"dev", "--dir", dir, "--nope"}, "unknown flag: --nope"},
	} {
		code, _, errOut := run(t, tc.args...)
		assert.Equal(t, 2, code, tc.args)
		assert.Contains(t, errOut, tc.want, tc.args)
	}
	code, _, errOut := run(t, "dev", "--dir", dir, "--", filepath.Join(dir, "no-such-program"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "run "+filepath.Join(dir, "no-such-program"))
}

func TestEnviron_DropsAdminSettings(t *testing.T) {
	got := environ([]string{"PATH=/bin", "DB_ADMIN_URL=postgres://admin:pw@db/x", "REDIS_ADMIN_URL=redis://a", "KEYCLOAK_ADMIN_PASSWORD=pw",
		"KEYCLOAK_URL=http://kc", "OPENSEARCH_URL=https://os", "OPENSEARCH_USERNAME=admin", "OPENSEARCH_PASSWORD=adminpw",
		"PORT=1", "HOME=/root"}, map[string]string{"PORT": "8080", "DATABASE_URL": "postgres://app"})
	assert.Equal(t, []string{"PATH=/bin", "HOME=/root", "DATABASE_URL=postgres://app", "PORT=8080"}, got)
}

func TestDescribe_ShowsNoSecret(t *testing.T) {
	got := describe(services.Credentials{
		"DATABASE_URL":     []byte("postgres://dev_shop:pw-s3cret@127.0.0.1:5432/dev_shop"),
		"PGPASSWORD":       []byte("pw-s3cret"),
		"PGUSER":           []byte("dev_shop"),
		"REDIS_KEY_PREFIX": []byte("dev:shop:"),
	})
	assert.Equal(t, "DATABASE_URL=postgres://dev_shop:xxxxx@127.0.0.1:5432/dev_shop REDIS_KEY_PREFIX=dev:shop: (+ PGPASSWORD PGUSER)", got)
}

// The release phase runs before the app, as in the cluster: with the app's
// environment ($(VAR) expanded), against its database; a failure stops dev
// before the app runs, with the command's exit code; --no-release skips it.
func TestDev_RunsTheReleaseCommandFirst(t *testing.T) {
	pg := testenv.StartPostgres(t)
	app := uniqueApp(t, "rel")
	removeServices(t, pg.AdminURL, "redis://127.0.0.1:1", app)
	t.Setenv("DB_ADMIN_URL", pg.AdminURL)
	envFile := filepath.Join(t.TempDir(), "env")
	manifest := func(sql string) string {
		cmd := testenv.SQLCommand(t, sql)
		return "name: " + app + "\ndatabase: {enabled: true}\nrelease:\n  command: [" + cmd[0] + ", " + cmd[1] + ", '" + cmd[2] + "']\n  timeout: 1m\n"
	}
	dir := appDir(t, manifest(`CREATE TABLE "from_$(PGDATABASE)" (id int)`))
	code, _, errOut := run(t, "dev", "--dir", dir, "--env", testEnv, "--", helperCmd(t, "env="+envFile))
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "release: ")
	assert.Less(t, strings.Index(errOut, "release: "), strings.Index(errOut, "running: "), "the release command first")
	env := readEnv(t, envFile)
	assert.True(t, testenv.QueryRow[bool](t, env["DATABASE_URL"], `SELECT to_regclass('"from_`+env["PGDATABASE"]+`"') IS NOT NULL`),
		"ran as the app's role in its database, $(PGDATABASE) expanded")

	// A failing release command: the app does not run.
	require.NoError(t, os.Remove(envFile))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plattr.yaml"), []byte(manifest(`SELECT 1/0`)), 0o644))
	code, out, errOut := run(t, "dev", "--dir", dir, "--env", testEnv, "--", helperCmd(t, "env="+envFile))
	assert.Equal(t, 1, code, errOut)
	assert.Contains(t, out+errOut, "division by zero", "the command's own output")
	assert.Contains(t, errOut, "the release command exited with status 1: the app did not start")
	assert.NoFileExists(t, envFile)

	code, _, errOut = run(t, "dev", "--dir", dir, "--env", testEnv, "--no-release", "--", helperCmd(t, "env="+envFile))
	assert.Equal(t, 0, code, errOut)
	assert.NotContains(t, errOut, "release: ")
	assert.FileExists(t, envFile)

	code, _, errOut = run(t, "dev", "--dir", dir, "--env", testEnv, "--reset")
	require.Equal(t, 0, code, errOut)
}
