package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
	"github.com/plattr/plattr/operator/services/postgres"
)

// A service that waits for a person (OpenSearch not configured) next to one
// whose backend is down for a while (PostgreSQL): the outage is retried and ends
// in DatabaseReady without any change to the Application. Before, the joined
// error was terminal as a whole and the database was never made.
func TestApplication_TransientErrorNextToStalledIsRetried(t *testing.T) {
	c := testenv.StartCluster(t)
	pp := testenv.StartPrivatePostgres(t)
	adminURL := leastPrivilegeAdmin(t, &pp.Postgres, "mixed-admin-s3cret")
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{DBAdminURL: adminURL})
	require.NoError(t, pp.Stop())
	ctx := context.Background()
	app := newApp(ns, "test-mixed", func(a *plattrv1.Application) {
		a.Spec.Search = &plattrv1.SearchSpec{Enabled: true}
	})
	require.NoError(t, c.Client.Create(ctx, app))
	waitCondition(t, c, app, plattrv1.ConditionSearchReady, metav1.ConditionFalse, controller.ReasonNotConfigured)
	got := waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionFalse, controller.ReasonProvisioningFailed)
	assert.True(t, meta(got, plattrv1.ConditionStalled), "the search service waits for a person")

	require.NoError(t, pp.Start())
	waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, controller.ReasonProvisioned)
	assert.True(t, pgExists(t, adminURL, "database", "plattr_test_mixed"))
	deleteAndWait(t, c, app)
}

func meta(app *plattrv1.Application, typ string) bool {
	cond := condition(app, typ)
	return cond != nil && cond.Status == metav1.ConditionTrue
}

// deletionPolicy Retain keeps the data and the credentials to it: the Secret
// outlives the Application (no owner reference, so the garbage collector leaves
// it; labelled retained), and an Application created again with the same name
// takes it back and reads its old rows with the same password. Before, the
// Secret was garbage-collected and the new Application could not log in.
func TestApplication_RetainKeepsTheCredentials(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t) // the garbage collector runs
	pg := testenv.StartPostgres(t)
	adminURL := leastPrivilegeAdmin(t, pg, "retain-admin-s3cret")
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{DBAdminURL: adminURL})
	ctx := context.Background()
	retain := func(a *plattrv1.Application) { a.Spec.DeletionPolicy = plattrv1.DeletionPolicyRetain }
	app := newApp(ns, "test-kept", retain)
	require.NoError(t, c.Client.Create(ctx, app))
	waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, "")
	before := secretData(t, c, ns, "test-kept-postgres")
	conn, err := pgx.Connect(ctx, string(before[postgres.KeyURL]))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE orders (id int); INSERT INTO orders VALUES (42)")
	require.NoError(t, err)
	conn.Close(ctx)

	deleteAndWait(t, c, app)
	var s corev1.Secret
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "test-kept-postgres"}, &s), "the Secret outlives the Application")
	assert.Equal(t, "true", s.Labels[plattrv1.LabelRetained])
	assert.Empty(t, s.OwnerReferences, "nothing for the garbage collector to follow")
	assert.True(t, pgExists(t, adminURL, "database", "plattr_test_kept"))

	again := newApp(ns, "test-kept", retain)
	require.NoError(t, c.Client.Create(ctx, again))
	waitCondition(t, c, again, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, "")
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "test-kept-postgres"}, &s))
	assert.NotContains(t, s.Labels, plattrv1.LabelRetained, "taken back")
	assert.Equal(t, string(before[postgres.KeyPassword]), string(s.Data[postgres.KeyPassword]), "the same password")
	assert.Equal(t, 42, testenv.QueryRow[int](t, string(s.Data[postgres.KeyURL]), "SELECT id FROM orders"), "the old rows, as the app's role")

	// Clean up: the data goes with policy Delete.
	require.NoError(t, c.Client.Get(ctx, client.ObjectKeyFromObject(again), again))
	patch := client.MergeFrom(again.DeepCopy())
	again.Spec.DeletionPolicy = plattrv1.DeletionPolicyDelete
	require.NoError(t, c.Client.Patch(ctx, again, patch))
	deleteAndWait(t, c, again)
	assert.False(t, pgExists(t, adminURL, "database", "plattr_test_kept"))
	err = c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "test-kept-postgres"}, &s)
	assert.True(t, apierrors.IsNotFound(err), "policy Delete removes the Secret: %v", err)
}

