package plattr

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
	"github.com/plattr/plattr/operator/services/postgres"
)

// startOperator runs the operator (operator.Setup, as cmd/plattr-operator does)
// in the test process against the test cluster, watching the namespace "local",
// until the test ends.
func startOperator(t *testing.T, c *testenv.Cluster, cfg operator.Config) {
	t.Helper()
	opts := operator.CacheOptions()
	opts.DefaultNamespaces = map[string]cache.Config{LocalEnv: {}}
	skip := true // every test starts its own manager with the same controller name
	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{
		Scheme:                 operator.Scheme(),
		Cache:                  opts,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 zap.New(zap.WriteTo(io.Discard)),
		Controller:             config.Controller{SkipNameValidation: &skip},
	})
	require.NoError(t, err)
	closeAll, err := operator.Setup(mgr, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer closeAll()
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("operator: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// removeApp deletes the Application when the test ends and waits until the
// operator let it go (it must still run: cleanups run last-in first-out), then
// drops its database, which deletionPolicy Retain keeps.
func removeApp(t *testing.T, c *testenv.Cluster, name, pgURL string) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		app := &plattrv1.Application{}
		app.Name, app.Namespace = name, LocalEnv
		if err := c.Client.Delete(ctx, app); err == nil {
			testenv.Eventually(t, 60*time.Second, "Application "+name+" to be gone", func() (bool, error) {
				err := c.Client.Get(ctx, client.ObjectKeyFromObject(app), app)
				return apierrors.IsNotFound(err), err
			})
		}
		if pgURL == "" {
			return
		}
		pg, err := postgres.New(pgURL)
		require.NoError(t, err)
		defer pg.Close()
		require.NoError(t, pg.Delete(ctx, services.Instance{Env: LocalEnv, App: name}))
	})
}

// kubeconfig writes a kubeconfig whose current context points at a closed port
// and whose context "test" is the test cluster's admin.
func kubeconfig(t *testing.T, c *testenv.Cluster) string {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
	require.NoError(t, err)
	real := kc.Contexts[kc.CurrentContext]
	require.NotNil(t, real)
	kc.Clusters["nowhere"] = &clientcmdapi.Cluster{Server: "https://" + closedPort(t)}
	kc.Contexts["test"] = real
	kc.Contexts["broken"] = &clientcmdapi.Context{Cluster: "nowhere", AuthInfo: real.AuthInfo}
	kc.CurrentContext = "broken"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*kc, path))
	return path
}

