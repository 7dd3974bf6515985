package controller_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/fakekeycloak"
	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
	"github.com/plattr/plattr/operator/services/postgres"
)

// The operator's database work on every major of the matrix (15-18, password
// authentication, a least-privileged admin; 17 takes TLS only and the apps get
// its CA through DBAppCA): an app's Secret logs in and cannot reach another
// app's database; an operator that dies between making the role and writing the
// Secret is replaced by one that converges (one role, one database, the
// Secret's password is the role's); Retain keeps the data and the credentials
// for an Application made again, Delete drops both.
func TestApplication_EveryPostgresMajor(t *testing.T) {
	c := testenv.StartCluster(t)
	testenv.EachPostgres(t, func(t *testing.T, pg *testenv.Postgres) {
		adminURL := leastPrivilegeAdmin(t, pg, "major-admin-s3cret")
		cfg := operator.Config{DBAdminURL: adminURL}
		if pg.TLS {
			cfg.DBAppCA = pg.CAFile
		}
		ns := envNamespace(t, c)
		ctx := context.Background()
		t.Cleanup(func() {
			for _, name := range []string{"plattr_test_major", "plattr_test_other"} {
				pg.Exec(t, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
				pg.Exec(t, `DROP ROLE IF EXISTS "`+name+`"`)
			}
		})

		// The first operator provisions the role, then dies before the Secret.
		first := startOperator(t, c, ns, cfg)
		first.client.refuseSecrets.Store(true)
		retain := func(a *plattrv1.Application) { a.Spec.DeletionPolicy = plattrv1.DeletionPolicyRetain }
		app := newApp(ns, "test-major", retain)
		require.NoError(t, c.Client.Create(ctx, app))
		got := waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionFalse, controller.ReasonProvisioningFailed)
		assert.Contains(t, condition(got, plattrv1.ConditionDatabaseReady).Message, "refuses to create Secrets")
		require.True(t, pgExists(t, pg.SuperURL, "role", "plattr_test_major"), "the role was made before the Secret failed")
		first.stop()

		op := startOperator(t, c, ns, cfg)
		waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, controller.ReasonProvisioned)
		other := newApp(ns, "test-other")
		require.NoError(t, c.Client.Create(ctx, other))
		waitCondition(t, c, other, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, controller.ReasonProvisioned)
		assert.Equal(t, 1, testenv.QueryRow[int](t, pg.SuperURL, "SELECT count(*)::int FROM pg_roles WHERE rolname LIKE 'plattr_test_major%'"), "one role")
		assert.Equal(t, 1, testenv.QueryRow[int](t, pg.SuperURL, "SELECT count(*)::int FROM pg_database WHERE datname LIKE 'plattr_test_major%'"), "one database")

		creds := secretData(t, c, ns, "test-major-postgres")
		if pg.TLS {
			assert.Contains(t, string(creds[postgres.KeyURL]), "sslrootcert=", "the app verifies the server as the operator does")
		}
		conn, err := pgx.Connect(ctx, string(creds[postgres.KeyURL]))
		require.NoError(t, err, "the Secret's password is the role's")
		_, err = conn.Exec(ctx, "CREATE TABLE orders (id int); INSERT INTO orders VALUES (7)")
		require.NoError(t, err)
		conn.Close(ctx)
		otherDB, err := url.Parse(string(creds[postgres.KeyURL]))
		require.NoError(t, err)
		otherDB.Path = "/plattr_test_other"
		_, err = pgx.Connect(ctx, otherDB.String())
		require.ErrorContains(t, err, "permission denied for database", "one app cannot reach another's database")

		// Retain: the data and the Secret outlive the Application, and come back.
		deleteAndWait(t, c, app)
		again := newApp(ns, "test-major", retain)
		require.NoError(t, c.Client.Create(ctx, again))
		waitCondition(t, c, again, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, controller.ReasonProvisioned)
		kept := secretData(t, c, ns, "test-major-postgres")
		assert.Equal(t, string(creds[postgres.KeyPassword]), string(kept[postgres.KeyPassword]), "the same password")
		assert.Equal(t, 7, testenv.QueryRow[int](t, string(kept[postgres.KeyURL]), "SELECT id FROM orders"), "the old rows")

		// Delete: the database and the role go.
		deleteAndWait(t, c, other)
		assert.False(t, pgExists(t, pg.SuperURL, "database", "plattr_test_other"))
		assert.False(t, pgExists(t, pg.SuperURL, "role", "plattr_test_other"))
		scanForSecrets(t, c, ns, op, []string{"major-admin-s3cret", string(creds[postgres.KeyPassword])})
	})
}

