package controller

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/event"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// The pure builders and decisions, table by table: no API server, no database
// (they run under -short).

const (
	pureImage1 = "ghcr.io/acme/shop@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	pureImage2 = "ghcr.io/acme/shop@sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func pureApp() *plattrv1.Application {
	return &plattrv1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "staging", Generation: 3},
		Spec:       plattrv1.ApplicationSpec{Image: pureImage1},
	}
}

func appContainer(d Desired) corev1.Container { return d.Deployment.Spec.Template.Spec.Containers[0] }

func envOf(c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		out[e.Name] = e.Value
	}
	return out
}

func TestDesiredWorkload_Defaults(t *testing.T) {
	d := DesiredWorkload(pureApp(), "shop.staging.apps.example.com", nil, "", Workload{})
	c := appContainer(d)
	assert.Equal(t, plattrv1.DefaultPort, c.Ports[0].ContainerPort)
	assert.Equal(t, "8080", envOf(c)["PORT"], "the app is told where to listen")
	assert.NotNil(t, c.ReadinessProbe.TCPSocket, "no health check: a TCP probe")
	assert.Equal(t, int32(6), c.LivenessProbe.FailureThreshold)
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
	assert.False(t, *d.Deployment.Spec.Template.Spec.AutomountServiceAccountToken)
	assert.Equal(t, int32(1), *d.Deployment.Spec.Replicas)
	assert.Nil(t, d.PDB, "one replica: no disruption budget")
	require.NotNil(t, d.Ingress)
	assert.Equal(t, "shop.staging.apps.example.com", d.Ingress.Spec.Rules[0].Host)
	assert.Nil(t, d.Ingress.Spec.TLS, "no cluster issuer: no TLS")
	assert.Nil(t, d.Ingress.Spec.IngressClassName)
	assert.Empty(t, d.Deployment.Spec.Template.Annotations, "no Secrets: no hash")
}

func TestDesiredWorkload_Table(t *testing.T) {
	for name, c := range map[string]struct {
		mutate func(*plattrv1.Application)
		host   string
		w      Workload
		check  func(t *testing.T, d Desired)
	}{
		"ingress disabled": {func(a *plattrv1.Application) { a.Spec.Ingress = &plattrv1.Ingress{Enabled: ptr.To(false)} }, "h", Workload{},
			func(t *testing.T, d Desired) { assert.Nil(t, d.Ingress) }},
		"no host": {func(*plattrv1.Application) {}, "", Workload{},
			func(t *testing.T, d Desired) { assert.Nil(t, d.Ingress, "nothing to route without a host") }},
		"TLS and class": {func(*plattrv1.Application) {}, "shop.example.com", Workload{IngressClass: "nginx", ClusterIssuer: "letsencrypt"},
			func(t *testing.T, d Desired) {
				assert.Equal(t, "nginx", *d.Ingress.Spec.IngressClassName)
				assert.Equal(t, "letsencrypt", d.Ingress.Annotations[annotationIssuer])
				assert.Equal(t, plattrv1.TLSSecretName("shop"), d.Ingress.Spec.TLS[0].SecretName)
				assert.Equal(t, []string{"shop.example.com"}, d.Ingress.Spec.TLS[0].Hosts)
			}},
		"replicas": {func(a *plattrv1.Application) { a.Spec.Replicas = ptr.To[int32](3) }, "h", Workload{},
			func(t *testing.T, d Desired) {
				assert.Equal(t, int32(3), *d.Deployment.Spec.Replicas)
				require.NotNil(t, d.PDB)
				assert.Equal(t, int32(1), d.PDB.Spec.MaxUnavailable.IntVal)
			}},
		"health check": {func(a *plattrv1.Application) { a.Spec.HealthCheck = &plattrv1.HealthCheck{PeriodSeconds: 7} }, "h", Workload{},
			func(t *testing.T, d Desired) {
				p := appContainer(d).ReadinessProbe
				require.NotNil(t, p.HTTPGet)
				assert.Equal(t, "/", p.HTTPGet.Path, "an empty path probes /")
				assert.Equal(t, int32(7), p.PeriodSeconds)
			}},
		"own PORT and port": {func(a *plattrv1.Application) {
			a.Spec.Port = 9000
			a.Spec.Env = []plattrv1.EnvVar{{Name: "PORT", Value: "1234"}, {Name: "MODE", Value: "x"}}
		}, "h", Workload{},
			func(t *testing.T, d Desired) {
				c := appContainer(d)
				assert.Equal(t, int32(9000), c.Ports[0].ContainerPort)
				assert.Equal(t, map[string]string{"PORT": "1234", "MODE": "x"}, envOf(c), "the app's own PORT wins, once")
				assert.Len(t, c.Env, 2)
			}},
		"secret env": {func(a *plattrv1.Application) {
			a.Spec.SecretEnv = []plattrv1.SecretEnvVar{{Name: "API_KEY", SecretName: "shop-payments", Key: "key"}}
		}, "h", Workload{},
			func(t *testing.T, d Desired) {
				var ref *corev1.SecretKeySelector
				for _, e := range appContainer(d).Env {
					if e.Name == "API_KEY" {
						ref = e.ValueFrom.SecretKeyRef
					}
				}
				require.NotNil(t, ref)
				assert.Equal(t, "shop-payments", ref.Name)
				assert.Equal(t, "key", ref.Key)
			}},
	} {
		t.Run(name, func(t *testing.T) {
			app := pureApp()
			c.mutate(app)
			c.check(t, DesiredWorkload(app, c.host, nil, "", c.w))
		})
	}
}