// An Application deleted while its PostgreSQL is down keeps its finalizer, says
// in its status what holds the deletion, and is gone with its data once the
// server is back.
func TestApplication_DeletionWaitsForTheBackend(t *testing.T) {
	c := testenv.StartCluster(t)
	pp := testenv.StartPrivatePostgres(t)
	adminURL := leastPrivilegeAdmin(t, &pp.Postgres, "deletion-admin-s3cret")
	ns := envNamespace(t, c)
	op := startOperator(t, c, ns, operator.Config{DBAdminURL: adminURL})
	ctx := context.Background()
	app := newApp(ns, "test-held")
	require.NoError(t, c.Client.Create(ctx, app))
	waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, "")

	require.NoError(t, pp.Stop())
	require.NoError(t, c.Client.Delete(ctx, app))
	got := waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionFalse, controller.ReasonDeleteFailed)
	assert.Contains(t, condition(got, plattrv1.ConditionDatabaseReady).Message, "cannot connect to the PostgreSQL server")
	assert.Equal(t, controller.ReasonDeleting, condition(got, plattrv1.ConditionReady).Reason)
	assert.Contains(t, got.Finalizers, controller.Finalizer, "the finalizer holds the Application while its data cannot be removed")

	require.NoError(t, pp.Start())
	testenv.Eventually(t, 60*time.Second, "the Application to be gone", func() (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKeyFromObject(app), &plattrv1.Application{})
		return apierrors.IsNotFound(err), nil
	})
	assert.False(t, pgExists(t, adminURL, "database", "plattr_test_held"))
	assert.False(t, pgExists(t, adminURL, "role", "plattr_test_held"))
	scanForSecrets(t, c, ns, op, []string{"deletion-admin-s3cret"})
}

// Deleting a whole namespace of Applications (an environment torn down) goes
// through each one's finalizer: policy Delete drops its database and role,
// Retain keeps them.
func TestApplication_NamespaceDeletion(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t) // the namespace controller empties a deleted namespace
	pg := testenv.StartPostgres(t)
	adminURL := leastPrivilegeAdmin(t, pg, "namespace-admin-s3cret")
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{DBAdminURL: adminURL})
	ctx := context.Background()
	dropped := newApp(ns, "test-nsdrop")
	kept := newApp(ns, "test-nskeep", func(a *plattrv1.Application) { a.Spec.DeletionPolicy = plattrv1.DeletionPolicyRetain })
	for _, app := range []*plattrv1.Application{dropped, kept} {
		require.NoError(t, c.Client.Create(ctx, app))
	}
	for _, app := range []*plattrv1.Application{dropped, kept} {
		waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, "")
	}
	t.Cleanup(func() {
		pg.Exec(t, `DROP DATABASE IF EXISTS plattr_test_nskeep WITH (FORCE)`)
		pg.Exec(t, `DROP ROLE IF EXISTS plattr_test_nskeep`)
	})

	require.NoError(t, c.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	testenv.Eventually(t, 90*time.Second, "the namespace to be gone", func() (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})
		return apierrors.IsNotFound(err), nil
	})
	assert.False(t, pgExists(t, adminURL, "database", "plattr_test_nsdrop"), "policy Delete")
	assert.False(t, pgExists(t, adminURL, "role", "plattr_test_nsdrop"), "policy Delete")
	assert.True(t, pgExists(t, adminURL, "database", "plattr_test_nskeep"), "policy Retain")
	assert.True(t, pgExists(t, adminURL, "role", "plattr_test_nskeep"), "policy Retain")
}

// A Redis restarted without an ACL file forgets every user at once. The
// operator notices with one read of the server's run id every few seconds (no
// per-app polling: the resync period is off here) and restores every app's user
// with the password its Secret already has.
func TestApplication_RedisRestartRestoresEveryApp(t *testing.T) {
	c := testenv.StartCluster(t)
	rd := testenv.StartPrivateRedis(t)
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{RedisAdminURL: rd.AdminURL})
	ctx := context.Background()
	var apps []*plattrv1.Application
	for _, name := range []string{"test-cache-a", "test-cache-b", "test-cache-c"} {
		app := newApp(ns, name, func(a *plattrv1.Application) {
			a.Spec.Database = nil
			a.Spec.Redis = &plattrv1.RedisSpec{Enabled: true}
		})
		require.NoError(t, c.Client.Create(ctx, app))
		t.Cleanup(func() { deleteAndWait(t, c, app) })
		apps = append(apps, app)
	}
	urls := map[string]string{}
	for _, app := range apps {
		waitCondition(t, c, app, plattrv1.ConditionRedisReady, metav1.ConditionTrue, "")
		urls[app.Name] = string(secretData(t, c, ns, app.Name+"-redis")["REDIS_URL"])
	}

	rd.Restart(t)
	restarted := time.Now()
	for _, app := range apps {
		testenv.Eventually(t, 60*time.Second, "the user of "+app.Name+" to be restored", func() (bool, error) {
			probe := redisClient(t, urls[app.Name])
			defer probe.Close()
			return probe.Set(ctx, "plattr:"+app.Name+":k", "v", time.Minute).Err() == nil, nil
		})
	}
	t.Logf("every app's Redis user restored %v after the restart (measured, not asserted)", time.Since(restarted).Round(100*time.Millisecond))
}