func TestDeployLocal_ReadyWithURL(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	pg := testenv.StartPostgres(t)
	startOperator(t, c, operator.Config{BaseDomain: "localtest.me", DBAdminURL: pg.AdminURL})
	app := uniqueApp(t, "deploy")
	removeApp(t, c, app, pg.AdminURL)
	dir := appDir(t, "name: "+app+"\nport: 3000\nhealthCheck: {path: /healthz}\ndatabase: {enabled: true}\n")
	kc := kubeconfig(t, c)

	code, out, errOut := run(t, "deploy", "local", "--dir", dir, "--kubeconfig", kc, "--context", "test", "--timeout", "3m")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	t.Logf("plattr deploy local:\n%s", out)
	url := "http://" + app + ".local.localtest.me"
	assert.Contains(t, out, "applied Application local/"+app+" (image "+app+":local) to context \"test\"")
	for _, line := range []string{"  DatabaseReady=True\n", "  WorkloadReady=True\n", "  Ready=True\n", app + " is Ready at " + url + "\n"} {
		assert.Contains(t, out, line)
	}
	assert.Less(t, strings.Index(out, "DatabaseReady=True"), strings.Index(out, app+" is Ready at"), "progress, then the URL")

	// What the cluster holds: the namespace labelled for the operator, the
	// Application applied by the field manager "plattr", with the operator's status.
	ctx := context.Background()
	var ns corev1.Namespace
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Name: LocalEnv}, &ns))
	assert.Equal(t, LocalEnv, ns.Labels[plattrv1.LabelEnvironment])
	assert.Equal(t, "true", ns.Labels[plattrv1.LabelDevelopment], "plattr deploy local marks its namespace as a development environment")
	var got plattrv1.Application
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: LocalEnv, Name: app}, &got))
	assert.Equal(t, app+":local", got.Spec.Image)
	assert.Equal(t, int32(3000), got.Spec.Port)
	assert.Equal(t, url, got.Status.URL)
	var managers []string
	for _, f := range got.ManagedFields {
		if f.Subresource == "" {
			managers = append(managers, f.Manager+"/"+string(f.Operation))
		}
	}
	assert.Contains(t, managers, FieldManager+"/Apply")
	gen := got.Generation

	// Deploying again changes nothing and is Ready at once.
	code, out, errOut = run(t, "deploy", "local", "--dir", dir, "--kubeconfig", kc, "--context", "test")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, app+" is Ready at "+url)
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: LocalEnv, Name: app}, &got))
	assert.Equal(t, gen, got.Generation, "an unchanged deploy does not change the Application")

	// Another image is a new generation, rolled out and reported.
	code, out, errOut = run(t, "deploy", "local", "--dir", dir, "--kubeconfig", kc, "--context", "test", "--image", "registry.local:5000/"+app+":v2")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, app+" is Ready at "+url)
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: LocalEnv, Name: app}, &got))
	assert.Equal(t, "registry.local:5000/"+app+":v2", got.Spec.Image)
	assert.Greater(t, got.Generation, gen)
	// Ready was waited for at the new generation, not read from the old status.
	assert.Equal(t, got.Generation, got.Status.ObservedGeneration)
	ready := meta.FindStatusCondition(got.Status.Conditions, plattrv1.ConditionReady)
	require.NotNil(t, ready)
	assert.Equal(t, metav1.ConditionTrue, ready.Status)
	assert.Equal(t, got.Generation, ready.ObservedGeneration)
}

func TestDeployLocal_TimeoutNamesTheConditionStillFalse(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	startOperator(t, c, operator.Config{BaseDomain: "localtest.me"})
	app := uniqueApp(t, "deploy")
	removeApp(t, c, app, "")
	// No node has 1,000 CPUs: the pod is never scheduled, the Deployment never Available.
	dir := appDir(t, "name: "+app+"\nresources: {requests: {cpu: '1000'}}\n")

	// Apply, then wait (however loaded the machine) until the operator has
	// reported the workload for this generation; the timeout is then only the
	// deploy's own.
	code, _, _ := run(t, "deploy", "local", "--dir", dir, "--kubeconfig", c.Kubeconfig, "--timeout", "1s")
	require.Equal(t, 1, code)
	testenv.Eventually(t, 2*time.Minute, "the operator reports WorkloadReady", func() (bool, error) {
		var a plattrv1.Application
		if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: LocalEnv, Name: app}, &a); err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(a.Status.Conditions, plattrv1.ConditionWorkloadReady)
		return cond != nil && cond.ObservedGeneration == a.Generation && cond.Status == metav1.ConditionFalse, nil
	})

	code, out, errOut := run(t, "deploy", "local", "--dir", dir, "--kubeconfig", c.Kubeconfig, "--timeout", "3s")
	assert.Equal(t, 1, code, out)
	t.Logf("plattr deploy local:\n%s%s", out, errOut)
	assert.Contains(t, out, "WorkloadReady=False: ", "the progress shows the part that waits")
	assert.Contains(t, errOut, "timed out after 3s waiting for Application local/"+app+" to be Ready: WorkloadReady=False: ")
	assert.Contains(t, errOut, "0 available (Progressing)")
	assert.NotContains(t, out, "is Ready at")
}

func TestDeployLocal_StalledFailsAtOnce(t *testing.T) {
	c := testenv.StartCluster(t)
	startOperator(t, c, operator.Config{BaseDomain: "localtest.me"}) // no OpenSearch configured
	app := uniqueApp(t, "deploy")
	removeApp(t, c, app, "")
	dir := appDir(t, "name: "+app+"\nsearch: {enabled: true}\n")

	// With a --timeout longer than go test's own, only failing at once can pass.
	code, out, errOut := run(t, "deploy", "local", "--dir", dir, "--kubeconfig", c.Kubeconfig, "--timeout", "24h")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, errOut, "cannot become Ready until a person acts: SearchReady=False: ")
	assert.Contains(t, errOut, "set OPENSEARCH_URL")
}