// The services' Secrets reach the container in order, and a change of their
// content changes the pod template (so pods restart with new credentials).
func TestDesiredWorkload_Secrets(t *testing.T) {
	data := map[string]map[string][]byte{"shop-postgres": {"PGPASSWORD": []byte("a")}, "shop-redis": {"REDIS_PASSWORD": []byte("b")}}
	hash := SecretsHash(data)
	d := DesiredWorkload(pureApp(), "h", []string{"shop-postgres", "shop-redis"}, hash, Workload{})
	var from []string
	for _, e := range appContainer(d).EnvFrom {
		from = append(from, e.SecretRef.Name)
	}
	assert.Equal(t, []string{"shop-postgres", "shop-redis"}, from)
	assert.Equal(t, hash, d.Deployment.Spec.Template.Annotations[annotationSecrets])

	data["shop-redis"]["REDIS_PASSWORD"] = []byte("c")
	assert.NotEqual(t, hash, SecretsHash(data), "new content, new hash")
	assert.Equal(t, SecretsHash(data), SecretsHash(map[string]map[string][]byte{"shop-redis": data["shop-redis"], "shop-postgres": data["shop-postgres"]}), "order does not matter")
	assert.Empty(t, SecretsHash(nil))
	// A key moved between Secrets is a change.
	assert.NotEqual(t, SecretsHash(map[string]map[string][]byte{"a": {"k": []byte("v")}}), SecretsHash(map[string]map[string][]byte{"b": {"k": []byte("v")}}))
}

// The desired-hash annotation says whether an object is up to date: the same
// spec gives the same hash, another spec another.
func TestDesiredWorkload_HashIsStable(t *testing.T) {
	a := DesiredWorkload(pureApp(), "h", nil, "", Workload{})
	b := DesiredWorkload(pureApp(), "h", nil, "", Workload{})
	assert.Equal(t, a.Deployment.Annotations[annotationDesired], b.Deployment.Annotations[annotationDesired])
	assert.Len(t, a.Deployment.Annotations[annotationDesired], 16)
	changed := pureApp()
	changed.Spec.Image = pureImage2
	c := DesiredWorkload(changed, "h", nil, "", Workload{})
	assert.NotEqual(t, a.Deployment.Annotations[annotationDesired], c.Deployment.Annotations[annotationDesired])
	assert.Equal(t, a.Service.Annotations[annotationDesired], c.Service.Annotations[annotationDesired], "the Service did not change")
}

