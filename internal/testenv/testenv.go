// Package testenv is the test ground: a real kube-apiserver and etcd (with
// kube-controller-manager, kube-scheduler and kwok when a test needs workloads to
// become ready), real PostgreSQL and real Redis. Every test that needs a cluster
// or a server gets it here, started once per test package and stopped when the
// package's tests end.
//
// PostgreSQL is a matrix of private servers, 15 to 18 (PostgresMatrix), every one
// with password authentication only and a least-privileged admin as Aurora's;
// StartPostgres is its 15 alone, or PLATTR_TEST_PG_URL. Redis is found
// (PLATTR_TEST_REDIS_URL, the local default port) or started privately;
// PLATTR_TEST_SERVERS=private skips the local Redis, as on a machine without one.
//
// It must never fake what runs here: a test that cannot get its server fails
// with the reason. Only -short skips, and says so.
//
// Use it from a package's TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// K8sVersion is the version of the binaries `make envtest-assets` builds.
const K8sVersion = "v1.34.12"

var (
	stopMu sync.Mutex
	stops  []func()
	// stopErr: a cleanup of what the package's tests shared failed (Main
	// then fails the test binary).
	stopErr error
)

// stopFailed records a failed cleanup of a server the package's tests shared:
// Main prints it and the test binary fails, after every test passed.
func stopFailed(err error) {
	stopErr = errors.Join(stopErr, err)
}

// onStop registers cleanup to run when the package's tests end.
func onStop(f func()) {
	stopMu.Lock()
	defer stopMu.Unlock()
	stops = append(stops, f)
}

// OnStop registers f to run when the package's tests end, after every test:
// the cleanup of what outlives one test (a process several tests share).
func OnStop(f func()) { onStop(f) }

// Main runs the package's tests and then stops every server they started.
func Main(m *testing.M) int {
	if code, ok := RunSQLCommand(); ok {
		return code
	}
	code := m.Run()
	stopMu.Lock()
	defer stopMu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	stops = nil
	if stopErr != nil {
		fmt.Fprintf(os.Stderr, "testenv: cleaning up after the tests: %v\n", stopErr)
		return max(code, 1)
	}
	return code
}

// skipShort skips integration tests in -short mode, explicitly.
func skipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("integration test skipped in -short mode: needs %s", what)
	}
}

// RepoRoot is the folder holding the project's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(data, []byte("module github.com/plattr/plattr\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the project's go.mod above the working directory")
		}
		dir = parent
	}
}

// AssetsDir is where `make envtest-assets` put the cluster's binaries:
// $KUBEBUILDER_ASSETS, else bin/k8s/<version> in the project.
func AssetsDir() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "bin", "k8s", K8sVersion)
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
		return "", fmt.Errorf("no kube-apiserver in %s: run 'make envtest-assets' (or 'make test', which builds it)", dir)
	}
	return dir, nil
}

// FreePort is a TCP port on 127.0.0.1 that nothing listens on now, for a
// process the test starts (the operator's metrics endpoint).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
