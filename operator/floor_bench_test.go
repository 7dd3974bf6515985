package operator_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/plattr/plattr/internal/testenv"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
	"github.com/plattr/plattr/operator/services"
	"github.com/plattr/plattr/operator/services/postgres"
)

// floorResult is what the same work costs without the operator.
type floorResult struct {
	wall     time.Duration
	cpu      testenv.CPU
	sql, ddl int
	retries  int64
}

// benchEnv is the environment of the benchmark's namespaces (their
// plattr.dev/environment label): it names the databases.
const benchEnv = "plattr"

// benchApp is the Application both runs create: image by digest, a database
// when withDB, data deleted with it.
func benchApp(ns, name string, withDB bool) *plattrv1.Application {
	app := &plattrv1.Application{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: plattrv1.ApplicationSpec{Image: "ghcr.io/acme/app@sha256:" + sha, DeletionPolicy: plattrv1.DeletionPolicyDelete}}
	if withDB {
		app.Spec.Database = &plattrv1.DatabaseSpec{Enabled: true}
	}
	return app
}

// runFloor does, with no operator running, the work the operator does for n
// Applications, by the shortest path: a client creates each Application (the
// benchmark's input, as in the operator's run), then, with the operator's
// concurrency (16), the provisioner's own Ensure makes its database and role
// through one pgx pool (the operator's SQL), and the objects the operator
// would make (the credentials' Secret, ServiceAccount, Service, Deployment,
// Ingress: controller.DesiredWorkload's) are server-side-applied, owned by
// the Application; then it waits, polling as the operator's run does, until
// every Deployment is Available. No cache, no status, no reads before writes.
// It removes everything before it returns.
// pgLog is the PostgreSQL server's log (empty: no database), adminURL its
// admin's URL.
func runFloor(b *testing.B, c *testenv.Cluster, pgLog, adminURL string, n int) floorResult {
	ctx := context.Background()
	ns := c.Namespace(b, benchEnv)
	withDB := pgLog != ""
	var pg *postgres.Provisioner
	sql0, ddl0 := 0, 0
	if withDB {
		sql0, ddl0 = statements(b, pgLog)
		var err error
		if pg, err = postgres.New(adminURL); err != nil {
			b.Fatal(err)
		}
		defer pg.Close()
	}
	fast := rest.CopyConfig(c.Config)
	fast.QPS, fast.Burst = 1000, 2000
	cl, err := client.New(fast, client.Options{Scheme: c.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	instance := func(app *plattrv1.Application) services.Instance {
		return services.Instance{Env: benchEnv, App: app.Name, Namespace: ns, Host: plattrv1.HostOf(app, benchEnv, benchDomain, false), Spec: &app.Spec}
	}
	apply := func(app *plattrv1.Application, o client.Object) error {
		if err := controllerutil.SetControllerReference(app, o, c.Scheme); err != nil {
			return err
		}
		return cl.Patch(ctx, o, client.Apply, client.FieldOwner("plattr-floor"), client.ForceOwnership)
	}
	const workers = 16
	var retries atomic.Int64 // failed Ensures, retried
	cpu0 := testenv.ProcessCPU()
	start := time.Now()
	forEach(b, n, workers, func(i int) error {
		return floorOne(ctx, cl, pg, &retries, benchApp(ns, fmt.Sprintf("test-f%04d", i), withDB), instance, apply)
	})
	for {
		var list appsv1.DeploymentList
		if err := c.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		available := 0
		for _, d := range list.Items {
			for _, cond := range d.Status.Conditions {
				if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue && d.Status.AvailableReplicas >= 1 {
					available++
				}
			}
		}
		if available == n {
			break
		}
		if time.Since(start) > 15*time.Minute {
			b.Fatalf("the floor: only %d/%d Deployments Available after 15 minutes", available, n)
		}
		time.Sleep(2 * time.Second)
	}
	res := floorResult{wall: time.Since(start), cpu: cpu0.Delta(testenv.ProcessCPU()), retries: retries.Load()}

	// Remove it all, so that the operator's run starts from the same state.
	if withDB {
		sql1, ddl1 := statements(b, pgLog)
		res.sql, res.ddl = sql1-sql0, ddl1-ddl0
		forEach(b, n, workers, func(i int) error {
			return pg.Delete(ctx, instance(benchApp(ns, fmt.Sprintf("test-f%04d", i), withDB)))
		})
	}
	for _, o := range []client.Object{&plattrv1.Application{}, &appsv1.Deployment{}, &corev1.Service{}, &corev1.Secret{},
		&corev1.ServiceAccount{}, &networkingv1.Ingress{}} {
		if err := c.Client.DeleteAllOf(ctx, o, client.InNamespace(ns), client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
			b.Fatal(err)
		}
	}
	testenv.Eventually(b, 15*time.Minute, "the floor's pods gone", func() (bool, error) {
		var pods corev1.PodList
		err := c.Client.List(ctx, &pods, client.InNamespace(ns))
		return err == nil && len(pods.Items) == 0, err
	})
	return res
}

// forEach runs do(0) … do(n-1) on workers goroutines and fails the
// benchmark with the first error.
func forEach(b *testing.B, n, workers int, do func(i int) error) {
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := do(i); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// floorOne is the floor's work for one Application.
func floorOne(ctx context.Context, cl client.Client, pg *postgres.Provisioner, retries *atomic.Int64, app *plattrv1.Application,
	instance func(*plattrv1.Application) services.Instance, apply func(*plattrv1.Application, client.Object) error) error {
	if err := cl.Create(ctx, app); err != nil {
		return err
	}
	inst := instance(app)
	var secrets []string
	data := map[string]map[string][]byte{}
	if pg != nil {
		// Retried as the operator retries a failed reconcile; counted.
		var creds services.Credentials
		var err error
		for try := 0; try < 3; try++ {
			if creds, err = pg.Ensure(ctx, inst, nil); err == nil {
				break
			}
			retries.Add(1)
			fmt.Printf("the floor: ensure %s failed, retried: %v\n", app.Name, err)
		}
		if err != nil {
			return fmt.Errorf("ensure %s: %w", app.Name, err)
		}
		name := plattrv1.ServiceSecretName(app.Name, pg.Name())
		secrets, data[name] = []string{name}, creds
	}
	d := controller.DesiredWorkload(app, inst.Host, secrets, controller.SecretsHash(data), controller.Workload{})
	objs := []client.Object{d.ServiceAccount}
	for _, name := range secrets {
		objs = append(objs, &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: app.Namespace, Labels: d.Deployment.Labels},
			Type:       corev1.SecretTypeOpaque, Data: data[name]})
	}
	objs = append(objs, d.Service, d.Deployment)
	if d.Ingress != nil {
		objs = append(objs, d.Ingress)
	}
	for _, o := range objs {
		if err := apply(app, o); err != nil {
			return fmt.Errorf("apply %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}
