package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/plattr/plattr/internal/fakekeycloak"
	"github.com/plattr/plattr/internal/fakeopensearch"
	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
	"github.com/plattr/plattr/operator/services/postgres"
)

func pgExists(t *testing.T, adminURL, kind, name string) bool {
	t.Helper()
	q := "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)"
	if kind == "role" {
		q = "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)"
	}
	return testenv.QueryRow[bool](t, adminURL, q, name)
}

// A pod the namespace's quota refuses: the Application says so, as the
// Deployment does, rather than only that no replica is available.
func TestApplication_WorkloadSaysWhyNoPodIsMade(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	ns := envNamespace(t, c)
	ctx := context.Background()
	require.NoError(t, c.Client.Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-more-pods"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}}))
	// The API server's quota admission reads quotas from its own cache: under
	// load a pod made right after the quota may pass. A dry run says when it
	// is enforced.
	testenv.Eventually(t, 30*time.Second, "the quota to be enforced", func() (bool, error) {
		probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "probe-"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: image1}}}}
		err := c.Client.Create(ctx, probe, client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "exceeded quota: no-more-pods"), err
	})
	startOperator(t, c, ns, operator.Config{BaseDomain: "apps.example.com"})
	app := newApp(ns, "test-quota", func(a *plattrv1.Application) { a.Spec.Database = nil })
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	testenv.Eventually(t, 60*time.Second, "WorkloadReady to name the quota", func() (bool, error) {
		cond := condition(mustGet(t, c, app), plattrv1.ConditionWorkloadReady)
		if cond == nil {
			return false, nil
		}
		return cond.Status == metav1.ConditionFalse && cond.Reason == controller.ReasonProgressing &&
			strings.HasPrefix(cond.Message, "0/1 replicas updated, 0 available: pods ") &&
			strings.Contains(cond.Message, "is forbidden: exceeded quota: no-more-pods"), errString(cond.Message)
	})
	assert.False(t, isTrue(mustGet(t, c, app), plattrv1.ConditionReady))
}

