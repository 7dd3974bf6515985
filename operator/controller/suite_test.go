package controller_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
	"github.com/plattr/plattr/operator/services"
	"github.com/plattr/plattr/operator/services/postgres"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const image1 = "ghcr.io/acme/shop@sha256:1111111111111111111111111111111111111111111111111111111111111111"
const image2 = "ghcr.io/acme/shop@sha256:2222222222222222222222222222222222222222222222222222222222222222"

// syncBuffer collects the operator's logs for the leak scan.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// counting wraps the operator's client and provisioners to count what they
// write; refuseSecrets makes every Secret creation fail, as an operator that
// dies between provisioning a backend and writing the credentials would.
type counting struct {
	client.Client
	writes        atomic.Int64
	refuseSecrets atomic.Bool
}

func (c *counting) Create(ctx context.Context, o client.Object, opts ...client.CreateOption) error {
	c.writes.Add(1)
	if _, ok := o.(*corev1.Secret); ok && c.refuseSecrets.Load() {
		return errString("the test refuses to create Secrets")
	}
	return c.Client.Create(ctx, o, opts...)
}
func (c *counting) Update(ctx context.Context, o client.Object, opts ...client.UpdateOption) error {
	c.writes.Add(1)
	return c.Client.Update(ctx, o, opts...)
}
func (c *counting) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.PatchOption) error {
	c.writes.Add(1)
	return c.Client.Patch(ctx, o, p, opts...)
}
func (c *counting) Delete(ctx context.Context, o client.Object, opts ...client.DeleteOption) error {
	c.writes.Add(1)
	return c.Client.Delete(ctx, o, opts...)
}
func (c *counting) Status() client.SubResourceWriter {
	return &countingStatus{SubResourceWriter: c.Client.Status(), n: &c.writes}
}

type countingStatus struct {
	client.SubResourceWriter
	n *atomic.Int64
}

func (c *countingStatus) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	c.n.Add(1)
	return c.SubResourceWriter.Patch(ctx, o, p, opts...)
}
func (c *countingStatus) Update(ctx context.Context, o client.Object, opts ...client.SubResourceUpdateOption) error {
	c.n.Add(1)
	return c.SubResourceWriter.Update(ctx, o, opts...)
}

// countingProvisioner counts the calls that change a backend (Ensure, Delete),
// and the observations.
type countingProvisioner struct {
	services.Provisioner
	observes, ensures, deletes atomic.Int64
}

func (c *countingProvisioner) Observe(ctx context.Context, i services.Instance, cur services.Credentials) (bool, error) {
	c.observes.Add(1)
	return c.Provisioner.Observe(ctx, i, cur)
}

func (c *countingProvisioner) Ensure(ctx context.Context, i services.Instance, cur services.Credentials) (services.Credentials, error) {
	c.ensures.Add(1)
	return c.Provisioner.Ensure(ctx, i, cur)
}
func (c *countingProvisioner) Delete(ctx context.Context, i services.Instance) error {
	c.deletes.Add(1)
	return c.Provisioner.Delete(ctx, i)
}

// Rotate and Retire pass through to PostgreSQL's provisioner, a services.Rotator.
func (c *countingProvisioner) Rotate(ctx context.Context, i services.Instance, cur services.Credentials) (services.Credentials, error) {
	c.ensures.Add(1)
	return c.Provisioner.(services.Rotator).Rotate(ctx, i, cur)
}

func (c *countingProvisioner) Retire(ctx context.Context, i services.Instance, cur, prev services.Credentials) error {
	c.ensures.Add(1)
	return c.Provisioner.(services.Rotator).Retire(ctx, i, cur, prev)
}

