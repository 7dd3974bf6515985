package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// Cluster is a real kube-apiserver and etcd with the project's CRDs and Argo CD's.
type Cluster struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	// Kubeconfig is the path of a kubeconfig for the cluster's admin, and
	// Admin the same credentials (a client certificate of system:masters).
	Kubeconfig string
	Admin      *rest.Config
	// Assets is the folder of the binaries.
	Assets string

	env       *envtest.Environment
	workloads sync.Once
	wlErr     error
}

var (
	clusterOnce sync.Once
	cluster     *Cluster
	clusterErr  error
)

// Scheme knows the built-in types, Plattr's Application and Argo CD's types.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, plattrv1.AddToScheme, argov1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// StartCluster returns the package's API server, starting it on first use (about
// 3 s). It is stopped by Main when the package's tests end.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	skipShort(t, "a kube-apiserver")
	clusterOnce.Do(func() { cluster, clusterErr = startCluster() })
	if clusterErr != nil {
		t.Fatalf("start the test API server: %v", clusterErr)
	}
	return cluster
}

// StartOtherCluster starts another cluster: an API server and etcd of its own,
// with the same CRDs, for tests of more than one cluster (a spoke that Argo CD
// in the package's cluster deploys to). Each call starts one; they stop when
// the package's tests end.
func StartOtherCluster(t testing.TB) *Cluster {
	t.Helper()
	skipShort(t, "a second kube-apiserver")
	c, err := startCluster()
	if err != nil {
		t.Fatalf("start another test API server: %v", err)
	}
	return c
}

func startCluster() (*Cluster, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	s := Scheme()
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths: []string{filepath.Join(root, "bases", "crds"), filepath.Join(assets, "argocd-crds"),
			filepath.Join(root, "internal", "testenv", "crds")},
		ErrorIfCRDPathMissing: true,
		Scheme:                s,
		// envtest waits 10 s for the CRDs to be served: on 2 busy cores (the
		// test packages run side by side) that is not always enough.
		CRDInstallOptions: envtest.CRDInstallOptions{MaxTime: time.Minute},
	}
	// envtest's default Service range is a /24: 250 Services. The operator
	// benchmark makes 1,000.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.0.0.0/16")
	cfg, err := env.Start()
	if err != nil {
		// A start that failed after the servers came up (the CRDs did not
		// install) would leave them running past the test binary.
		_ = env.Stop()
		return nil, err
	}
	c := &Cluster{Config: cfg, Scheme: s, Assets: assets, env: env}
	onStop(func() { c.stop() })
	if err := reapOnExit(assets); err != nil {
		return nil, err
	}
	if c.Client, err = client.New(cfg, client.Options{Scheme: s}); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "plattr-testenv-")
	if err != nil {
		return nil, err
	}
	onStop(func() { os.RemoveAll(dir) })
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "plattr-test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	c.Admin = user.Config()
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kc, 0o600); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) stop() {
	if err := c.env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: stop the API server: %v\n", err)
	}
}

// Namespace creates a namespace with a unique name for the test, labelled as a
// Plattr environment when env is not empty, and deletes it when the test ends.
func (c *Cluster) Namespace(t testing.TB, env string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "t-" + randomSuffix(8)}}
	if env != "" {
		ns.Labels = map[string]string{plattrv1.LabelEnvironment: env}
	}
	ctx := context.Background()
	if err := c.Client.Create(ctx, ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = c.Client.Delete(context.Background(), ns) })
	return ns.Name
}

// EnsureNamespace creates the namespace name if it does not exist yet.
func (c *Cluster) EnsureNamespace(ctx context.Context, name string) error {
	err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// Eventually polls cond every 100 ms until it returns true or timeout passes;
// the last error it returned explains a timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomSuffix(n int) string {
	b := make([]byte, n/2+1)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