// The whole life of an Application: database and workload, readiness, a new
// image, isolation between apps, and deletion with both policies.
func TestApplication_Lifecycle(t *testing.T) {
	c := testenv.StartCluster(t)
	pg := testenv.StartPostgres(t)
	adminURL := leastPrivilegeAdmin(t, pg, "admin-s3cret-pw")
	ns := envNamespace(t, c)
	op := startOperator(t, c, ns, operator.Config{DBAdminURL: adminURL, BaseDomain: "apps.example.com"})
	ctx := context.Background()

	shop := newApp(ns, "test-shop")
	blog := newApp(ns, "test-blog", func(a *plattrv1.Application) { a.Spec.DeletionPolicy = plattrv1.DeletionPolicyRetain })
	require.NoError(t, c.Client.Create(ctx, shop))
	require.NoError(t, c.Client.Create(ctx, blog))
	t.Cleanup(func() {
		pg.Exec(t, `DROP DATABASE IF EXISTS plattr_test_blog WITH (FORCE)`)
		pg.Exec(t, `DROP ROLE IF EXISTS plattr_test_blog`)
	})

	// Database first, the workload follows; without nodes the workload is not ready.
	waitCondition(t, c, shop, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, controller.ReasonProvisioned)
	got := waitCondition(t, c, shop, plattrv1.ConditionWorkloadReady, metav1.ConditionFalse, controller.ReasonProgressing)
	assert.Equal(t, metav1.ConditionFalse, condition(got, plattrv1.ConditionReady).Status)
	assert.Equal(t, "http://test-shop.plattr.apps.example.com", got.Status.URL, "host from the namespace's environment and the base domain")

	var dep appsv1.Deployment
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "test-shop"}, &dep))
	ctr := dep.Spec.Template.Spec.Containers[0]
	assert.Equal(t, image1, ctr.Image)
	require.Len(t, ctr.EnvFrom, 1)
	assert.Equal(t, "test-shop-postgres", ctr.EnvFrom[0].SecretRef.Name, "credentials reach the app by Secret reference")
	assert.Equal(t, "/healthz", ctr.ReadinessProbe.HTTPGet.Path)
	require.NotEmpty(t, ctr.Env)
	assert.Equal(t, corev1.EnvVar{Name: "PORT", Value: fmt.Sprint(ctr.Ports[0].ContainerPort)}, ctr.Env[0], "PORT says where to listen, as plattr dev does")
	var svc corev1.Service
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "test-shop"}, &svc))
	var ing networkingv1.Ingress
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "test-shop"}, &ing))
	assert.Equal(t, "test-shop.plattr.apps.example.com", ing.Spec.Rules[0].Host)
	assert.True(t, metav1.IsControlledBy(&dep, got), "owned by the Application")

	// The Secret's URL logs in, creates a table, and cannot reach blog's database.
	shopSecret := secretData(t, c, ns, "test-shop-postgres")
	waitCondition(t, c, blog, plattrv1.ConditionDatabaseReady, metav1.ConditionTrue, "")
	conn, err := pgx.Connect(ctx, string(shopSecret[postgres.KeyURL]))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE orders (id int)")
	require.NoError(t, err)
	conn.Close(ctx)
	other, _ := url.Parse(string(shopSecret[postgres.KeyURL]))
	other.Path = "/plattr_test_blog"
	_, err = pgx.Connect(ctx, other.String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "permission denied for database")

	// With nodes, the Deployment becomes Available and the Application Ready.
	c.StartWorkloads(t)
	got = waitCondition(t, c, shop, plattrv1.ConditionReady, metav1.ConditionTrue, controller.ReasonReady)
	assert.Equal(t, got.Generation, got.Status.ObservedGeneration)

	// A new image rolls the Deployment, and the Application is Ready again on it.
	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.Image = image2
	require.NoError(t, c.Client.Patch(ctx, got, patch))
	testenv.Eventually(t, 30*time.Second, "the Deployment to roll to the new image", func() (bool, error) {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(&dep), &dep); err != nil {
			return false, err
		}
		return dep.Spec.Template.Spec.Containers[0].Image == image2, nil
	})
	testenv.Eventually(t, 60*time.Second, "Ready on the new generation", func() (bool, error) {
		a := &plattrv1.Application{}
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(shop), a); err != nil {
			return false, err
		}
		cond := condition(a, plattrv1.ConditionReady)
		return cond != nil && cond.Status == metav1.ConditionTrue && a.Status.ObservedGeneration == a.Generation, nil
	})
	var rsList appsv1.ReplicaSetList
	require.NoError(t, c.Client.List(ctx, &rsList, client.InNamespace(ns)))
	images := map[string]bool{}
	for _, rs := range rsList.Items {
		images[rs.Spec.Template.Spec.Containers[0].Image] = true
	}
	assert.True(t, images[image1] && images[image2], "a rollout: one ReplicaSet per image")

	// Delete: the database and role go. Retain: they stay.
	require.True(t, pgExists(t, adminURL, "database", "plattr_test_shop"))
	require.NoError(t, c.Client.Delete(ctx, shop))
	require.NoError(t, c.Client.Delete(ctx, blog))
	for _, a := range []*plattrv1.Application{shop, blog} {
		testenv.Eventually(t, 30*time.Second, a.Name+" to be gone", func() (bool, error) {
			err := c.Client.Get(ctx, client.ObjectKeyFromObject(a), &plattrv1.Application{})
			return apierrors.IsNotFound(err), err
		})
	}
	assert.False(t, pgExists(t, adminURL, "database", "plattr_test_shop"), "deletionPolicy Delete drops the database")
	assert.False(t, pgExists(t, adminURL, "role", "plattr_test_shop"), "and the role")
	assert.True(t, pgExists(t, adminURL, "database", "plattr_test_blog"), "deletionPolicy Retain keeps the database")
	assert.True(t, pgExists(t, adminURL, "role", "plattr_test_blog"))
	var events corev1.EventList
	require.NoError(t, c.Client.List(ctx, &events, client.InNamespace(ns)))
	var retained bool
	for _, e := range events.Items {
		retained = retained || (e.Reason == "Retained" && e.InvolvedObject.Name == "test-blog")
	}
	assert.True(t, retained, "an event says the data was kept")

	scanForSecrets(t, c, ns, op, []string{"admin-s3cret-pw", string(shopSecret[postgres.KeyPassword])})
}

