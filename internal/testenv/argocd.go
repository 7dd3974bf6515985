package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
)

// ArgoCDVersion is the version `make argocd-assets` builds: the version of the
// Argo CD API types the generator writes and of the CRDs the cluster has.
const ArgoCDVersion = "v3.4.2"

// ArgoCDNamespace is where Argo CD runs and looks for Applications.
const ArgoCDNamespace = "argocd"

// ArgoCD is a real Argo CD repo server and application controller, both from the
// binary `make argocd-assets` built, running against the test cluster as they
// run in one: the controller treats https://kubernetes.default.svc as the test
// API server.
type ArgoCD struct {
	// Namespace Argo CD runs in (Applications live there).
	Namespace string
	// Logs is the folder of the processes' logs.
	Logs string
	// Server is argocd-server's URL (plain http on 127.0.0.1) and
	// AdminPassword its admin's password, with ArgoCDOptions.Server.
	Server, AdminPassword string
}

// ArgoCDAssetsDir is where `make argocd-assets` put the argocd and kustomize
// binaries: $PLATTR_ARGOCD_ASSETS, else bin/argocd/<version> in the project.
func ArgoCDAssetsDir() (string, error) {
	dir := os.Getenv("PLATTR_ARGOCD_ASSETS")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "bin", "argocd", ArgoCDVersion)
	}
	for _, bin := range []string{"argocd", "kustomize"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("no %s in %s: run 'make argocd-assets' (or 'make test-e2e', which builds it)", bin, dir)
		}
	}
	return dir, nil
}

// ArgoCDOptions configures StartArgoCD.
type ArgoCDOptions struct {
	// Redis is the host:port of the Redis Argo CD caches in; give it a server of
	// its own (StartPrivateRedis): its keys are named after Applications.
	Redis string
	// ConfigData is added to the argocd-cm ConfigMap (resource customisations).
	ConfigData map[string]string
	// Server starts argocd-server too (the API the UI calls), with its admin
	// user's password set.
	Server bool
	// AppResync is the application controller's poll of every Application
	// (--app-resync, with no jitter); zero: Argo CD's default, 180 s with up
	// to 60 s of jitter.
	AppResync time.Duration
}

// StartArgoCD installs Argo CD's minimal configuration into the argocd namespace
// (argocd-cm, argocd-secret and the default AppProject, which argocd-server
// would otherwise create) and starts argocd-repo-server and
// argocd-application-controller. They are stopped when the package's tests end.
// The application controller reconciles every 180 s unless an Application is
// annotated argocd.argoproj.io/refresh, as in a cluster.
func (c *Cluster) StartArgoCD(t testing.TB, opts ArgoCDOptions) *ArgoCD {
	t.Helper()
	skipShort(t, "Argo CD")
	a, err := c.startArgoCD(opts)
	if err != nil {
		t.Fatalf("start Argo CD: %v", err)
	}
	return a
}

