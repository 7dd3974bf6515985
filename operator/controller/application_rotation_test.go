package controller_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
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

	"github.com/plattr/plattr/internal/fakekeycloak"
	"github.com/plattr/plattr/internal/fakeopensearch"
	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
	"github.com/plattr/plattr/operator/services/keycloak"
	"github.com/plattr/plattr/operator/services/opensearch"
	"github.com/plattr/plattr/operator/services/postgres"
	"github.com/plattr/plattr/operator/services/redis"
)

// podLogins plays the app's pods: each pod reads the Secrets of services
// (Secret name suffixes) when it is first seen (as a container reads its
// environment at start) and keeps those credentials; every pod that exists
// logs in with them to each service, again and again
// (testenv.KeepLoggingIn), until stop.
func podLogins(t *testing.T, c *testenv.Cluster, ns, app, redirectURI string, services ...string) (stop func() (ok, failed int64)) {
	ctx := context.Background()
	creds := map[string]map[string]map[string][]byte{} // pod UID → service → the Secret's data at its start
	return testenv.KeepLoggingIn(t, func() error {
		var pods corev1.PodList
		if err := c.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{plattrv1.LabelApp: app}); err != nil {
			return nil // the API server's trouble, not a login
		}
		var errs []error
		for _, p := range pods.Items {
			env, seen := creds[string(p.UID)]
			if !seen {
				env = map[string]map[string][]byte{}
				var s corev1.Secret
				for _, svc := range services {
					if c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: app + "-" + svc}, &s) != nil {
						break
					}
					env[svc] = s.Data
				}
				if len(env) < len(services) {
					continue
				}
				creds[string(p.UID)] = env
			}
			var podErrs []error
			for _, svc := range services {
				if err := logIn(ctx, svc, env[svc], redirectURI); err != nil {
					podErrs = append(podErrs, fmt.Errorf("pod %s: %s: %w", p.Name, svc, err))
				}
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

// holdPods puts a finalizer on the app's pods, so that they stay, terminating,
// until release takes it off.
func holdPods(t *testing.T, c *testenv.Cluster, ns, app string) (release func()) {
	ctx := context.Background()
	const hold = "test.plattr.dev/hold"
	var pods corev1.PodList
	require.NoError(t, c.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{plattrv1.LabelApp: app}))
	require.NotEmpty(t, pods.Items)
	for i := range pods.Items {
		p := &pods.Items[i]
		patch := client.MergeFrom(p.DeepCopy())
		p.Finalizers = append(p.Finalizers, hold)
		require.NoError(t, c.Client.Patch(ctx, p, patch))
	}
	return func() {
		for _, p := range pods.Items {
			var now corev1.Pod
			if c.Client.Get(ctx, client.ObjectKeyFromObject(&p), &now) != nil {
				continue
			}
			patch := client.MergeFrom(now.DeepCopy())
			now.Finalizers = slices.DeleteFunc(now.Finalizers, func(f string) bool { return f == hold })
			require.NoError(t, c.Client.Patch(ctx, &now, patch))
		}
	}
}

// logIn is an app's login to a service with the data of its Secret (an OIDC
// login comes back to redirectURI).
func logIn(ctx context.Context, service string, data map[string][]byte, redirectURI string) error {
	switch service {
	case "redis":
		opt, err := goredis.ParseURL(string(data[redis.KeyURL]))
		if err != nil {
			return err
		}
		opt.MaxRetries = -1
		rc := goredis.NewClient(opt)
		defer rc.Close()
		return rc.Ping(ctx).Err()
	case "postgres":
		conn, err := pgx.Connect(ctx, string(data[postgres.KeyURL]))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	case "opensearch":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, string(data[opensearch.KeyURL])+"/_plugins/_security/authinfo", nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth(string(data[opensearch.KeyUser]), string(data[opensearch.KeyPassword]))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	case "oidc":
		return fakekeycloak.LogIn(ctx, string(data[keycloak.KeyIssuer]), string(data[keycloak.KeyClientID]), string(data[keycloak.KeySecret]), redirectURI)
	}
	return fmt.Errorf("no login for %s", service)
}

// A rotation by spec.credentials.rotate (env.yaml, a reviewed commit) of all
// four services — the real PostgreSQL and Redis, the OpenSearch and Keycloak
// fakes: the pods restart with new credentials while the old ones still work;
// no login fails; after it the old ones are refused and the Secrets hold the
// new.
func TestApplication_RotateCredentialsWithNoFailedLogin(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	rd := testenv.StartRedis(t)
	pg := testenv.StartPostgres(t)
	os := fakeopensearch.New("admin", "os-admin-s3cret")
	t.Cleanup(os.Close)
	kc := fakekeycloak.New("admin", "kc-admin-s3cret")
	t.Cleanup(kc.Close)
	kc.SetFeature(fakekeycloak.FeatureSecretRotation, true)
	ns := envNamespace(t, c)
	op := startOperator(t, c, ns, operator.Config{RedisAdminURL: rd.AdminURL, DBAdminURL: leastPrivilegeAdmin(t, pg, "rotate-admin-pw"),
		OpenSearchURL: os.URL, OpenSearchUser: "admin", OpenSearchPassword: "os-admin-s3cret",
		KeycloakURL: kc.URL, KeycloakUser: "admin", KeycloakPassword: "kc-admin-s3cret", BaseDomain: "apps.example.com",
		RotationDeadline: 2 * time.Second})
	ctx := context.Background()
	app := newApp(ns, "test-rotate", func(a *plattrv1.Application) {
		a.Spec.Redis, a.Spec.Replicas = &plattrv1.RedisSpec{Enabled: true}, ptr.To[int32](2)
		a.Spec.Search = &plattrv1.SearchSpec{Enabled: true}
		a.Spec.Auth = &plattrv1.AuthSpec{Enabled: true}
	})
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	got := waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionTrue, controller.ReasonReady)
	services := []string{"oidc", "opensearch", "postgres", "redis"}
	require.Len(t, got.Status.Credentials, len(services))
	for i, svc := range services {
		assert.Equal(t, svc, got.Status.Credentials[i].Service)
	}
	old := map[string]map[string][]byte{}
	for _, svc := range services {
		old[svc] = secretData(t, c, ns, "test-rotate-"+svc)
	}
	redirect := kc.Clients(keycloak.Realm("plattr"))[0].RedirectURIs[0]

	counted := func(svc, event string) float64 {
		return metricValue(t, "plattr_credential_rotations_total", map[string]string{"service": svc, "event": event})
	}
	countedBefore := map[string]float64{}
	for _, svc := range services {
		for _, event := range []string{"started", "completed", "stuck"} {
			countedBefore[svc+" "+event] = counted(svc, event)
		}
	}
	stop := podLogins(t, c, ns, "test-rotate", redirect, services...)
	time.Sleep(300 * time.Millisecond)
	// The pods running now stay while they terminate (a finalizer holds
	// them, as a long shutdown would): they log in with the previous
	// credentials all along, and the rotation must wait for them.
	release := holdPods(t, c, ns, "test-rotate")
	setSpec(t, c, app, func(s *plattrv1.ApplicationSpec) { s.Credentials = &plattrv1.CredentialsSpec{Rotate: "2026-12-05"} })
	waitCondition(t, c, app, plattrv1.ConditionCredentialsRotated, metav1.ConditionFalse, controller.ReasonRotationStuck)
	// The four Secrets of the rotation were made up to a second apart (their
	// creation times count whole seconds): the services pass the deadline
	// within a reconcile or two of each other, each counted once.
	var stuck *plattrv1.Application
	testenv.Eventually(t, 30*time.Second, "every service's rotation stuck", func() (bool, error) {
		stuck = mustGet(t, c, app)
		msg := condition(stuck, plattrv1.ConditionCredentialsRotated).Message
		return strings.Contains(msg, "the rotation of postgres, redis, opensearch, oidc, started "), errString(msg)
	})
	for _, cs := range stuck.Status.Credentials {
		assert.True(t, cs.Rotating, cs.Service)
		assert.Equal(t, "stuck for longer than 2s: waiting for 2 pod(s) still running with the previous credentials; both stay valid", cs.Message, cs.Service)
	}
	msg := condition(stuck, plattrv1.ConditionCredentialsRotated).Message
	assert.Contains(t, msg, ": waiting for 2 pod(s) still running with the previous credentials; both stay valid. Finish or roll back")
	assert.Contains(t, msg, "has waited longer than 2s")
	assert.True(t, isTrue(stuck, plattrv1.ConditionReady), "the app works meanwhile: Ready does not wait for the rotation")
	release()
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
		return done == len(services) && isTrue(a, plattrv1.ConditionReady) && isTrue(a, plattrv1.ConditionCredentialsRotated), errString(strings.Join(msgs, "; "))
	})
	time.Sleep(300 * time.Millisecond)
	ok, failed := stop()
	assert.Zero(t, failed, "no failed login while the pods moved to the new credentials")
	assert.Greater(t, ok, int64(5))

	secrets := []string{"rotate-admin-pw", "os-admin-s3cret", "kc-admin-s3cret"}
	for _, svc := range services {
		current := secretData(t, c, ns, "test-rotate-"+svc)
		assert.NotEqual(t, old[svc], current, "%s: the Secret holds new credentials", svc)
		require.NoError(t, logIn(ctx, svc, current, redirect), "%s: the new credentials log in", svc)
		assert.Error(t, logIn(ctx, svc, old[svc], redirect), "%s: the previous credentials are retired", svc)
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: plattrv1.PreviousSecretName("test-rotate", svc)}, &corev1.Secret{})
		assert.True(t, apierrors.IsNotFound(err), "%s: the previous credentials' Secret is gone", svc)
		for _, key := range []string{redis.KeyPassword, postgres.KeyPassword, opensearch.KeyPassword, keycloak.KeySecret} {
			if v := string(old[svc][key]); v != "" {
				secrets = append(secrets, v, string(current[key]))
			}
		}
	}
	assert.ErrorContains(t, logIn(ctx, "redis", old["redis"], redirect), "WRONGPASS")
	assert.ErrorContains(t, logIn(ctx, "postgres", old["postgres"], redirect), "password authentication failed")
	assert.NotEqual(t, string(old["postgres"][postgres.KeyUser]), string(secretData(t, c, ns, "test-rotate-postgres")[postgres.KeyUser]), "the other login role")
	assert.ErrorContains(t, logIn(ctx, "oidc", old["oidc"], redirect), "401 unauthorized_client")
	assert.ErrorContains(t, logIn(ctx, "opensearch", old["opensearch"], redirect), "status 401")

	// What Plattr's metrics say about it.
	for _, svc := range services {
		for _, event := range []string{"started", "completed", "stuck"} {
			assert.Equal(t, 1.0, counted(svc, event)-countedBefore[svc+" "+event], "%s %s: counted once", svc, event)
		}
		assert.GreaterOrEqual(t, metricValue(t, "plattr_service_provision_duration_seconds", map[string]string{"service": svc, "result": "ok"}), 1.0, svc)
	}
	assert.GreaterOrEqual(t, metricValue(t, "plattr_applications", map[string]string{"environment": "plattr", "ready": "True"}), 1.0)
	assert.GreaterOrEqual(t, metricValue(t, "plattr_application_reconciles_total", map[string]string{"outcome": "ready"}), 1.0)

	// The same token again rotates nothing.
	before := secretData(t, c, ns, "test-rotate-redis")
	setSpec(t, c, app, func(s *plattrv1.ApplicationSpec) { s.Replicas = ptr.To[int32](1) })
	testenv.Eventually(t, 30*time.Second, "the new generation", func() (bool, error) {
		a := mustGet(t, c, app)
		return a.Status.ObservedGeneration == a.Generation && isTrue(a, plattrv1.ConditionReady), nil
	})
	assert.Equal(t, before, secretData(t, c, ns, "test-rotate-redis"))
	scanForSecrets(t, c, ns, op, secrets)
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

	// The credentials are two hours old (as if made then): they rotate. A
	// status edit does not queue the Application (the operator's own patches
	// would loop); an annotation does, as the hour passing would requeue it.
	got.Status.Credentials[0].Since = metav1.NewTime(time.Now().Add(-2 * time.Hour).Truncate(time.Second))
	require.NoError(t, c.Client.Status().Update(ctx, got))
	poke := got.DeepCopy()
	metav1.SetMetaDataAnnotation(&poke.ObjectMeta, "test.plattr.dev/poke", "1")
	require.NoError(t, c.Client.Patch(ctx, poke, client.MergeFrom(got)))
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
	assert.Contains(t, condition(got, plattrv1.ConditionReady).Message, "spec.credentials.every: 5m is shorter than 1h (")
}
