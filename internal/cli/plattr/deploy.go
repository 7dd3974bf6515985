package plattr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

const (
	// LocalEnv is the environment `plattr deploy local` deploys into. Its namespace
	// has the same name, as staging, uat and prod do (bases/environments).
	LocalEnv = "local"
	// FieldManager owns what the CLI applies; the operator's is "plattr-operator".
	FieldManager = "plattr"
	// installHint is how a cluster gets Plattr.
	installHint = "install Plattr: kubectl apply -k overlays/local (in a checkout of github.com/plattr/plattr, after Argo CD; see its docs/operating.md, \"Installing the platform\")"
)

type deployOptions struct {
	dir, kubeContext, kubeconfig, image string
	timeout                             time.Duration
	poll                                time.Duration
}

func newDeployCmd(io IO) *cobra.Command {
	deploy := &cobra.Command{
		Use:   "deploy local",
		Short: "Deploy the app to a local cluster, without Argo CD",
		Args: func(cmd *cobra.Command, args []string) error {
			return usageError{fmt.Errorf("%s needs a target: 'plattr deploy local' (releases to other environments go through the env repo)", cmd.CommandPath())}
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	o := &deployOptions{poll: 500 * time.Millisecond}
	local := &cobra.Command{
		Use:   "local [--dir .] [--context C] [--kubeconfig F] [--image IMG] [--timeout 5m]",
		Short: "Apply the app to the current Kubernetes context and wait until it is Ready",
		Long: "local renders the app's Application for the environment \"local\" (the release plattr-gen would render, with\n" +
			"the defaults of a first env.yaml), makes sure the namespace \"local\" exists labelled\n" +
			"plattr.dev/environment=local, server-side-applies the Application (field manager \"plattr\"), and shows each\n" +
			"condition the operator reports until Ready, then the app's URL. The cluster needs Plattr installed\n" +
			"(kubectl apply -k overlays/local). The image is used as given (a tag is fine here): build it and load it\n" +
			"into the cluster first, e.g. 'docker build -t shop:local . && kind load docker-image shop:local'.",
		Example: "  plattr deploy local\n" +
			"  plattr deploy local --context kind-plattr --image ghcr.io/acme/shop:pr-42 --timeout 10m",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("%s takes no arguments, got %q (see --help)", cmd.CommandPath(), args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), io) },
	}
	f := local.Flags()
	f.StringVar(&o.dir, "dir", ".", "the app's folder, holding plattr.yaml")
	f.StringVar(&o.kubeContext, "context", "", "kubeconfig context to deploy to (default: the current context)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	f.StringVar(&o.image, "image", "", "image to run (default: <app>:local)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for the Application to be Ready")
	deploy.AddCommand(local)
	return deploy
}

func (o *deployOptions) run(ctx context.Context, io IO) error {
	if o.timeout <= 0 {
		return usageError{fmt.Errorf("--timeout must be positive, is %s", o.timeout)}
	}
	m, err := loadManifest(o.dir, "--dir")
	if err != nil {
		return err
	}
	ref := o.image
	if ref == "" {
		ref = m.Name + ":local"
	}
	img, err := generator.ParseImage(ref, true)
	if err != nil {
		return usageError{fmt.Errorf("--image: %w", err)}
	}
	app, err := generator.Local(m, img, LocalEnv)
	if err != nil {
		return err
	}
	cfg, where, err := o.restConfig()
	if err != nil {
		return err
	}
	c, err := connect(ctx, cfg, where)
	if err != nil {
		return err
	}
	if err := applyNamespace(ctx, c, LocalEnv); err != nil {
		return err
	}
	// Server-side apply of a typed object: Client.Apply would need apply configurations.
	if err := c.Patch(ctx, app, client.Apply, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply Application %s/%s: %w", app.Namespace, app.Name, err)
	}
	fmt.Fprintf(io.Out, "applied Application %s/%s (image %s) to %s\n", app.Namespace, app.Name, img.Ref, where)
	ready, err := waitReady(ctx, c, client.ObjectKeyFromObject(app), app.Generation, o.timeout, o.poll, io)
	if err != nil {
		return err
	}
	if ready.Status.URL == "" {
		fmt.Fprintf(io.Out, "%s is Ready; it has no URL (the operator has no base domain, or spec.ingress is disabled)\n", app.Name)
		return nil
	}
	fmt.Fprintf(io.Out, "%s is Ready at %s\n", app.Name, ready.Status.URL)
	return nil
}

// restConfig loads the kubeconfig as kubectl does, with --kubeconfig and --context
// taking precedence, and says which context of which file it chose.
func (o *deployOptions) restConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.kubeconfig != "" {
		if _, err := os.Stat(o.kubeconfig); err != nil {
			return nil, "", usageError{fmt.Errorf("--kubeconfig %s: %w", o.kubeconfig, errors.Unwrap(err))}
		}
		rules.ExplicitPath = o.kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.kubeContext})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, "", fmt.Errorf("read kubeconfig: %w", err)
	}
	files := strings.Join(rules.GetLoadingPrecedence(), string(os.PathListSeparator))
	if o.kubeconfig != "" {
		files = o.kubeconfig
	}
	name := cmp.Or(o.kubeContext, raw.CurrentContext)
	if name == "" {
		return nil, "", usageError{fmt.Errorf("no Kubernetes context: %s sets no current context; pass --context, or --kubeconfig (create a local cluster with kind, k3d or minikube)", files)}
	}
	if _, ok := raw.Contexts[name]; !ok {
		var names []string
		for n := range raw.Contexts {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, "", usageError{fmt.Errorf("--context %q: no such context in %s (it has: %s)", name, files, strings.Join(names, ", "))}
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("context %q of %s: %w", name, files, err)
	}
	return cfg, fmt.Sprintf("context %q (%s)", name, cfg.Host), nil
}

