package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// Finalizer removes an Application's backing-service data (per its deletion policy)
// before the Application goes.
const Finalizer = "plattr.dev/finalizer"

// FieldOwner is the field manager of everything the operator applies.
const FieldOwner = "plattr-operator"

// Config is what the reconciler needs to know about the platform.
type Config struct {
	// BaseDomain: hosts default to <app>.<env>.<BaseDomain>, <app>.<BaseDomain> in production.
	BaseDomain string
	// ProductionEnv names the production environment (default "prod").
	ProductionEnv string
	// Workload settings (ingress class, cert-manager issuer).
	Workload Workload
	// Resync is how often an Application that uses backing services is observed
	// again (reads only), so drift in a backend (a widened Redis user, a changed
	// password, a role edited by hand) is found and undone. Zero: never.
	Resync time.Duration
	// ReconcileTimeout bounds the backend calls of one reconcile (0:
	// DefaultReconcileTimeout), so a backend that accepts connections and stalls
	// cannot hold a worker. The status is still written after it: the whole
	// reconcile is cut at twice this.
	ReconcileTimeout time.Duration
	// RotationDeadline is how long a credential rotation may wait for the
	// pods and sessions of the previous credentials before the
	// CredentialsRotated condition says it is stuck (0:
	// DefaultRotationDeadline). Both credentials stay valid meanwhile.
	RotationDeadline time.Duration
}

// DefaultRotationDeadline is Config.RotationDeadline's default: longer than
// a Deployment's default progress deadline (10 minutes) and a pod's
// graceful shutdown, so a rotation stuck past it waits for a person.
const DefaultRotationDeadline = 30 * time.Minute

// DefaultReconcileTimeout bounds a reconcile's backend calls when
// Config.ReconcileTimeout is zero.
const DefaultReconcileTimeout = time.Minute

func (c Config) reconcileTimeout() time.Duration {
	return cmp.Or(c.ReconcileTimeout, DefaultReconcileTimeout)
}

// backends bounds the context of a reconcile's calls to the backing services.
func (r *ApplicationReconciler) backends(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.Config.reconcileTimeout())
}

// ApplicationReconciler reconciles Plattr Applications.
type ApplicationReconciler struct {
	client.Client
	// APIReader reads around the cache, which holds only Plattr's own objects: it
	// finds a Secret someone else made before Plattr provisions anything for it.
	APIReader client.Reader
	Recorder  record.EventRecorder
	Services  []services.Provisioner
	Config    Config
	// GitHub records releases as GitHub Deployments on their source
	// repositories; nil: not configured.
	GitHub GitHubDeployments

	// applied holds, per object UID, the generation this operator last applied.
	applied sync.Map
	// recorded holds, per GitHub deployment ID, the state this operator last
	// gave it: a reconcile that read a status older than its own last write
	// (the cache behind) calls GitHub for nothing.
	recorded sync.Map
}

// +kubebuilder:rbac:groups=plattr.dev,resources=applications,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=plattr.dev,resources=applications/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=plattr.dev,resources=applications/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups="",resources=services;serviceaccounts;secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=external-secrets.io,resources=externalsecrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=plattr-system,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",namespace=plattr-system,resources=configmaps,verbs=get;list;watch;create;update;patch;delete

// Reconcile brings one Application to its desired state: read it, handle deletion,
// keep the finalizer, provision its services, apply its workload, and patch its
// status once.
func (r *ApplicationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	app := &plattrv1.Application{}
	if err := r.Get(ctx, req.NamespacedName, app); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	inst, err := r.instance(ctx, app)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !app.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, app, inst)
	}
	if !controllerutil.ContainsFinalizer(app, Finalizer) {
		patch := client.MergeFrom(app.DeepCopy())
		controllerutil.AddFinalizer(app, Finalizer)
		if err := r.Patch(ctx, app, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	st := newStatus(app)
	if err := validate(app); err != nil {
		st.invalid(app, err.Error())
		ghErr := r.reportDeployment(ctx, app, inst, st)
		return r.outcome(ctx, app, errors.Join(reconcile.TerminalError(err), ghErr, r.patchStatus(ctx, app, st)))
	}
	svcCtx, cancel := r.backends(ctx)
	secrets, svcErr := r.reconcileServices(svcCtx, app, inst, st)
	cancel()
	wlErr := r.reconcileWorkload(ctx, app, inst, secrets, svcErr == nil, st)
	if svcErr == nil && wlErr == nil {
		rotCtx, cancel := r.backends(ctx)
		wlErr = r.finishRotations(rotCtx, app, inst, secrets, st)
		cancel()
	}
	scheduleRotations(app, st)
	st.summarize(app)
	ghErr := r.reportDeployment(ctx, app, inst, st)
	if err := r.patchStatus(ctx, app, st); err != nil {
		return ctrl.Result{}, err
	}
	res, err := r.outcome(ctx, app, errors.Join(svcErr, wlErr, ghErr))
	countOutcome(st, errors.Join(svcErr, wlErr, ghErr))
	if !st.wake.IsZero() && res.RequeueAfter >= 0 && err == nil {
		// A scheduled rotation comes due before the next resync.
		if in := time.Until(st.wake) + time.Second; res.RequeueAfter == 0 || in < res.RequeueAfter {
			res.RequeueAfter = max(in, time.Second)
		}
	}
	return res, err
}

// outcome decides between the ends of a reconcile. An error that a retry can
// mend is returned (exponential backoff), even when a sibling service waits for
// a person. When every error waits for a person (the Stalled condition says
// which), retrying cannot help: no backoff, but the app is still observed again
// after the resync period like a healthy one (a foreign Secret deleted by hand
// sends no event the operator's cache sees). Waiting for the workload needs no
// timer: the Deployment's status changes wake the reconciler through its watch.
func (r *ApplicationReconciler) outcome(ctx context.Context, app *plattrv1.Application, err error) (ctrl.Result, error) {
	resync := ctrl.Result{RequeueAfter: r.resyncAfter(app)}
	if err == nil {
		return resync, nil
	}
	// Only the errors a retry can mend are returned: controller-runtime does not
	// retry an error that has a TerminalError anywhere in its tree.
	if retry := retryable(err); retry != nil {
		return ctrl.Result{}, retry
	}
	ctrl.LoggerFrom(ctx).Error(err, "waiting for a person to act (see the Application's conditions)")
	return resync, nil
}

// retryable is the part of err that is not a reconcile.TerminalError: the joined
// errors a retry can mend, nil when there are none.
func retryable(err error) error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, retryable(e))
		}
		return errors.Join(out...)
	}
	if errors.Is(err, reconcile.TerminalError(nil)) {
		return nil
	}
	return err
}