// running is an operator manager running in the test process, watching one namespace.
type running struct {
	client     *counting
	pg         *countingProvisioner
	reconciler *controller.ApplicationReconciler
	logs       *syncBuffer
	cancel     context.CancelFunc
	done       chan struct{}
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

// startOperator runs the operator's manager in process against the test API
// server, restricted to namespace ns so that tests do not see each other.
func startOperator(t *testing.T, c *testenv.Cluster, ns string, cfg operator.Config) *running {
	t.Helper()
	logs := &syncBuffer{}
	opts := operator.CacheOptions()
	opts.DefaultNamespaces = map[string]cache.Config{ns: {}}
	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{
		Scheme:                 operator.Scheme(),
		Cache:                  opts,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 zap.New(zap.WriteTo(logs), zap.UseDevMode(false)),
		Controller:             ctrlConfig(),
	})
	require.NoError(t, err)
	provs, closeAll, err := operator.Provisioners(cfg, mgr.GetAPIReader())
	require.NoError(t, err)
	pg := &countingProvisioner{Provisioner: provs[0]}
	cl := &counting{Client: mgr.GetClient()}
	gh, err := operator.GitHubDeployments(cfg)
	require.NoError(t, err)
	r := &controller.ApplicationReconciler{
		GitHub: gh,
		Client: cl, APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorderFor("plattr-operator"),
		Services: append([]services.Provisioner{pg}, provs[1:]...),
		Config:   controller.Config{BaseDomain: cfg.BaseDomain, Resync: cfg.Resync, ReconcileTimeout: cfg.ReconcileTimeout, RotationDeadline: cfg.RotationDeadline},
	}
	require.NoError(t, r.SetupWithManager(mgr, 4))
	require.NoError(t, operator.AddKeycloakAdminSecret(mgr, cfg))
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{client: cl, pg: pg, reconciler: r, logs: logs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(run.done)
		defer closeAll()
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(run.stop)
	return run
}

// leastPrivilegeAdmin makes a PostgreSQL role with only CREATEDB and CREATEROLE,
// as Aurora's master is, and returns its URL.
func leastPrivilegeAdmin(t *testing.T, pg *testenv.Postgres, password string) string {
	t.Helper()
	name := testenv.TestNamePrefix + "admin_" + strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name()))
	if len(name) > 60 {
		name = name[:60]
	}
	pg.Exec(t, `DROP ROLE IF EXISTS "`+name+`"`)
	pg.Exec(t, `CREATE ROLE "`+name+`" LOGIN CREATEDB CREATEROLE PASSWORD '`+password+`'`)
	t.Cleanup(func() { pg.Exec(t, `DROP ROLE IF EXISTS "`+name+`"`) })
	u, err := url.Parse(pg.AdminURL)
	require.NoError(t, err)
	u.User = url.UserPassword(name, password)
	return u.String()
}

// envNamespace is a namespace of the environment "plattr", so that the databases
// of apps named "test-…" are named "plattr_test_…" (what the leftovers check finds).
func envNamespace(t *testing.T, c *testenv.Cluster) string {
	return c.Namespace(t, "plattr")
}

func newApp(ns, name string, mutate ...func(*plattrv1.Application)) *plattrv1.Application {
	app := &plattrv1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: plattrv1.ApplicationSpec{
			Image:          image1,
			Database:       &plattrv1.DatabaseSpec{Enabled: true},
			DeletionPolicy: plattrv1.DeletionPolicyDelete,
			HealthCheck:    &plattrv1.HealthCheck{Path: "/healthz"},
		},
	}
	for _, m := range mutate {
		m(app)
	}
	return app
}

func condition(app *plattrv1.Application, typ string) *metav1.Condition {
	for i := range app.Status.Conditions {
		if app.Status.Conditions[i].Type == typ {
			return &app.Status.Conditions[i]
		}
	}
	return nil
}

// waitCondition waits until the Application's condition has status want (and
// reason, when given) and returns the Application.
func waitCondition(t *testing.T, c *testenv.Cluster, app *plattrv1.Application, typ string, want metav1.ConditionStatus, reason string) *plattrv1.Application {
	t.Helper()
	got := &plattrv1.Application{}
	testenv.Eventually(t, 60*time.Second, typ+"="+string(want)+" "+reason+" on "+app.Name, func() (bool, error) {
		if err := c.Client.Get(context.Background(), client.ObjectKeyFromObject(app), got); err != nil {
			return false, err
		}
		cond := condition(got, typ)
		if cond == nil {
			return false, nil
		}
		if cond.Status == want && (reason == "" || cond.Reason == reason) {
			return true, nil
		}
		return false, errString(cond.Reason + ": " + cond.Message)
	})
	return got
}

// deleteAndWait deletes app and waits until the operator has finalised it.
func deleteAndWait(t *testing.T, c *testenv.Cluster, app *plattrv1.Application) {
	t.Helper()
	ctx := context.Background()
	if err := c.Client.Delete(ctx, app); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("delete %s: %v", app.Name, err)
	}
	testenv.Eventually(t, 30*time.Second, app.Name+" to be gone", func() (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKeyFromObject(app), &plattrv1.Application{})
		return apierrors.IsNotFound(err), err
	})
}

type errString string

func (e errString) Error() string { return string(e) }

func secretData(t *testing.T, c *testenv.Cluster, ns, name string) map[string][]byte {
	t.Helper()
	var s corev1.Secret
	require.NoError(t, c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s))
	return s.Data
}

var _ = postgres.KeyURL