// scanForSecrets fails when a password shows in the operator's logs, the
// namespace's events or any Application's status.
func scanForSecrets(t *testing.T, c *testenv.Cluster, ns string, op *running, secrets []string) {
	t.Helper()
	ctx := context.Background()
	var hay strings.Builder
	hay.WriteString(op.logs.String())
	var events corev1.EventList
	require.NoError(t, c.Client.List(ctx, &events, client.InNamespace(ns)))
	for _, e := range events.Items {
		hay.WriteString(e.Message + "\n" + e.Reason + "\n")
	}
	var apps plattrv1.ApplicationList
	require.NoError(t, c.Client.List(ctx, &apps, client.InNamespace(ns)))
	for _, a := range apps.Items {
		for _, cond := range a.Status.Conditions {
			hay.WriteString(cond.Message + "\n")
		}
	}
	require.NotEmpty(t, op.logs.String(), "the scan must have logs to read")
	for _, s := range secrets {
		require.NotEmpty(t, s)
		assert.NotContains(t, hay.String(), s, "a secret leaked into logs, events or status")
	}
}

// An unchanged Application costs nothing: no API write, no Ensure (DDL) on the
// database, however often it is reconciled — the periodic observation of its
// backends (PostgreSQL, Redis: the password checked by a login) included.
func TestApplication_SteadyStateNoWrites(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	pg := testenv.StartPostgres(t)
	ns := envNamespace(t, c)
	rd := testenv.StartRedis(t)
	op := startOperator(t, c, ns, operator.Config{DBAdminURL: leastPrivilegeAdmin(t, pg, "admin-pw"), RedisAdminURL: rd.AdminURL,
		BaseDomain: "apps.example.com", Resync: time.Minute})
	ctx := context.Background()
	app := newApp(ns, "test-steady", func(a *plattrv1.Application) {
		a.Spec.Replicas = ptr.To[int32](2)
		a.Spec.Redis = &plattrv1.RedisSpec{Enabled: true}
	})
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionTrue, "")
	time.Sleep(time.Second) // let the last status and owned-object events settle

	writes, ensures := op.client.writes.Load(), op.pg.ensures.Load()
	for i := 0; i < 20; i++ {
		res, err := op.reconciler.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(app)})
		require.NoError(t, err)
		assert.Equal(t, time.Minute, res.RequeueAfter, "its backing services are observed again after the resync period, reading only")
	}
	assert.Equal(t, writes, op.client.writes.Load(), "no write to the API server in steady state")
	assert.Equal(t, ensures, op.pg.ensures.Load(), "no DDL on PostgreSQL in steady state")
	var dep appsv1.Deployment
	require.NoError(t, c.Client.Get(ctx, client.ObjectKeyFromObject(app), &dep))
	assert.Equal(t, int32(2), *dep.Spec.Replicas)

	// A hand edit of the Deployment is undone: the operator owns its spec.
	patch := client.MergeFrom(dep.DeepCopy())
	dep.Spec.Replicas = ptr.To[int32](7)
	require.NoError(t, c.Client.Patch(ctx, &dep, patch))
	testenv.Eventually(t, 30*time.Second, "the replicas to be restored", func() (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKeyFromObject(app), &dep)
		return err == nil && *dep.Spec.Replicas == 2, err
	})
}

// Missing configuration for a service an Application asks for is a clear,
// stalled condition, not a crash.
func TestApplication_NotConfigured(t *testing.T) {
	c := testenv.StartCluster(t)
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{BaseDomain: "apps.example.com"})
	app := newApp(ns, "test-noconf")
	require.NoError(t, c.Client.Create(context.Background(), app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	got := waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionFalse, controller.ReasonNotConfigured)
	assert.Contains(t, condition(got, plattrv1.ConditionDatabaseReady).Message, "DB_ADMIN_URL")
	got = waitCondition(t, c, app, plattrv1.ConditionStalled, metav1.ConditionTrue, "")
	assert.Equal(t, metav1.ConditionFalse, condition(got, plattrv1.ConditionReady).Status)
	assert.GreaterOrEqual(t, metricValue(t, "plattr_service_errors_total", map[string]string{"service": "postgres", "reason": controller.ReasonNotConfigured}), 1.0)
	assert.GreaterOrEqual(t, metricValue(t, "plattr_application_reconciles_total", map[string]string{"outcome": "stalled"}), 1.0)
	assert.GreaterOrEqual(t, metricValue(t, "plattr_applications", map[string]string{"environment": "plattr", "ready": "False"}), 1.0)
}