// connect checks that the API server answers and serves Plattr's Application, and
// returns a client for it.
func connect(ctx context.Context, cfg *rest.Config, where string) (client.Client, error) {
	probe := rest.CopyConfig(cfg)
	probe.Timeout = 15 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(probe)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if _, err := dc.ServerVersion(); err != nil {
		return nil, fmt.Errorf("cannot reach the cluster of %s: %w; is it running? Choose another with --context or --kubeconfig", where, err)
	}
	// Every request has a deadline: a stalled API server must not hang deploy.
	bounded := rest.CopyConfig(cfg)
	bounded.Timeout = 30 * time.Second
	c, err := client.New(bounded, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	gk := schema.GroupKind{Group: plattrv1.GroupVersion.Group, Kind: plattrv1.Kind}
	if _, err := c.RESTMapper().RESTMapping(gk, plattrv1.GroupVersion.Version); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("the cluster of %s does not know Plattr's Application (%s): %s", where, plattrv1.GroupVersion, installHint)
		}
		return nil, fmt.Errorf("look up Plattr's Application in %s: %w", where, err)
	}
	return c, nil
}

// applyNamespace makes sure the environment's namespace exists with the label the
// operator reads the environment from; other labels are left alone.
func applyNamespace(ctx context.Context, c client.Client, env string) error {
	ns := &corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: env, Labels: map[string]string{
			plattrv1.LabelEnvironment: env, plattrv1.LabelDevelopment: "true", "app.kubernetes.io/part-of": "plattr"}},
	}
	// Server-side apply, as the Application's.
	if err := c.Patch(ctx, ns, client.Apply, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply namespace %q: %w", env, err)
	}
	return nil
}

// waitReady polls the Application until the operator reports it Ready at
// generation gen, printing each condition that changes. It fails at once when the
// Application is Stalled (a person must act), and after timeout naming the part
// that is not ready.
func waitReady(ctx context.Context, c client.Client, key client.ObjectKey, gen int64, timeout, poll time.Duration, io IO) (*plattrv1.Application, error) {
	// The deadline is a timer, not the reads' context: a read near the deadline
	// must not fail with the client's own "would exceed context deadline".
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	shown := map[string]string{}
	app := &plattrv1.Application{}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		if err := c.Get(ctx, key, app); err != nil {
			return nil, fmt.Errorf("read Application %s: %w", key, err)
		}
		current := app.Status.ObservedGeneration >= gen
		for _, cond := range app.Status.Conditions {
			if cond.ObservedGeneration < gen {
				continue
			}
			line := conditionLine(cond)
			if shown[cond.Type] != line {
				shown[cond.Type] = line
				fmt.Fprintf(io.Out, "  %s\n", line)
			}
		}
		if current && meta.IsStatusConditionTrue(app.Status.Conditions, plattrv1.ConditionReady) {
			return app, nil
		}
		if current && meta.IsStatusConditionTrue(app.Status.Conditions, plattrv1.ConditionStalled) {
			return nil, fmt.Errorf("Application %s cannot become Ready until a person acts: %s", key, notReady(app))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			if !current {
				return nil, fmt.Errorf("timed out after %s: the operator has not reconciled Application %s (generation %d); is it running? kubectl -n plattr-system get deployment plattr-operator",
					timeout, key, gen)
			}
			return nil, fmt.Errorf("timed out after %s waiting for Application %s to be Ready: %s", timeout, key, notReady(app))
		case <-tick.C:
		}
	}
}

func conditionLine(c metav1.Condition) string {
	line := c.Type + "=" + string(c.Status)
	if c.Status != metav1.ConditionTrue && c.Message != "" {
		line += ": " + c.Message
	}
	return line
}

// notReady names the first part condition that is not True (the parts say why
// Ready is not), else Ready itself.
func notReady(app *plattrv1.Application) string {
	for _, c := range app.Status.Conditions {
		if c.Type != plattrv1.ConditionReady && c.Type != plattrv1.ConditionStalled && c.Status != metav1.ConditionTrue {
			return conditionLine(c) + " (" + c.Reason + ")"
		}
	}
	if c := meta.FindStatusCondition(app.Status.Conditions, plattrv1.ConditionReady); c != nil {
		return conditionLine(*c) + " (" + c.Reason + ")"
	}
	return "Ready is not reported yet"
}