// A backend that accepts connections and never answers (a PostgreSQL frozen
// with SIGSTOP: open connections wait without an error) must not hold a worker:
// the reconcile timeout cuts the backend calls, the status says what failed, and
// the app converges once the server answers again. Without the timeout the
// reconcile would wait forever and the status would never change.
func TestApplication_StalledBackendIsCutByTheReconcileTimeout(t *testing.T) {
	c := testenv.StartCluster(t)
	pp := testenv.StartPrivatePostgres(t)
	adminURL := leastPrivilegeAdmin(t, &pp.Postgres, "stall-admin-s3cret")
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{DBAdminURL: adminURL, ReconcileTimeout: 2 * time.Second})
	ctx := context.Background()
	app := newApp(ns, "test-stall")
	require.NoError(t, c.Client.Create(ctx, app))
	got := waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, "")

	require.NoError(t, pp.Pause())
	t.Cleanup(func() { _ = pp.Resume() })
	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.Env = append(got.Spec.Env, plattrv1.EnvVar{Name: "WAKE", Value: "up"}) // a change: the app is reconciled
	require.NoError(t, c.Client.Patch(ctx, got, patch))
	got = waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionFalse, controller.ReasonProvisioningFailed)
	assert.Contains(t, condition(got, plattrv1.ConditionDatabaseReady).Message, "deadline exceeded")

	require.NoError(t, pp.Resume())
	waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, controller.ReasonProvisioned)
	deleteAndWait(t, c, app)
	assert.False(t, pgExists(t, adminURL, "database", "plattr_test_stall"))
}

// An app that waits for a person (its search service is not configured: Stalled)
// is still observed on the resync period: drift in its Redis user is undone
// without any change to the Application.
func TestApplication_StalledAppStillResyncs(t *testing.T) {
	c := testenv.StartCluster(t)
	rd := testenv.StartRedis(t)
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{RedisAdminURL: rd.AdminURL, Resync: time.Second})
	ctx := context.Background()
	app := newApp(ns, "test-stalled-drift", func(a *plattrv1.Application) {
		a.Spec.Database = nil
		a.Spec.Redis = &plattrv1.RedisSpec{Enabled: true}
		a.Spec.Search = &plattrv1.SearchSpec{Enabled: true}
	})
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	waitCondition(t, c, app, plattrv1.ConditionRedisReady, metav1.ConditionTrue, "")
	got := waitCondition(t, c, app, plattrv1.ConditionSearchReady, metav1.ConditionFalse, controller.ReasonNotConfigured)
	require.True(t, meta(got, plattrv1.ConditionStalled))

	appRedis := redisClient(t, string(secretData(t, c, ns, "test-stalled-drift-redis")["REDIS_URL"]))
	admin := rd.Client(t)
	require.NoError(t, admin.Do(ctx, "ACL", "SETUSER", "plattr:test-stalled-drift", "allkeys", "+@all").Err())
	testenv.Eventually(t, 30*time.Second, "the user to be confined again", func() (bool, error) {
		err := appRedis.Get(ctx, "plattr:other:k").Err()
		return err != nil && strings.Contains(err.Error(), "NOPERM"), nil
	})
}

// Plain-HTTP loopback redirects (localhost) are for development environments
// only: a namespace labelled plattr.dev/development=true (plattr deploy local's)
// gets them; the same Application anywhere else is refused as Invalid, and no
// client is made.
func TestApplication_LoopbackRedirectsOnlyInDevelopment(t *testing.T) {
	c := testenv.StartCluster(t)
	kc := fakekeycloak.New("admin", "kc-admin-s3cret")
	t.Cleanup(kc.Close)
	ctx := context.Background()
	local := func(a *plattrv1.Application) {
		a.Spec.Database = nil
		a.Spec.Auth = &plattrv1.AuthSpec{Enabled: true, RedirectPaths: []string{"/callback"}}
		a.Spec.Ingress = &plattrv1.Ingress{Host: "shop.localtest.me"}
	}
	cfg := operator.Config{KeycloakURL: kc.URL, KeycloakUser: "admin", KeycloakPassword: "kc-admin-s3cret"}

	dev := envNamespace(t, c)
	var ns corev1.Namespace
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Name: dev}, &ns))
	patch := client.MergeFrom(ns.DeepCopy())
	ns.Labels[plattrv1.LabelDevelopment] = "true"
	require.NoError(t, c.Client.Patch(ctx, &ns, patch))
	startOperator(t, c, dev, cfg)
	app := newApp(dev, "test-local", local)
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	waitCondition(t, c, app, plattrv1.ConditionAuthReady, metav1.ConditionTrue, controller.ReasonProvisioned)
	require.Len(t, kc.Clients("plattr-plattr"), 1)
	assert.Equal(t, []string{"http://shop.localtest.me/callback"}, kc.Clients("plattr-plattr")[0].RedirectURIs)

	shared := envNamespace(t, c)
	startOperator(t, c, shared, cfg)
	refused := newApp(shared, "test-notlocal", local)
	require.NoError(t, c.Client.Create(ctx, refused))
	t.Cleanup(func() { deleteAndWait(t, c, refused) })
	got := waitCondition(t, c, refused, plattrv1.ConditionAuthReady, metav1.ConditionFalse, controller.ReasonInvalid)
	assert.Contains(t, condition(got, plattrv1.ConditionAuthReady).Message, "allowed only in development environments")
	assert.Len(t, kc.Clients("plattr-plattr"), 1, "no client for the refused app")
	err := c.Client.Get(ctx, client.ObjectKey{Namespace: shared, Name: "test-notlocal-oidc"}, &corev1.Secret{})
	assert.True(t, apierrors.IsNotFound(err), "no Secret for the refused app: %v", err)
}