// resyncAfter is when app's backing services are observed again: Config.Resync
// when it uses any (zero when it uses none: the workload's watches are enough).
func (r *ApplicationReconciler) resyncAfter(app *plattrv1.Application) time.Duration {
	for _, p := range r.Services {
		if p.Enabled(&app.Spec) {
			return r.Config.Resync
		}
	}
	return 0
}

// instance says which environment an Application is in — from its namespace's
// plattr.dev/environment label, else the namespace's name, never from the release
// file — and where it is served.
func (r *ApplicationReconciler) instance(ctx context.Context, app *plattrv1.Application) (services.Instance, error) {
	var ns corev1.Namespace
	if err := r.Get(ctx, client.ObjectKey{Name: app.Namespace}, &ns); err != nil {
		return services.Instance{}, fmt.Errorf("read namespace %q: %w", app.Namespace, err)
	}
	env := ns.Labels[plattrv1.LabelEnvironment]
	if env == "" {
		env = ns.Name
	}
	return services.Instance{Env: env, App: app.Name, Namespace: app.Namespace, Host: r.host(app, env), Spec: &app.Spec,
		Development: ns.Labels[plattrv1.LabelDevelopment] == "true"}, nil
}

func (r *ApplicationReconciler) host(app *plattrv1.Application, env string) string {
	return plattrv1.HostOf(app, env, r.Config.BaseDomain, env == r.Config.productionEnv())
}

// productionEnv is the production environment's name.
func (c Config) productionEnv() string { return cmp.Or(c.ProductionEnv, plattrv1.DefaultProductionEnv) }

// SetupWithManager registers the reconciler: Applications, and the objects they
// own; concurrency is how many Applications are reconciled at once (0: 1). A
// service that can tell its backend forgot everything (services.Watcher) gets a
// runnable that observes every Application using it again when it says so.
func (r *ApplicationReconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	b := ctrl.NewControllerManagedBy(mgr).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(concurrency, 1),
			ReconciliationTimeout:   2 * r.Config.reconcileTimeout(),
		}).
		For(&plattrv1.Application{}, builder.WithPredicates(appChanged)).
		Owns(&appsv1.Deployment{}).
		Owns(&batchv1.Job{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(appOfSecret)).
		Owns(&networkingv1.Ingress{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Named("application")
	registerApplicationsCollector(mgr.GetCache())
	for _, p := range r.Services {
		w, ok := p.(services.Watcher)
		if !ok {
			continue
		}
		events := make(chan event.TypedGenericEvent[*plattrv1.Application])
		b = b.WatchesRawSource(source.Channel(events, &handler.TypedEnqueueRequestForObject[*plattrv1.Application]{}))
		if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			w.Watch(ctx, func() { r.observeAgain(ctx, p, events) })
			return nil
		})); err != nil {
			return fmt.Errorf("watch %s: %w", p.Name(), err)
		}
	}
	return b.Complete(r)
}

// appChanged lets through the changes of an Application the operator acts
// on: its spec (generation), labels, annotations, finalizers and deletion. Not
// its status: each status patch would otherwise queue the Application again,
// and that reconcile observe every backend once more (a query and a login per
// service) to find nothing to do. What the status waits for comes from the
// owned objects' events, requeues and the resync.
var appChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	o, n := e.ObjectOld, e.ObjectNew
	return o.GetGeneration() != n.GetGeneration() || !o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp()) ||
		!maps.Equal(o.GetLabels(), n.GetLabels()) || !maps.Equal(o.GetAnnotations(), n.GetAnnotations()) ||
		!slices.Equal(o.GetFinalizers(), n.GetFinalizers())
}}

// observeAgain queues every Application that uses p: its backend lost what was
// provisioned (a Redis restarted without an ACL file), so each is observed and
// restored at once rather than after the resync period. The list comes from the
// cache: no request to the API server.
func (r *ApplicationReconciler) observeAgain(ctx context.Context, p services.Provisioner, events chan<- event.TypedGenericEvent[*plattrv1.Application]) {
	var apps plattrv1.ApplicationList
	if err := r.List(ctx, &apps); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list Applications to observe again", "service", p.Name())
		return
	}
	n := 0
	for i := range apps.Items {
		app := &apps.Items[i]
		if !p.Enabled(&app.Spec) {
			continue
		}
		select {
		case events <- event.TypedGenericEvent[*plattrv1.Application]{Object: app}:
			n++
		case <-ctx.Done():
			return
		}
	}
	ctrl.LoggerFrom(ctx).Info("backend lost its state: observing its Applications again", "service", p.Name(), "applications", n)
}