// A Secret of the same name that Plattr does not own is never overwritten.
func TestApplication_ForeignSecretKept(t *testing.T) {
	c := testenv.StartCluster(t)
	pg := testenv.StartPostgres(t)
	ns := envNamespace(t, c)
	ctx := context.Background()
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "test-foreign-postgres", Namespace: ns}, StringData: map[string]string{"mine": "yes"}}
	require.NoError(t, c.Client.Create(ctx, foreign))
	op := startOperator(t, c, ns, operator.Config{DBAdminURL: leastPrivilegeAdmin(t, pg, "admin-pw")})
	defer func() {
		if t.Failed() {
			t.Log(op.logs.String())
		}
	}()
	app := newApp(ns, "test-foreign")
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	got := waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionFalse, controller.ReasonSecretConflict)
	assert.Contains(t, condition(got, plattrv1.ConditionDatabaseReady).Message, "not managed by Plattr")
	assert.False(t, pgExists(t, pg.AdminURL, "database", "plattr_test_foreign"), "nothing is provisioned for a Secret that is not ours")
	assert.Equal(t, map[string][]byte{"mine": []byte("yes")}, secretData(t, c, ns, "test-foreign-postgres"))
}

// PostgreSQL down while an Application is created: DatabaseReady=False with the
// reason, retries, and Ready once PostgreSQL is back, without restarting.
func TestApplication_PostgresOutage(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	pp := testenv.StartPrivatePostgres(t)
	adminURL := leastPrivilegeAdmin(t, &pp.Postgres, "outage-admin-s3cret")
	ns := envNamespace(t, c)
	op := startOperator(t, c, ns, operator.Config{DBAdminURL: adminURL})
	require.NoError(t, pp.Stop())
	ctx := context.Background()
	app := newApp(ns, "test-outage")
	require.NoError(t, c.Client.Create(ctx, app))
	got := waitCondition(t, c, app, plattrv1.ConditionDatabaseReady, metav1.ConditionFalse, controller.ReasonProvisioningFailed)
	msg := condition(got, plattrv1.ConditionDatabaseReady).Message
	assert.Contains(t, msg, "cannot connect to the PostgreSQL server")
	assert.NotContains(t, msg, "outage-admin-s3cret")
	require.NoError(t, pp.Start())
	waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionTrue, "")
	require.NoError(t, c.Client.Delete(ctx, app))
	testenv.Eventually(t, 30*time.Second, "deletion", func() (bool, error) {
		return apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKeyFromObject(app), &plattrv1.Application{})), nil
	})
	scanForSecrets(t, c, ns, op, []string{"outage-admin-s3cret"})
}

// The operator stopped in the middle of its work and started again converges,
// with exactly one of everything.
func TestApplication_RestartConverges(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	pg := testenv.StartPostgres(t)
	adminURL := leastPrivilegeAdmin(t, pg, "admin-pw")
	ns := envNamespace(t, c)
	ctx := context.Background()
	var apps []*plattrv1.Application
	for i := 0; i < 5; i++ {
		app := newApp(ns, fmt.Sprintf("test-restart%d", i))
		require.NoError(t, c.Client.Create(ctx, app))
		apps = append(apps, app)
	}
	first := startOperator(t, c, ns, operator.Config{DBAdminURL: adminURL})
	time.Sleep(300 * time.Millisecond) // mid-reconcile
	first.stop()
	startOperator(t, c, ns, operator.Config{DBAdminURL: adminURL})
	for _, app := range apps {
		waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionTrue, "")
	}
	var deps appsv1.DeploymentList
	require.NoError(t, c.Client.List(ctx, &deps, client.InNamespace(ns)))
	assert.Len(t, deps.Items, 5, "one Deployment per app")
	var secrets corev1.SecretList
	require.NoError(t, c.Client.List(ctx, &secrets, client.InNamespace(ns)))
	assert.Len(t, secrets.Items, 5, "one Secret per app")
	for _, app := range apps {
		s := secretData(t, c, ns, app.Name+"-postgres")
		conn, err := pgx.Connect(ctx, string(s[postgres.KeyURL]))
		require.NoError(t, err, "the Secret's password is the role's password")
		conn.Close(ctx)
		require.NoError(t, c.Client.Delete(ctx, app))
	}
	for _, app := range apps {
		testenv.Eventually(t, 30*time.Second, "deletion", func() (bool, error) {
			return apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKeyFromObject(app), &plattrv1.Application{})), nil
		})
	}
}