func TestDeployLocal_NoOperator(t *testing.T) {
	c := testenv.StartCluster(t)
	app := uniqueApp(t, "deploy")
	dir := appDir(t, "name: "+app+"\n")
	t.Cleanup(func() {
		// Nothing reconciles it, so nothing set a finalizer: it simply goes.
		_ = c.Client.Delete(context.Background(), &plattrv1.Application{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: LocalEnv}})
	})
	code, _, errOut := run(t, "deploy", "local", "--dir", dir, "--kubeconfig", c.Kubeconfig, "--timeout", "2s")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "timed out after 2s: the operator has not reconciled Application local/"+app)
	assert.Contains(t, errOut, "kubectl -n plattr-system get deployment plattr-operator")
}

func TestDeployLocal_ClusterWithoutPlattr(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode: needs a kube-apiserver")
	}
	// A bare API server of the test's own: no Plattr CRD.
	assets, err := testenv.AssetsDir()
	require.NoError(t, err)
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	_, err = env.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	require.NoError(t, err)
	data, err := user.KubeConfig()
	require.NoError(t, err)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kc, data, 0o600))
	dir := appDir(t, "name: shop\n")

	code, _, errOut := run(t, "deploy", "local", "--dir", dir, "--kubeconfig", kc)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "does not know Plattr's Application (plattr.dev/v1alpha1): install Plattr: kubectl apply -k overlays/local")
}

func TestDeployLocal_BadInput(t *testing.T) {
	dir := appDir(t, "name: shop\n")
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["nowhere"] = &clientcmdapi.Cluster{Server: "https://" + closedPort(t)}
	cfg.AuthInfos["me"] = &clientcmdapi.AuthInfo{Token: "kube-token-s3cret"}
	cfg.Contexts["dev"] = &clientcmdapi.Context{Cluster: "nowhere", AuthInfo: "me"}
	cfg.CurrentContext = "dev"
	require.NoError(t, clientcmd.WriteToFile(*cfg, kc))
	noCurrent := filepath.Join(t.TempDir(), "kubeconfig")
	cfg.CurrentContext = ""
	require.NoError(t, clientcmd.WriteToFile(*cfg, noCurrent))

	for _, tc := range []struct {
		reason string
		args   []string
		code   int
		want   string
	}{
		{"no plattr.yaml", []string{"--dir", t.TempDir(), "--kubeconfig", kc}, 2, "no plattr.yaml in"},
		{"a bad image", []string{"--dir", dir, "--kubeconfig", kc, "--image", "Shop:Local"}, 2, `--image: invalid image "Shop:Local"`},
		{"no such kubeconfig", []string{"--dir", dir, "--kubeconfig", filepath.Join(dir, "missing")}, 2, "--kubeconfig " + filepath.Join(dir, "missing") + ": no such file"},
		{"no such context", []string{"--dir", dir, "--kubeconfig", kc, "--context", "prod"}, 2, `--context "prod": no such context in ` + kc + " (it has: dev)"},
		{"no current context", []string{"--dir", dir, "--kubeconfig", noCurrent}, 2, "sets no current context; pass --context"},
		{"a bad timeout", []string{"--dir", dir, "--kubeconfig", kc, "--timeout", "0s"}, 2, "--timeout must be positive"},
		{"an unreachable cluster", []string{"--dir", dir, "--kubeconfig", kc}, 1, `cannot reach the cluster of context "dev" (https://127.0.0.1:`},
	} {
		code, out, errOut := run(t, append([]string{"deploy", "local"}, tc.args...)...)
		assert.Equal(t, tc.code, code, tc.reason)
		assert.Contains(t, errOut, tc.want, tc.reason)
		assert.NotContains(t, out+errOut, "kube-token-s3cret", tc.reason)
	}
	code, _, errOut := run(t, "deploy")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "needs a target: 'plattr deploy local'")
	code, _, errOut = run(t, "deploy", "staging")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "releases to other environments go through the env repo")
}
