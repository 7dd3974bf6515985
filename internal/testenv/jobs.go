package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// The test ground's kubelet for Jobs: kwok simulates every other pod, but a
// Job's pod really runs its command on this machine (the image is not
// pulled: the command must exist here, as an absolute path or on PATH), with
// the environment a kubelet gives it (env, envFrom and secretKeyRef read from
// the API server, $(VAR) expanded), and ends Succeeded or Failed with the exit
// code and, under FallbackToLogsOnError, the end of its output as the
// termination message — as the kubelet writes them.

// Limits of a termination message taken from the output, the kubelet's
// (kubecontainer.MaxContainerTerminationMessageLogLines and -Length).
const (
	terminationLogLines = 80
	terminationLogBytes = 2048
)

// jobPodStages turns kwok's stages into the test ground's: pods of Jobs are
// left to runJobPods (kwok neither readies nor completes them).
func jobPodStages(stages []byte) ([]byte, error) {
	var out [][]byte
	for _, doc := range bytes.Split(stages, []byte("\n---")) {
		var st map[string]any
		if err := yaml.Unmarshal(doc, &st); err != nil {
			return nil, fmt.Errorf("read kwok stages: %w", err)
		}
		if st == nil {
			continue
		}
		name, _ := st["metadata"].(map[string]any)["name"].(string)
		switch name {
		case "pod-complete":
			continue
		case "pod-ready":
			sel := st["spec"].(map[string]any)["selector"].(map[string]any)
			exprs, _ := sel["matchExpressions"].([]any)
			sel["matchExpressions"] = append(exprs, map[string]any{
				"key": ".metadata.ownerReferences.[].kind", "operator": "NotIn", "values": []any{"Job"}})
		}
		b, err := yaml.Marshal(st)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return bytes.Join(out, []byte("---\n")), nil
}

// jobRunner runs the commands of Job pods scheduled on the simulated node.
type jobRunner struct {
	c       client.Client
	logs    string
	mu      sync.Mutex
	running map[string]context.CancelFunc // pod UID → stop
	done    map[string]bool
}

// runJobPods watches for Job pods until the process ends.
func (c *Cluster) runJobPods(logs string) {
	r := &jobRunner{c: c.Client, logs: logs, running: map[string]context.CancelFunc{}, done: map[string]bool{}}
	go func() {
		for {
			r.poll(context.Background())
			time.Sleep(200 * time.Millisecond)
		}
	}()
}

func (r *jobRunner) poll(ctx context.Context) {
	var pods corev1.PodList
	if err := r.c.List(ctx, &pods, client.HasLabels{"batch.kubernetes.io/job-name"}); err != nil {
		return
	}
	live := map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		uid := string(p.UID)
		live[uid] = p.DeletionTimestamp == nil
		if !ownedByJob(p) || p.Spec.NodeName == "" || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodPending {
			continue
		}
		r.mu.Lock()
		_, busy := r.running[uid]
		seen := r.done[uid]
		if !busy && !seen {
			runCtx, cancel := context.WithCancel(context.Background())
			r.running[uid] = cancel
			go r.run(runCtx, p.DeepCopy())
		}
		r.mu.Unlock()
	}
	// A pod deleted while its command runs (the Job's deadline) stops it.
	r.mu.Lock()
	for uid, cancel := range r.running {
		if !live[uid] {
			cancel()
		}
	}
	r.mu.Unlock()
}

func ownedByJob(p *corev1.Pod) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == "Job" && o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}

func (r *jobRunner) run(ctx context.Context, p *corev1.Pod) {
	uid := string(p.UID)
	defer func() {
		r.mu.Lock()
		r.running[uid]()
		delete(r.running, uid)
		r.done[uid] = true
		r.mu.Unlock()
	}()
	c := p.Spec.Containers[0]
	now := metav1.Now()
	if err := r.setStatus(ctx, p, corev1.PodRunning, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}); err != nil {
		return
	}
	env, err := r.environment(ctx, p.Namespace, c)
	var out bytes.Buffer
	exit := 0
	if err != nil {
		fmt.Fprintf(&out, "testenv: %v\n", err)
		exit = 128
	} else {
		exit = runCommand(ctx, c, env, &out)
	}
	_ = os.WriteFile(filepath.Join(r.logs, "job-"+p.Namespace+"-"+p.Name+".log"), out.Bytes(), 0o644)
	term := &corev1.ContainerStateTerminated{ExitCode: int32(exit), StartedAt: now, FinishedAt: metav1.Now(), Reason: "Completed"}
	phase := corev1.PodSucceeded
	if exit != 0 {
		phase, term.Reason = corev1.PodFailed, "Error"
		if c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
			term.Message = tailLog(out.String())
		}
	}
	_ = r.setStatus(context.Background(), p, phase, corev1.ContainerState{Terminated: term})
}