// Two services behind the same contract: both provisioned and referenced;
// disabling one removes its Secret, its reference and (policy Delete) its user.
func TestApplication_RedisAndDisable(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	pg := testenv.StartPostgres(t)
	rd := testenv.StartRedis(t)
	ns := envNamespace(t, c)
	op := startOperator(t, c, ns, operator.Config{DBAdminURL: leastPrivilegeAdmin(t, pg, "admin-pw"), RedisAdminURL: rd.AdminURL, Resync: time.Second})
	ctx := context.Background()
	app := newApp(ns, "test-cache", func(a *plattrv1.Application) { a.Spec.Redis = &plattrv1.RedisSpec{Enabled: true} })
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	got := waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionTrue, "")
	assert.Equal(t, metav1.ConditionTrue, condition(got, plattrv1.ConditionRedisReady).Status)

	var dep appsv1.Deployment
	require.NoError(t, c.Client.Get(ctx, client.ObjectKeyFromObject(app), &dep))
	var refs []string
	for _, e := range dep.Spec.Template.Spec.Containers[0].EnvFrom {
		refs = append(refs, e.SecretRef.Name)
	}
	assert.Equal(t, []string{"test-cache-postgres", "test-cache-redis"}, refs)
	redisSecret := secretData(t, c, ns, "test-cache-redis")
	assert.Equal(t, "plattr:test-cache:", string(redisSecret["REDIS_KEY_PREFIX"]))
	_, err := rd.Client(t).Do(ctx, "ACL", "GETUSER", "plattr:test-cache").Result()
	require.NoError(t, err, "the ACL user exists")

	// A Redis restart without an ACL file forgets its users, and nothing in
	// Kubernetes changes: the operator's resync restores the user, same password.
	require.NoError(t, rd.Client(t).Do(ctx, "ACL", "DELUSER", "plattr:test-cache").Err())
	testenv.Eventually(t, 30*time.Second, "the ACL user to be restored", func() (bool, error) {
		_, err := rd.Client(t).Do(ctx, "ACL", "GETUSER", "plattr:test-cache").Result()
		return err == nil, nil
	})
	appRedis := redisClient(t, string(redisSecret["REDIS_URL"]))
	require.NoError(t, appRedis.Set(ctx, "plattr:test-cache:k", "v", time.Minute).Err(), "the app's credentials work again")
	require.NoError(t, appRedis.Del(ctx, "plattr:test-cache:k").Err())

	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.Redis.Enabled = false
	require.NoError(t, c.Client.Patch(ctx, got, patch))
	testenv.Eventually(t, 30*time.Second, "the Redis Secret and its reference to go", func() (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "test-cache-redis"}, &corev1.Secret{})
		if !apierrors.IsNotFound(err) {
			return false, err
		}
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(app), &dep); err != nil {
			return false, err
		}
		return len(dep.Spec.Template.Spec.Containers[0].EnvFrom) == 1, nil
	})
	_, err = rd.Client(t).Do(ctx, "ACL", "GETUSER", "plattr:test-cache").Result()
	assert.ErrorIs(t, err, goredis.Nil, "deletionPolicy Delete removed the ACL user")
	// The Secret goes before the reconcile's status patch: wait for the status
	// of the generation that disabled Redis.
	testenv.Eventually(t, 30*time.Second, "Ready with no RedisReady condition (a disabled service has none)", func() (bool, error) {
		got = mustGet(t, c, app)
		return got.Status.ObservedGeneration == got.Generation && isTrue(got, plattrv1.ConditionReady) &&
			condition(got, plattrv1.ConditionRedisReady) == nil, nil
	})
	scanForSecrets(t, c, ns, op, []string{string(redisSecret["REDIS_PASSWORD"])})
}