func TestHost(t *testing.T) {
	r := &ApplicationReconciler{Config: Config{BaseDomain: "apps.example.com"}}
	app := pureApp()
	assert.Equal(t, "shop.staging.apps.example.com", r.host(app, "staging"))
	assert.Equal(t, "shop.apps.example.com", r.host(app, "prod"), "the default production environment")
	r.Config.ProductionEnv = "live"
	assert.Equal(t, "shop.prod.apps.example.com", r.host(app, "prod"))
	assert.Equal(t, "shop.apps.example.com", r.host(app, "live"))
	app.Spec.Ingress = &plattrv1.Ingress{Host: "shop.example.org"}
	assert.Equal(t, "shop.example.org", r.host(app, "live"), "the Application's own host wins")
	assert.Empty(t, (&ApplicationReconciler{}).host(pureApp(), "staging"), "no base domain, no host")
}

func TestSummarize(t *testing.T) {
	app := pureApp()
	s := newStatus(app)
	s.set(app, plattrv1.ConditionWorkloadReady, true, ReasonAvailable, "")
	s.set(app, "DatabaseReady", true, ReasonProvisioned, "")
	s.summarize(app)
	assert.True(t, s.ready)
	ready := findCondition(s, plattrv1.ConditionReady)
	assert.Equal(t, metav1.ConditionTrue, ready.Status)
	assert.Equal(t, int64(3), ready.ObservedGeneration)
	assert.Nil(t, findCondition(s, plattrv1.ConditionStalled))

	s.set(app, "RedisReady", false, ReasonProvisioningFailed, "no")
	s.set(app, "CacheReady", false, ReasonProvisioningFailed, "no")
	s.stalled = true
	s.summarize(app)
	assert.False(t, s.ready)
	ready = findCondition(s, plattrv1.ConditionReady)
	assert.Equal(t, "not ready: CacheReady, RedisReady", ready.Message, "the failing parts, sorted")
	assert.Equal(t, metav1.ConditionTrue, findCondition(s, plattrv1.ConditionStalled).Status)

	fresh := newStatus(pureApp())
	fresh.summarize(app)
	assert.Equal(t, "waiting for the workload", findCondition(fresh, plattrv1.ConditionReady).Message)

	fresh.invalid(app, "bad spec")
	assert.Equal(t, ReasonInvalid, findCondition(fresh, plattrv1.ConditionReady).Reason)
	assert.True(t, fresh.stalled)
}

func findCondition(s *status, typ string) *metav1.Condition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == typ {
			return &s.Conditions[i]
		}
	}
	return nil
}

func TestDesiredExternalSecret(t *testing.T) {
	app := &plattrv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "staging"}}
	assert.Nil(t, DesiredExternalSecret(app, "staging", ""), "no externalSecrets, no ExternalSecret")
	app.Spec.ExternalSecrets = []plattrv1.ExternalSecretVar{{Name: "B", Key: "b/c"}, {Name: "A", Key: "a"}}
	es := DesiredExternalSecret(app, "staging", "")
	require.NotNil(t, es)
	assert.Equal(t, "shop-external", es.GetName())
	store, _, _ := unstructured.NestedString(es.Object, "spec", "secretStoreRef", "name")
	assert.Equal(t, DefaultSecretStore, store)
	data, _, _ := unstructured.NestedSlice(es.Object, "spec", "data")
	var keys []string
	for _, d := range data {
		k, _, _ := unstructured.NestedString(d.(map[string]any), "remoteRef", "key")
		keys = append(keys, k)
	}
	assert.Equal(t, []string{"plattr/staging/shop/b/c", "plattr/staging/shop/a"}, keys)
	assert.NotEmpty(t, es.GetAnnotations()["plattr.dev/desired-hash"])
	other := DesiredExternalSecret(app, "staging", "team-store")
	store, _, _ = unstructured.NestedString(other.Object, "spec", "secretStoreRef", "name")
	assert.Equal(t, "team-store", store)
}

func TestRedactSecrets(t *testing.T) {
	data := map[string]map[string][]byte{"shop-postgres": {
		"DATABASE_URL": []byte("postgres://shop:Pa55word-long@db:5432/shop"),
		"PGPASSWORD":   []byte("Pa55word-long"),
		"PGPORT":       []byte("5432"),
	}}
	for name, tc := range map[string]struct{ in, want string }{
		"the whole URL":           {"connecting to postgres://shop:Pa55word-long@db:5432/shop", "connecting to [redacted]"},
		"the password alone":      {"auth failed for Pa55word-long", "auth failed for [redacted]"},
		"a short value stays":     {"port 5432", "port 5432"},
		"any URL's password goes": {"fetch https://bot:ghp_other@github.com/x", "fetch https://bot:[redacted]@github.com/x"},
		"a URL without one stays": {"see https://example.com/a:b", "see https://example.com/a:b"},
	} {
		assert.Equal(t, tc.want, redactSecrets(tc.in, data), name)
	}
}

