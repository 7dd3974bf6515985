package controller_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
	"github.com/plattr/plattr/operator/services/postgres"
	"github.com/plattr/plattr/operator/services/redis"
)

// podLogins plays the app's pods: each pod reads the Redis and PostgreSQL
// Secrets when it is first seen (as a container reads its environment at
// start) and keeps those credentials; every pod that exists logs in with
// them, again and again (testenv.KeepLoggingIn), until stop.
func podLogins(t *testing.T, c *testenv.Cluster, ns, app string) (stop func() (ok, failed int64)) {
	ctx := context.Background()
	creds := map[string][2]string{} // pod UID → REDIS_URL and DATABASE_URL read at its start
	return testenv.KeepLoggingIn(t, func() error {
		var pods corev1.PodList
		if err := c.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{plattrv1.LabelApp: app}); err != nil {
			return nil // the API server's trouble, not a login
		}
		var errs []error
		for _, p := range pods.Items {
			u, seen := creds[string(p.UID)]
			if !seen {
				var rs, ps corev1.Secret
				if c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: app + "-redis"}, &rs) != nil ||
					c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: app + "-postgres"}, &ps) != nil {
					continue
				}
				u = [2]string{string(rs.Data[redis.KeyURL]), string(ps.Data[postgres.KeyURL])}
				creds[string(p.UID)] = u
			}
			var podErrs []error
			opt, err := goredis.ParseURL(u[0])
			require.NoError(t, err)
			opt.MaxRetries = -1
			rc := goredis.NewClient(opt)
			if err := rc.Ping(ctx).Err(); err != nil {
				podErrs = append(podErrs, fmt.Errorf("pod %s: Redis: %w", p.Name, err))
			}
			rc.Close()
			conn, err := pgx.Connect(ctx, u[1])
			if err != nil {
				podErrs = append(podErrs, fmt.Errorf("pod %s: PostgreSQL: %w", p.Name, err))
			} else {
				conn.Close(ctx)
			}
			// A pod gone since the list above logs in no more: its attempt
			// stands for nothing a running pod would see.
			if len(podErrs) > 0 && !apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKeyFromObject(&p), &corev1.Pod{})) {
				errs = append(errs, podErrs...)
			}
		}
		return errors.Join(errs...)
	})
}

// A rotation by spec.credentials.rotate (env.yaml, a reviewed commit), on the
// real PostgreSQL and Redis: the pods restart with new credentials while the
// old ones still work; no login fails; after it the old ones are refused and
// the Secrets hold the new.
func TestApplication_RotateCredentialsWithNoFailedLogin(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	rd := testenv.StartRedis(t)
	pg := testenv.StartPostgres(t)
	ns := envNamespace(t, c)
	op := startOperator(t, c, ns, operator.Config{RedisAdminURL: rd.AdminURL, DBAdminURL: leastPrivilegeAdmin(t, pg, "rotate-admin-pw"), BaseDomain: "apps.example.com"})
	ctx := context.Background()
	app := newApp(ns, "test-rotate", func(a *plattrv1.Application) {
		a.Spec.Redis, a.Spec.Replicas = &plattrv1.RedisSpec{Enabled: true}, ptr.To[int32](2)
	})
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	got := waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionTrue, controller.ReasonReady)
	require.Len(t, got.Status.Credentials, 2)
	assert.Equal(t, "postgres", got.Status.Credentials[0].Service)
	assert.Equal(t, "redis", got.Status.Credentials[1].Service)
	old := secretData(t, c, ns, "test-rotate-redis")
	oldDB := secretData(t, c, ns, "test-rotate-postgres")

	stop := podLogins(t, c, ns, "test-rotate")
	time.Sleep(300 * time.Millisecond)
	setSpec(t, c, app, func(s *plattrv1.ApplicationSpec) { s.Credentials = &plattrv1.CredentialsSpec{Rotate: "2026-12-05"} })
	testenv.Eventually(t, 60*time.Second, "the rotation to finish", func() (bool, error) {
		a := mustGet(t, c, app)
		done := 0
		var msgs []string
		for _, cs := range a.Status.Credentials {
			if cs.Rotated == "2026-12-05" && !cs.Rotating {
				done++
			}
			msgs = append(msgs, cs.Service+": "+cs.Message)
		}
		return done == 2 && isTrue(a, plattrv1.ConditionReady), errString(strings.Join(msgs, "; "))
	})
	time.Sleep(300 * time.Millisecond)
	ok, failed := stop()
	assert.Zero(t, failed, "no failed login while the pods moved to the new credentials")
	assert.Greater(t, ok, int64(5))

	current := secretData(t, c, ns, "test-rotate-redis")
	assert.NotEqual(t, string(old[redis.KeyPassword]), string(current[redis.KeyPassword]), "the Secret holds new credentials")
	oldClient, err := goredis.ParseURL(string(old[redis.KeyURL]))
	require.NoError(t, err)
	oc := goredis.NewClient(oldClient)
	defer oc.Close()
	assert.ErrorContains(t, oc.Ping(ctx).Err(), "WRONGPASS", "the previous credentials are retired")
	currentDB := secretData(t, c, ns, "test-rotate-postgres")
	assert.NotEqual(t, string(oldDB[postgres.KeyUser]), string(currentDB[postgres.KeyUser]), "the other login role")
	_, err = pgx.Connect(ctx, string(oldDB[postgres.KeyURL]))
	assert.ErrorContains(t, err, "password authentication failed", "the previous PostgreSQL login is retired")
	conn, err := pgx.Connect(ctx, string(currentDB[postgres.KeyURL]))
	require.NoError(t, err)
	conn.Close(ctx)
	err = c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: plattrv1.PreviousSecretName("test-rotate", "redis")}, &corev1.Secret{})
	assert.True(t, client.IgnoreNotFound(err) == nil && err != nil, "the previous credentials' Secret is gone")

	// The same token again rotates nothing.
	before := secretData(t, c, ns, "test-rotate-redis")
	setSpec(t, c, app, func(s *plattrv1.ApplicationSpec) { s.Replicas = ptr.To[int32](1) })
	testenv.Eventually(t, 30*time.Second, "the new generation", func() (bool, error) {
		a := mustGet(t, c, app)
		return a.Status.ObservedGeneration == a.Generation && isTrue(a, plattrv1.ConditionReady), nil
	})
	assert.Equal(t, before, secretData(t, c, ns, "test-rotate-redis"))
	scanForSecrets(t, c, ns, op, []string{string(old[redis.KeyPassword]), string(current[redis.KeyPassword]),
		string(oldDB[postgres.KeyPassword]), string(currentDB[postgres.KeyPassword])})
}