// All four services at once: real PostgreSQL and Redis, the OpenSearch and
// Keycloak fakes. Ready=True, four Secrets referenced, and no credential of any of
// them in logs, events or status.
func TestApplication_AllFourServices(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	pg := testenv.StartPostgres(t)
	rd := testenv.StartRedis(t)
	os := fakeopensearch.New("admin", "os-admin-s3cret")
	t.Cleanup(os.Close)
	kc := fakekeycloak.New("admin", "kc-admin-s3cret")
	t.Cleanup(kc.Close)
	ns := envNamespace(t, c)
	op := startOperator(t, c, ns, operator.Config{DBAdminURL: leastPrivilegeAdmin(t, pg, "pg-admin-s3cret"), RedisAdminURL: rd.AdminURL,
		OpenSearchURL: os.URL, OpenSearchUser: "admin", OpenSearchPassword: "os-admin-s3cret",
		KeycloakURL: kc.URL, KeycloakUser: "admin", KeycloakPassword: "kc-admin-s3cret", BaseDomain: "apps.example.com"})
	ctx := context.Background()
	app := newApp(ns, "test-full", func(a *plattrv1.Application) {
		a.Spec.Redis = &plattrv1.RedisSpec{Enabled: true}
		a.Spec.Search = &plattrv1.SearchSpec{Enabled: true}
		a.Spec.Auth = &plattrv1.AuthSpec{Enabled: true, RedirectPaths: []string{"/callback"}}
	})
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	got := waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionTrue, "")
	for _, typ := range []string{plattrv1.ConditionDatabaseReady, plattrv1.ConditionRedisReady, plattrv1.ConditionSearchReady, plattrv1.ConditionAuthReady, plattrv1.ConditionWorkloadReady} {
		assert.Equal(t, metav1.ConditionTrue, condition(got, typ).Status, typ)
	}
	var dep appsv1.Deployment
	require.NoError(t, c.Client.Get(ctx, client.ObjectKeyFromObject(app), &dep))
	var refs []string
	for _, e := range dep.Spec.Template.Spec.Containers[0].EnvFrom {
		refs = append(refs, e.SecretRef.Name)
	}
	assert.Equal(t, []string{"test-full-postgres", "test-full-redis", "test-full-opensearch", "test-full-oidc"}, refs)
	oidc := secretData(t, c, ns, "test-full-oidc")
	assert.Equal(t, kc.URL+"/realms/plattr-plattr", string(oidc["OIDC_ISSUER_URL"]))
	assert.Equal(t, []string{"https://test-full.plattr.apps.example.com/callback"}, kc.Clients("plattr-plattr")[0].RedirectURIs)
	search := secretData(t, c, ns, "test-full-opensearch")
	assert.Equal(t, "plattr.test-full.", string(search["OPENSEARCH_INDEX_PREFIX"]))

	// Disable search: with deletionPolicy Delete, its role and user go with its Secret.
	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.Search.Enabled = false
	require.NoError(t, c.Client.Patch(ctx, got, patch))
	testenv.Eventually(t, 30*time.Second, "the OpenSearch user to go", func() (bool, error) {
		return !os.Has("internalusers", "plattr.test-full"), nil
	})
	secrets := []string{"pg-admin-s3cret", "os-admin-s3cret", "kc-admin-s3cret", string(oidc["OIDC_CLIENT_SECRET"]), string(search["OPENSEARCH_PASSWORD"]),
		string(secretData(t, c, ns, "test-full-redis")["REDIS_PASSWORD"]), string(secretData(t, c, ns, "test-full-postgres")["PGPASSWORD"])}
	scanForSecrets(t, c, ns, op, secrets)
}