func TestLastLines(t *testing.T) {
	var in []string
	for i := range 30 {
		in = append(in, fmt.Sprintf("line %02d", i))
	}
	got := lastLines(strings.Join(in, "\n") + "\n")
	assert.Equal(t, strings.Join(in[10:], "\n"), got, "the last 20 lines")
	long := strings.Repeat("y", 3000)
	assert.Len(t, lastLines("first\n"+long), releaseMessageBytes, "at most 2 KiB")
}

func TestReleaseJob(t *testing.T) {
	app := &plattrv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "staging"}, Spec: plattrv1.ApplicationSpec{
		Image: "ghcr.io/acme/shop@sha256:aa", Args: []string{"serve"}, Env: []plattrv1.EnvVar{{Name: "MODE", Value: "x"}},
		Release: &plattrv1.ReleaseSpec{Command: []string{"./migrate", "up"}},
	}}
	j := ReleaseJob(app, []string{"shop-postgres"})
	assert.Equal(t, plattrv1.ReleaseJobName("shop", app.Spec.Image), j.Name)
	assert.Equal(t, int32(0), *j.Spec.BackoffLimit, "run once: a migration is not retried behind the user's back")
	assert.Equal(t, int64(600), *j.Spec.ActiveDeadlineSeconds, "the default timeout, 10m")
	pod := j.Spec.Template.Spec
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
	assert.Equal(t, "shop", pod.ServiceAccountName)
	c := pod.Containers[0]
	assert.Equal(t, []string{"./migrate", "up"}, c.Command)
	assert.Empty(t, c.Args, "the app's own arguments are the server's, not the release command's")
	assert.Empty(t, c.Ports)
	assert.Nil(t, c.ReadinessProbe)
	assert.Equal(t, corev1.TerminationMessageFallbackToLogsOnError, c.TerminationMessagePolicy)
	assert.Equal(t, "shop-postgres", c.EnvFrom[0].SecretRef.Name)
	assert.Contains(t, c.Env, corev1.EnvVar{Name: "MODE", Value: "x"})
	assert.NotContains(t, j.Spec.Template.Labels, plattrv1.LabelApp)

	long := strings.Repeat("a", 50)
	assert.Len(t, plattrv1.ReleaseJobName(long, "img"), 63, "a Job's name fits a label value")
	assert.NotEqual(t, plattrv1.ReleaseJobName("shop", "img@sha256:1"), plattrv1.ReleaseJobName("shop", "img@sha256:2"))
}

// An Application is queued again for what the operator acts on, not for its
// own status patches (each would cost another round of backend checks).
func TestAppChanged(t *testing.T) {
	base := pureApp()
	base.Generation = 3
	cases := map[string]struct {
		edit func(a *plattrv1.Application)
		want bool
	}{
		"status only":       {func(a *plattrv1.Application) { a.Status.URL = "https://x"; a.ResourceVersion = "9" }, false},
		"spec (generation)": {func(a *plattrv1.Application) { a.Generation = 4 }, true},
		"annotation":        {func(a *plattrv1.Application) { a.Annotations = map[string]string{"k": "v"} }, true},
		"label":             {func(a *plattrv1.Application) { a.Labels = map[string]string{"k": "v"} }, true},
		"finalizer gone":    {func(a *plattrv1.Application) { a.Finalizers = nil }, true},
		"deletion":          {func(a *plattrv1.Application) { now := metav1.Now(); a.DeletionTimestamp = &now }, true},
	}
	for name, tc := range cases {
		old := base.DeepCopy()
		old.Finalizers = []string{Finalizer}
		n := old.DeepCopy()
		tc.edit(n)
		assert.Equal(t, tc.want, appChanged.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: n}), name)
	}
}