func (c *Cluster) startArgoCD(opts ArgoCDOptions) (*ArgoCD, error) {
	assets, err := ArgoCDAssetsDir()
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	password := ""
	if opts.Server {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		password = hex.EncodeToString(b)
	}
	if err := c.installArgoCDConfig(ctx, opts.ConfigData, password); err != nil {
		return nil, err
	}
	// The binary is one: it runs as the component its name says. Links in a
	// folder of this run's give each its name, and the reaper finds them by it.
	dir, err := os.MkdirTemp("", "plattr-testenv-argocd-")
	if err != nil {
		return nil, err
	}
	onStop(func() { os.RemoveAll(dir) })
	for _, name := range []string{"argocd-repo-server", "argocd-application-controller", "argocd-server"} {
		if err := os.Symlink(filepath.Join(assets, "argocd"), filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, err
	}
	ports := make([]int, 5)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	repoServer := fmt.Sprintf("127.0.0.1:%d", ports[0])
	env := append(os.Environ(),
		// kustomize and git come from PATH; Argo CD's own kustomize first.
		"PATH="+assets+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TMPDIR="+tmp,
		"ARGOCD_ASK_PASS_SOCK="+filepath.Join(dir, "askpass.sock"),
		"ARGOCD_GPG_ENABLED=false",
		"ARGOCD_SSH_DATA_PATH="+filepath.Join(dir, "ssh"),
		"ARGOCD_TLS_DATA_PATH="+filepath.Join(dir, "tls"),
		"ARGOCD_APP_CONF_PATH="+filepath.Join(dir, "conf"),
		// https://kubernetes.default.svc is the cluster of $KUBECONFIG.
		"ARGOCD_FAKE_IN_CLUSTER=true",
		"KUBECONFIG="+c.Kubeconfig,
	)
	procs := []struct {
		name string
		args []string
	}{
		{"argocd-repo-server", []string{"--address", "127.0.0.1", "--port", fmt.Sprint(ports[0]), "--disable-tls",
			"--metrics-address", "127.0.0.1", "--metrics-port", fmt.Sprint(ports[1]), "--redis", opts.Redis,
			"--logformat", "text"}},
		{"argocd-application-controller", []string{"--kubeconfig", c.Kubeconfig, "--namespace", ArgoCDNamespace,
			"--repo-server", repoServer, "--repo-server-plaintext", "--redis", opts.Redis,
			"--metrics-port", fmt.Sprint(ports[2]), "--logformat", "text",
			// Each resource's health in the Application's status (Argo CD
			// 3 keeps it only in Redis by default): tests read it there.
			"--persist-resource-health",
			// Two cores: fewer workers than a cluster's defaults (20 and 10).
			"--status-processors", "4", "--operation-processors", "4"}},
	}
	if opts.AppResync > 0 {
		procs[1].args = append(procs[1].args, "--app-resync", fmt.Sprint(int(opts.AppResync.Seconds())), "--app-resync-jitter", "0")
	}
	server := fmt.Sprintf("127.0.0.1:%d", ports[3])
	if opts.Server {
		procs = append(procs, struct {
			name string
			args []string
		}{"argocd-server", []string{"--insecure", "--address", "127.0.0.1", "--port", fmt.Sprint(ports[3]),
			"--metrics-port", fmt.Sprint(ports[4]), "--namespace", ArgoCDNamespace, "--repo-server", repoServer, "--repo-server-plaintext",
			"--redis", opts.Redis, "--staticassets", filepath.Join(dir, "static"), "--logformat", "text"}})
	}
	for _, p := range procs {
		if err := startProcessEnv(filepath.Join(dir, p.name), p.args, env, filepath.Join(dir, p.name+".log")); err != nil {
			return nil, err
		}
	}
	if err := reapOnExit(dir); err != nil {
		return nil, err
	}
	listening := map[string]string{"argocd-repo-server": repoServer}
	if opts.Server {
		listening["argocd-server"] = server
	}
	for name, addr := range listening {
		if err := waitListening(addr, filepath.Join(dir, name+".log"), name); err != nil {
			return nil, err
		}
	}
	a := &ArgoCD{Namespace: ArgoCDNamespace, Logs: dir}
	if opts.Server {
		a.Server, a.AdminPassword = "http://"+server, password
	}
	return a, nil
}

// waitListening waits up to 60 s for a process to listen on addr.
func waitListening(addr, log, name string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not listen on %s within 60 s; its log ends:\n%s", name, addr, LogTail(log, 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// installArgoCDConfig creates what Argo CD reads at start: its ConfigMap and
// Secret (labelled as Argo CD's settings manager selects them) and the default
// AppProject.
func (c *Cluster) installArgoCDConfig(ctx context.Context, data map[string]string, adminPassword string) error {
	if err := c.EnsureNamespace(ctx, ArgoCDNamespace); err != nil {
		return err
	}
	labels := map[string]string{"app.kubernetes.io/part-of": "argocd"}
	cmData := map[string]string{"application.resourceTrackingMethod": "annotation"}
	for k, v := range data {
		cmData[k] = v
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	secret := map[string][]byte{"server.secretkey": []byte(hex.EncodeToString(key))}
	if adminPassword != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
		if err != nil {
			return err
		}
		secret["admin.password"], secret["admin.passwordMtime"] = hash, []byte(time.Now().UTC().Format(time.RFC3339))
	}
	objs := []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "argocd-cm", Namespace: ArgoCDNamespace, Labels: labels}, Data: cmData},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "argocd-rbac-cm", Namespace: ArgoCDNamespace, Labels: labels}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-secret", Namespace: ArgoCDNamespace, Labels: labels},
			Data: secret},
		&argov1.AppProject{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ArgoCDNamespace},
			Spec: argov1.AppProjectSpec{
				SourceRepos:              []string{"*"},
				Destinations:             []argov1.ApplicationDestination{{Server: "*", Namespace: "*"}},
				ClusterResourceWhitelist: []argov1.ClusterResourceRestrictionItem{{Group: "*", Kind: "*"}},
			}},
	}
	for _, o := range objs {
		if err := c.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// LogTail is the end of a component's log ("argocd-repo-server" or
// "argocd-application-controller"), for a failing test's message.
func (a *ArgoCD) LogTail(component string, n int) string {
	return LogTail(filepath.Join(a.Logs, component+".log"), n)
}

// LogContains reports whether a component's log holds s (tests check secrets never reach it).
func (a *ArgoCD) LogContains(component, s string) bool {
	out, _ := os.ReadFile(filepath.Join(a.Logs, component+".log"))
	return strings.Contains(string(out), s)
}