// spec.credentials.every: credentials older than it rotate on their own, and
// the status says when the next rotation comes.
func TestApplication_RotateCredentialsOnSchedule(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	rd := testenv.StartRedis(t)
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{RedisAdminURL: rd.AdminURL, BaseDomain: "apps.example.com"})
	ctx := context.Background()
	app := newApp(ns, "test-every", func(a *plattrv1.Application) {
		a.Spec.Database, a.Spec.Redis = nil, &plattrv1.RedisSpec{Enabled: true}
		a.Spec.Credentials = &plattrv1.CredentialsSpec{Every: "1h"}
	})
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	got := waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionTrue, controller.ReasonReady)
	require.Len(t, got.Status.Credentials, 1)
	cs := got.Status.Credentials[0]
	require.NotNil(t, cs.Next)
	assert.Equal(t, cs.Since.Add(time.Hour), cs.Next.Time, "the next rotation, an hour after the credentials were made")
	old := secretData(t, c, ns, "test-every-redis")

	// The credentials are two hours old (as if made then): they rotate.
	got.Status.Credentials[0].Since = metav1.NewTime(time.Now().Add(-2 * time.Hour).Truncate(time.Second))
	require.NoError(t, c.Client.Status().Update(ctx, got))
	testenv.Eventually(t, 60*time.Second, "the scheduled rotation", func() (bool, error) {
		a := mustGet(t, c, app)
		cs := a.Status.Credentials[0]
		return !cs.Rotating && time.Since(cs.Since.Time) < time.Minute && isTrue(a, plattrv1.ConditionReady), errString(cs.Message)
	})
	assert.NotEqual(t, string(old[redis.KeyPassword]), string(secretData(t, c, ns, "test-every-redis")[redis.KeyPassword]))
	a := mustGet(t, c, app)
	assert.Empty(t, a.Status.Credentials[0].Rotated, "no rotation was asked for in the spec")
	assert.True(t, a.Status.Credentials[0].Next.After(time.Now().Add(50*time.Minute)), "the next one an hour on")

	// Too often is refused, naming the field.
	setSpec(t, c, app, func(s *plattrv1.ApplicationSpec) { s.Credentials.Every = "5m" })
	got = waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionFalse, controller.ReasonInvalid)
	assert.Contains(t, condition(got, plattrv1.ConditionReady).Message, "spec.credentials.every: 5m is shorter than 1h0m0s")
}
