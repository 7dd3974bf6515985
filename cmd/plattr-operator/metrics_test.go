package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// operatorUnderTest is the real operator binary, installed from bases/install
// and run as its own ServiceAccount (the RBAC generated from its markers,
// nothing more), with one Application to count; started once per package.
type operatorUnderTest struct {
	addr, logFile string
	// token is the operator's ServiceAccount's, bound to plattr-metrics-reader
	// as a team binds its Prometheus's; nobody's is another ServiceAccount's.
	token, nobody string
}

var (
	opOnce sync.Once
	op     *operatorUnderTest
)

func startOperator(t *testing.T) *operatorUnderTest {
	t.Helper()
	c := testenv.StartCluster(t)
	opOnce.Do(func() { op = installAndRun(t, c) })
	if op == nil {
		t.Fatal("the operator did not start (see the first test's failure)")
	}
	return op
}

func installAndRun(t *testing.T, c *testenv.Cluster) *operatorUnderTest {
	ctx := context.Background()
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	c.Apply(t, "plattr-test", testenv.Kustomize(t, filesys.MakeFsOnDisk(), filepath.Join(root, "bases", "install"))...)
	cs, err := kubernetes.NewForConfig(c.Config)
	require.NoError(t, err)
	const ns, sa = "plattr-system", "plattr-operator"
	token := func(ns, name string) string {
		t.Helper()
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
		require.NoError(t, err)
		return tr.Status.Token
	}
	o := &operatorUnderTest{token: token(ns, sa)}
	_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "test-nobody"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	o.nobody = token(ns, "test-nobody")
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "test-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: operator.MetricsReaderRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	dir, err := os.MkdirTemp("", "plattr-testenv-operator-")
	require.NoError(t, err)
	testenv.OnStop(func() { os.RemoveAll(dir) }) // after the process stops: stops run last first
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"test": {Server: c.Config.Host, CertificateAuthorityData: c.Config.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{sa: {Token: o.token}},
		Contexts:       map[string]*clientcmdapi.Context{"test": {Cluster: "test", AuthInfo: sa}},
		CurrentContext: "test",
	}, kubeconfig))
	bin := filepath.Join(dir, "plattr-operator")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "build the operator: %s", out)
	o.addr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	o.logFile = testenv.StartProcess(t, bin, []string{"--leader-elect=false", "--health-probe-bind-address=0",
		"--metrics-bind-address=" + o.addr, "--base-domain=metrics.example.com"},
		[]string{"KUBECONFIG=" + kubeconfig, "HOME=" + dir, "PATH=" + os.Getenv("PATH")})

	appNS := c.Namespace(t, "staging")
	require.NoError(t, c.Client.Create(ctx, &plattrv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: appNS},
		Spec: plattrv1.ApplicationSpec{Image: "ghcr.io/acme/hello@sha256:" + strings.Repeat("ab", 32)}}))
	testenv.Eventually(t, time.Minute, "the metrics endpoint serves", func() (bool, error) {
		code, _ := o.get("")
		return code != 0, nil
	})
	return o
}

// get is GET /metrics over HTTPS with bearer (none when empty): the status
// (0 when there is no answer) and the body. The certificate is self-signed:
// the scraper does not verify it (as bases/prometheus's ServiceMonitor), but
// the connection is TLS.
func (o *operatorUnderTest) get(bearer string) (int, string) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+o.addr+"/metrics", nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metrics waits for the operator's token to get Plattr's metrics, counting
// the Application and its first reconcile, and returns them.
func (o *operatorUnderTest) metrics(t *testing.T) string {
	t.Helper()
	var code int
	var body string
	testenv.Eventually(t, time.Minute, "the operator's token gets Plattr's metrics", func() (bool, error) {
		code, body = o.get(o.token)
		if code == http.StatusOK && strings.Contains(body, `plattr_applications{environment="staging"`) &&
			strings.Contains(body, "plattr_application_reconciles_total{") && strings.Contains(body, "controller_runtime_reconcile_time_seconds_bucket{") {
			return true, nil
		}
		return false, fmt.Errorf("status %d; the operator's log ends:\n%s", code, testenv.LogTail(o.logFile, 3000))
	})
	return body
}

// The metrics endpoint answers a token allowed to read it, and nobody else:
// no token, a forged one and a real token without plattr-metrics-reader are
// refused, plain HTTP gets no metrics, and no token reaches the log.
func TestMetrics_AuthenticatedAndAuthorized(t *testing.T) {
	o := startOperator(t)
	code, body := o.get("")
	assert.Equal(t, http.StatusUnauthorized, code, "no token: %s", body)
	assert.NotContains(t, body, "plattr_")
	code, body = o.get("forged." + o.token[strings.Index(o.token, ".")+1:])
	assert.Equal(t, http.StatusUnauthorized, code, "a forged token: %s", body)
	code, body = o.get(o.nobody)
	assert.Equal(t, http.StatusForbidden, code, "a real token without %s: %s", operator.MetricsReaderRole, body)
	assert.NotContains(t, body, "plattr_")

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + o.addr + "/metrics")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.NotContains(t, string(b), "plattr_", "plain HTTP gets no metrics")
	}

	metrics := o.metrics(t)
	assert.True(t, strings.Contains(metrics, "controller_runtime_reconcile_total"), "controller-runtime's own metrics are served beside Plattr's")

	log, err := os.ReadFile(o.logFile)
	require.NoError(t, err)
	for _, secret := range []string{o.token, o.nobody} {
		assert.NotContains(t, string(log), secret, "a token in the operator's log")
	}
}