// runCommand runs the container's command and arguments with env, its exit
// code the container's (127 when it cannot start, 137 when stopped).
func runCommand(ctx context.Context, c corev1.Container, env map[string]string, out *bytes.Buffer) int {
	argv := append(append([]string(nil), c.Command...), c.Args...)
	for i := range argv {
		argv[i] = plattrv1.ExpandEnv(argv[i], env)
	}
	if len(argv) == 0 {
		fmt.Fprintln(out, "testenv: the container names no command (images are not run here)")
		return 127
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil:
		return 137
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	fmt.Fprintf(out, "testenv: %v\n", err)
	return 127
}

// environment is the container's environment as the kubelet makes it:
// envFrom first, then env in order, $(VAR) expanded against what is set.
func (r *jobRunner) environment(ctx context.Context, ns string, c corev1.Container) (map[string]string, error) {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.SecretRef == nil {
			continue
		}
		var s corev1.Secret
		if err := r.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.SecretRef.Name}, &s); err != nil {
			if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
				continue
			}
			return nil, fmt.Errorf("secret %q: %w", from.SecretRef.Name, err)
		}
		for k, v := range s.Data {
			env[from.Prefix+k] = string(v)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = plattrv1.ExpandEnv(e.Value, env)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			var s corev1.Secret
			if err := r.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &s); err != nil {
				return nil, fmt.Errorf("secret %q: %w", ref.Name, err)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				return nil, fmt.Errorf("secret %q has no key %q", ref.Name, ref.Key)
			}
			env[e.Name] = string(v)
		}
	}
	return env, nil
}

// tailLog is the end of a container's output as its termination message.
func tailLog(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > terminationLogLines {
		lines = lines[len(lines)-terminationLogLines:]
	}
	s := strings.Join(lines, "\n")
	if len(s) > terminationLogBytes {
		s = s[len(s)-terminationLogBytes:]
	}
	return s
}

func (r *jobRunner) setStatus(ctx context.Context, p *corev1.Pod, phase corev1.PodPhase, state corev1.ContainerState) error {
	c := p.Spec.Containers[0]
	ready := phase == corev1.PodRunning
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	now := metav1.Now()
	for attempt := 0; ; attempt++ {
		var cur corev1.Pod
		if err := r.c.Get(ctx, client.ObjectKeyFromObject(p), &cur); err != nil {
			return err
		}
		cur.Status.Phase = phase
		if cur.Status.StartTime == nil {
			cur.Status.StartTime = &now
		}
		cur.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: cond, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: cond, LastTransitionTime: now},
		}
		cur.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, Ready: ready, Started: &ready, State: state}}
		err := r.c.Status().Update(ctx, &cur)
		if err == nil || !apierrors.IsConflict(err) || attempt > 20 {
			return err
		}
	}
}

// sqlCommandArg makes a test binary SQLCommand's migration tool.
const sqlCommandArg = "testenv-sql"

// SQLCommand is a release command for tests: this test binary run again (as a
// Job's pod, see jobRunner) executes sql on $DATABASE_URL, as a migration tool
// would, printing where it connects (the URL with its password, and
// $API_TOKEN when set: a careless tool's output, which must not reach a
// status) and what happened. It exits 1
// with the database's error.
func SQLCommand(t testing.TB, sql string) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, sqlCommandArg, sql}
}

// RunSQLCommand runs SQLCommand's SQL when this process is one: Main calls
// it first, as must a TestMain that turns its binary into something else.
func RunSQLCommand() (code int, ok bool) {
	if len(os.Args) != 3 || os.Args[1] != sqlCommandArg {
		return 0, false
	}
	return runSQLCommand(os.Args[2]), true
}

func runSQLCommand(sql string) int {
	u := os.Getenv("DATABASE_URL")
	fmt.Printf("migrate: connecting to %s\n", u)
	if tok := os.Getenv("API_TOKEN"); tok != "" {
		fmt.Printf("migrate: API_TOKEN=%s\n", tok)
	}
	if err := execSQL(u, sql); err != nil {
		fmt.Printf("migrate: %s: %v\n", sql, err)
		return 1
	}
	fmt.Printf("migrate: %s: done\n", sql)
	return 0
}
