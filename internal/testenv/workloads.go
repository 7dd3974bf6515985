package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FakeNodeName is the simulated node kwok runs pods on.
const FakeNodeName = "kwok-node-0"

// StartWorkloads makes workloads really run: kube-controller-manager (Deployments
// get ReplicaSets and Pods), kube-scheduler (Pods get a node) and kwok, the
// Kubernetes project's simulator of nodes and pod lifecycles, with one simulated
// node, so Pods turn Running and Deployments Available without a kubelet; the
// pods of Jobs really run their commands on this machine (see jobRunner). Tests
// that need readiness opt in; the processes stop with the cluster.
func (c *Cluster) StartWorkloads(t testing.TB) {
	t.Helper()
	c.workloads.Do(func() { c.wlErr = c.startWorkloads() })
	if c.wlErr != nil {
		t.Fatalf("start the workload simulation: %v", c.wlErr)
	}
}

func (c *Cluster) startWorkloads() error {
	logs, err := os.MkdirTemp("", "plattr-testenv-logs-")
	if err != nil {
		return err
	}
	onStop(func() { os.RemoveAll(logs) })
	kwokStages, err := os.ReadFile(filepath.Join(c.Assets, "kwok-stages.yaml"))
	if err != nil {
		return err
	}
	if kwokStages, err = jobPodStages(kwokStages); err != nil {
		return err
	}
	stagesFile := filepath.Join(logs, "kwok-stages.yaml")
	if err := os.WriteFile(stagesFile, kwokStages, 0o644); err != nil {
		return err
	}
	procs := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{"--kubeconfig=" + c.Kubeconfig, "--controllers=*,-serviceaccount-token,-serviceaccount",
			"--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false",
			"--kube-api-qps=300", "--kube-api-burst=600", "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10"}},
		{"kube-scheduler", []string{"--kubeconfig=" + c.Kubeconfig, "--leader-elect=false", "--secure-port=0", "--kube-api-qps=300", "--kube-api-burst=600"}},
		{"kwok", []string{"--kubeconfig=" + c.Kubeconfig, "--manage-all-nodes=true", "--config=" + stagesFile,
			"--server-address=127.0.0.1:0"}},
	}
	for _, p := range procs {
		if err := startProcess(filepath.Join(c.Assets, p.name), p.args, filepath.Join(logs, p.name+".log")); err != nil {
			return err
		}
	}
	if err := reapOnExit(c.Assets); err != nil {
		return err
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: FakeNodeName, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{"kubernetes.io/hostname": FakeNodeName, "type": "kwok"}},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("5000")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("5000")},
		},
	}
	ctx := context.Background()
	if err := c.Client.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the simulated node: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n corev1.Node
		if err := c.Client.Get(ctx, client.ObjectKey{Name: FakeNodeName}, &n); err == nil {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					c.runJobPods(logs)
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the simulated node did not turn Ready within 60 s; kwok's log ends:\n%s", LogTail(filepath.Join(logs, "kwok.log"), 2000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startProcess runs a binary in its own process group, logging to logFile, and
// registers its stop (SIGTERM, then SIGKILL) for the end of the package's tests.
func startProcess(bin string, args []string, logFile string) error {
	return startProcessEnv(bin, args, nil, logFile)
}

// startProcessEnv is startProcess with the environment env (nil: this process's).
func startProcessEnv(bin string, args, env []string, logFile string) error {
	log, err := os.Create(logFile)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done); log.Close() }()
	onStop(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	return nil
}

// LogTail is the last n bytes of the log file at path, for a failing test's
// message (the error when it cannot be read).
func LogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

// StartProcess runs bin (a program the test built, e.g. the operator) with args
// and env (nil: this process's) until the package's tests end, logging to a file
// whose path it returns. It dies with the test binary, however that ends.
func StartProcess(t testing.TB, bin string, args, env []string) (logFile string) {
	t.Helper()
	logFile = bin + ".log"
	if err := startProcessEnv(bin, args, env, logFile); err != nil {
		t.Fatal(err)
	}
	if err := reapOnExit(filepath.Dir(bin)); err != nil {
		t.Fatal(err)
	}
	return logFile
}