// A service that refuses an app for good (here Keycloak: no host to redirect to)
// made nothing; it must not hold the Application's deletion forever.
func TestApplication_InvalidServiceDoesNotBlockDeletion(t *testing.T) {
	c := testenv.StartCluster(t)
	kc := fakekeycloak.New("admin", "kc-admin-s3cret")
	t.Cleanup(kc.Close)
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{KeycloakURL: kc.URL, KeycloakUser: "admin", KeycloakPassword: "kc-admin-s3cret"}) // no base domain
	app := newApp(ns, "test-nohost", func(a *plattrv1.Application) {
		a.Spec.Database = nil
		a.Spec.Auth = &plattrv1.AuthSpec{Enabled: true}
	})
	require.NoError(t, c.Client.Create(context.Background(), app))
	got := waitCondition(t, c, app, plattrv1.ConditionAuthReady, metav1.ConditionFalse, controller.ReasonInvalid)
	assert.Contains(t, condition(got, plattrv1.ConditionAuthReady).Message, "no host to redirect to")
	assert.Contains(t, got.Finalizers, controller.Finalizer)
	deleteAndWait(t, c, app)
	assert.Empty(t, kc.Clients("plattr-plattr"))
	assert.GreaterOrEqual(t, metricValue(t, "plattr_application_deletions_total", map[string]string{"deletion_policy": "Delete"}), 1.0)
	assert.GreaterOrEqual(t, metricValue(t, "plattr_service_errors_total", map[string]string{"service": "oidc", "reason": controller.ReasonInvalid}), 1.0)
}

// Keycloak is installed by Plattr itself (bases/keycloak): its database, role and
// Secret are Plattr's, its bootstrap admin Secret is made once by the operator, and
// the operator's Keycloak provisioner reads that same Secret. Nothing by hand.
func TestKeycloakInstall(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	pg := testenv.StartPostgres(t)
	kc := fakekeycloak.New("admin", "not-yet")
	t.Cleanup(kc.Close)
	ns := envNamespace(t, c)
	adminURL := leastPrivilegeAdmin(t, pg, "pg-admin-pw")
	startOperator(t, c, ns, operator.Config{DBAdminURL: adminURL, KeycloakURL: kc.URL, KeycloakAdminSecret: ns + "/keycloak-admin", BaseDomain: "apps.example.com"})
	ctx := context.Background()

	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "bases", "keycloak"))
	require.NoError(t, err)
	require.Len(t, res.Resources(), 1)
	data, err := res.Resources()[0].MarshalJSON()
	require.NoError(t, err)
	keycloakApp := &plattrv1.Application{}
	require.NoError(t, json.Unmarshal(data, keycloakApp))
	keycloakApp.Namespace = ns
	keycloakApp.Spec.DeletionPolicy = plattrv1.DeletionPolicyDelete
	require.NoError(t, c.Client.Create(ctx, keycloakApp))
	t.Cleanup(func() { deleteAndWait(t, c, keycloakApp) })

	waitCondition(t, c, keycloakApp, plattrv1.ConditionReady, metav1.ConditionTrue, "")
	admin := secretData(t, c, ns, "keycloak-admin")
	assert.Len(t, string(admin["password"]), 32, "the operator generated the bootstrap admin password")
	db := secretData(t, c, ns, "keycloak-postgres")
	assert.True(t, pgExists(t, adminURL, "database", string(db["PGDATABASE"])), "Keycloak's database, made by Plattr")
	var dep appsv1.Deployment
	require.NoError(t, c.Client.Get(ctx, client.ObjectKeyFromObject(keycloakApp), &dep))
	ctr := dep.Spec.Template.Spec.Containers[0]
	assert.Equal(t, []string{"start"}, ctr.Args)
	refs := map[string]string{}
	for _, e := range ctr.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			refs[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	assert.Equal(t, "keycloak-admin/password", refs["KC_BOOTSTRAP_ADMIN_PASSWORD"])
	assert.Equal(t, "keycloak-postgres/PGPASSWORD", refs["KC_DB_PASSWORD"])

	// The operator logs in to Keycloak with the password Keycloak was started with.
	kc.SetAdminPassword(string(admin["password"]))
	app := newApp(ns, "test-sso", func(a *plattrv1.Application) {
		a.Spec.Database = nil
		a.Spec.Auth = &plattrv1.AuthSpec{Enabled: true}
	})
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	waitCondition(t, c, app, plattrv1.ConditionAuthReady, metav1.ConditionTrue, "")
	assert.Len(t, kc.Clients("plattr-plattr"), 1)
}

func redisClient(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	require.NoError(t, err)
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}