// Drift in a backend is found by the periodic observation alone (no change to
// the Application, no event in Kubernetes) and undone: a Redis user widened by
// hand to every command and key is confined again.
func TestApplication_DriftUndoneOnResync(t *testing.T) {
	c := testenv.StartCluster(t)
	rd := testenv.StartRedis(t)
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{RedisAdminURL: rd.AdminURL, Resync: time.Second})
	ctx := context.Background()
	app := newApp(ns, "test-drift", func(a *plattrv1.Application) {
		a.Spec.Database = nil
		a.Spec.Redis = &plattrv1.RedisSpec{Enabled: true}
	})
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	waitCondition(t, c, app, plattrv1.ConditionRedisReady, metav1.ConditionTrue, "")
	appRedis := redisClient(t, string(secretData(t, c, ns, "test-drift-redis")["REDIS_URL"]))
	require.ErrorContains(t, appRedis.Get(ctx, "plattr:other:k").Err(), "NOPERM", "confined to its prefix")

	admin := rd.Client(t)
	require.NoError(t, admin.Do(ctx, "ACL", "SETUSER", "plattr:test-drift", "allkeys", "allchannels", "+@all").Err())
	require.ErrorIs(t, appRedis.Get(ctx, "plattr:other:k").Err(), goredis.Nil, "widened by hand: the key is merely missing")
	testenv.Eventually(t, 30*time.Second, "the user to be confined again", func() (bool, error) {
		err := appRedis.Get(ctx, "plattr:other:k").Err()
		return err != nil && strings.Contains(err.Error(), "NOPERM"), nil
	})
}

// While a backend is down the Application is retried with a growing backoff,
// not in a hot loop: over ten seconds of outage a few attempts at most, each
// still reporting the outage.
func TestApplication_OutageBacksOff(t *testing.T) {
	c := testenv.StartCluster(t)
	pp := testenv.StartPrivatePostgres(t)
	adminURL := leastPrivilegeAdmin(t, &pp.Postgres, "backoff-admin-s3cret")
	ns := envNamespace(t, c)
	op := startOperator(t, c, ns, operator.Config{DBAdminURL: adminURL})
	require.NoError(t, pp.Stop())
	ctx := context.Background()
	app := newApp(ns, "test-backoff")
	require.NoError(t, c.Client.Create(ctx, app))
	waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionFalse, controller.ReasonProvisioningFailed)
	start := op.pg.observes.Load()
	time.Sleep(10 * time.Second) // the window over which attempts are counted
	attempts := op.pg.observes.Load() - start
	t.Logf("%d observations of PostgreSQL in 10 s of outage", attempts)
	// Exponential backoff from 5 ms doubles past 10 s within 12 attempts: a hot
	// loop would make thousands.
	assert.Less(t, attempts, int64(12))
	require.NoError(t, pp.Start())
	waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, "")
	deleteAndWait(t, c, app)
}

// Apps of one environment share a namespace: an app must not read another's
// service Secret through secretEnv, nor override an injected variable through
// env (env.yaml is a person's patch, so plattr-gen's check of plattr.yaml is not
// enough). Each is refused as Invalid, and no workload is made for it.
func TestApplication_CrossTenantSpecRefused(t *testing.T) {
	c := testenv.StartCluster(t)
	pg := testenv.StartPostgres(t)
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{DBAdminURL: leastPrivilegeAdmin(t, pg, "tenant-admin-s3cret")})
	ctx := context.Background()
	victim := newApp(ns, "test-victim")
	require.NoError(t, c.Client.Create(ctx, victim))
	t.Cleanup(func() { deleteAndWait(t, c, victim) })
	waitCondition(t, c, victim, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, "")

	cases := map[string]struct {
		reason string
		mutate func(*plattrv1.Application)
		want   string
	}{
		"test-thief": {
			reason: "secretEnv naming the victim's database Secret",
			mutate: func(a *plattrv1.Application) {
				a.Spec.SecretEnv = []plattrv1.SecretEnvVar{{Name: "STOLEN", SecretName: "test-victim-postgres", Key: "PGPASSWORD"}}
			},
			want: `spec.secretEnv[0].secretName: "test-victim-postgres" is the name of another app's postgres Secret`,
		},
		"test-forger": {
			reason: "env overriding an injected variable",
			mutate: func(a *plattrv1.Application) {
				a.Spec.Redis = &plattrv1.RedisSpec{Enabled: true}
				a.Spec.Env = []plattrv1.EnvVar{{Name: "REDIS_PASSWORD", Value: "chosen"}}
			},
			want: "spec.env[0].name: REDIS_PASSWORD is set by Plattr from the redis service's Secret",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			app := newApp(ns, name, tc.mutate)
			require.NoError(t, c.Client.Create(ctx, app))
			t.Cleanup(func() { deleteAndWait(t, c, app) })
			got := waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionFalse, controller.ReasonInvalid)
			assert.Contains(t, condition(got, plattrv1.ConditionReady).Message, tc.want, tc.reason)
			assert.True(t, meta(got, plattrv1.ConditionStalled), tc.reason)
			err := c.Client.Get(ctx, client.ObjectKeyFromObject(app), &appsv1.Deployment{})
			assert.True(t, apierrors.IsNotFound(err), "no Deployment for a refused spec (%s): %v", tc.reason, err)
		})
	}
}
