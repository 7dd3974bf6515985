// Package e2e runs Plattr's whole loop on one machine, with nothing faked but
// GitHub's pull-request API: a private env repo served by git over HTTP, the real
// Argo CD repo server and application controller (built from Argo CD's Go module),
// the real operator binary with a real PostgreSQL and Redis, and a real API
// server whose Deployments become Available on simulated nodes.
//
//	render (as CI) → commit → Argo CD syncs → operator provisions → Ready
//
// Loop is the test ground and its timeline: the hub (the cluster Argo CD runs
// in) and, for environments on clusters of their own, spokes, each a second API
// server with its own operator, PostgreSQL and Redis. TestEndToEnd (this
// package) is one cluster; internal/e2e/twoclusters puts prod on a spoke. They
// are `make test-e2e` and `make demo-cluster` (the one-cluster test, with its
// progress shown); `make test` runs them unless -short.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/internal/cli/plattrgen"
	"github.com/plattr/plattr/internal/fakegithub"
	"github.com/plattr/plattr/internal/gittest"
	"github.com/plattr/plattr/internal/testenv"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services/postgres"
)

const (
	Domain    = "apps.e2e.test"
	EnvRepo   = "acme/env"
	appRepo   = "acme/hello"
	imageRepo = "registry.e2e.test/acme/hello"
	// How long one step may take before the test fails with what it waited for.
	// Argo CD's poll is 3 minutes: a step that only completes by polling fails.
	stepTimeout = 150 * time.Second
	// Poll is the refresh of Argo CD's application controller without a
	// trigger (its default --app-resync), for the timeline.
	argoPoll = 180 * time.Second
)

// Digest is a release of hello: the image with a digest of 64 times b.
func Digest(b byte) string { return imageRepo + "@sha256:" + strings.Repeat(string(b), 64) }

// Options say what the loop's env repo and clusters are.
type Options struct {
	// InitArgs are flags for plattr-gen env init besides the repo and domain:
	// --project default lays down the one-project layout of env repos from
	// before; --cluster ENV=NAME puts an environment on a spoke.
	InitArgs []string
	// Spokes: the clusters, by the name Argo CD knows them by, other than the
	// hub, and the environments each runs. Each gets an API server, operator,
	// PostgreSQL and Redis of its own; the hub gets the other environments.
	Spokes map[string][]string
	// Roots: the environments whose root Applications are applied.
	Roots []string
	// ArgoCDServer starts argocd-server too (ArgoCDAPI calls it).
	ArgoCDServer bool
	// ArgoCDResync is Argo CD's poll of every Application; zero: its default
	// (argoPoll, with jitter).
	ArgoCDResync time.Duration
}

// Site is one cluster with its operator and backing services.
type Site struct {
	Name     string // the Argo CD cluster name; "" for the hub
	C        *testenv.Cluster
	PGURL    string // the operator's least-privileged admin
	Operator string // the operator's log file
}

func (s *Site) String() string {
	if s.Name == "" {
		return "the hub"
	}
	return "cluster " + s.Name
}

// Loop is everything an end-to-end test runs, and its timeline.
type Loop struct {
	T       *testing.T
	Ctx     context.Context
	Hub     *Site
	Argo    *testenv.ArgoCD
	Bare    string // the env repo's folder (what GitHub's merge button acts on)
	RepoURL string // the env repo as CI and Argo CD reach it, over HTTP
	GitHub  *fakegithub.Server
	Example string

	token     string
	argoToken string // argocd-server's session of its admin
	spokes    map[string]*Site
	envSite   map[string]*Site
	operator  string // the operator binary
	start     time.Time
	timeline  []mark
	// Poll: no refresh, Argo CD finds commits by its poll (the baseline);
	// Timeout: of each wait (stepTimeout unless the baseline needs more).
	Poll    bool
	Timeout time.Duration
	// passwords the operators generated, collected as apps appear (a preview's
	// are gone from the cluster by the end, not from the logs).
	passwords []string
}

// mark is one release's way through the loop.
type mark struct {
	what                string
	commit              string
	poll                bool
	refused             string // Argo CD's error, for a release it refused
	synced, ready, gone time.Duration
}

// NewLoop starts the test ground: the hub cluster (kube-apiserver, etcd,
// controller-manager, scheduler, kwok) with Argo CD, PostgreSQL, Redis and the
// operator; a spoke of each of opts.Spokes; the env repo over HTTP, laid down
// by plattr-gen env init; and the roots of opts.Roots applied (after the
// projects, when the layout has them). A spoke is registered with Argo CD only
// by RegisterSpoke.
func NewLoop(t *testing.T, opts Options) *Loop {
	t.Helper()
	ctx := context.Background()
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	l := &Loop{T: t, Ctx: ctx, start: time.Now(), Example: filepath.Join(root, "examples", "hello"),
		token: "e2e-" + strings.Repeat("5ec7e7", 4), Timeout: stepTimeout, spokes: map[string]*Site{}, envSite: map[string]*Site{}}
	onSpoke := map[string]bool{}
	for _, envs := range opts.Spokes {
		for _, e := range envs {
			onSpoke[e] = true
		}
	}
	hubEnvs := slices.DeleteFunc([]string{"staging", "uat", "prod", "preview"}, func(e string) bool { return onSpoke[e] })

	// The fake GitHub: pull requests of the env repo, deployments of the app's.
	l.GitHub = fakegithub.New(l.token)
	t.Cleanup(l.GitHub.Close)

	l.Step("start the test cluster (kube-apiserver, etcd, controller-manager, scheduler, kwok)")
	hub := testenv.StartCluster(t)
	l.Hub = l.site(t, "", hub, hubEnvs)

	l.Step("build the Plattr operator")
	opDir, err := os.MkdirTemp("", "plattr-testenv-operator-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(opDir) })
	l.operator = filepath.Join(opDir, "plattr-operator")
	out, err := exec.Command("go", "build", "-o", l.operator, filepath.Join(root, "cmd", "plattr-operator")).CombinedOutput()
	require.NoError(t, err, "build the operator: %s", out)
	// Spokes start before Argo CD, so that they stop after it: an API server
	// with Argo CD's watches open waits for them at its stop.
	for _, name := range slices.Sorted(maps.Keys(opts.Spokes)) {
		envs := opts.Spokes[name]
		l.Step(fmt.Sprintf("start cluster %s for %s: an API server and etcd of its own, kwok, the operator with its own PostgreSQL and Redis", name, strings.Join(envs, ", ")))
		s := l.site(t, name, testenv.StartOtherCluster(t), envs)
		l.startOperator(s)
		l.spokes[name] = s
	}

	l.Step("serve a private env repo over HTTP and lay it down with plattr-gen env init")
	dir := t.TempDir()
	l.Bare = gittest.BareRepo(t, filepath.Join(dir, "env.git"))
	srv := gittest.Serve(t, dir, "x-access-token", l.token)
	l.RepoURL = srv.URL + "/env.git"
	t.Setenv("PLATTR_GIT_TOKEN", l.token)
	l.PlattrGen(append([]string{"env", "init", "--repo", l.RepoURL, "--domain", Domain, "--repo-url", l.RepoURL}, opts.InitArgs...)...)

	l.Step("start Argo CD " + testenv.ArgoCDVersion + " (repo server, application controller) with Plattr's health check")
	health := testenv.Kustomize(t, filesys.MakeFsOnDisk(), filepath.Join(root, "bases", "argocd"))
	require.Len(t, health, 1)
	cm, _, err := unstructured.NestedStringMap(health[0].Object, "data")
	require.NoError(t, err)
	rds := testenv.StartPrivateRedis(t)
	l.Argo = hub.StartArgoCD(t, testenv.ArgoCDOptions{Redis: rds.Addr, ConfigData: cm, Server: opts.ArgoCDServer, AppResync: opts.ArgoCDResync})
	// The env repo is private: Argo CD reads it with a repository Secret, as it
	// would with a GitHub token.
	require.NoError(t, hub.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "env-repo", Namespace: l.Argo.Namespace,
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
		StringData: map[string]string{"type": "git", "url": l.RepoURL, "username": "x-access-token", "password": l.token},
	}))

	l.Step("start the Plattr operator of the hub (the real binary)")
	l.startOperator(l.Hub)

	l.ApplyBootstrap("main", opts.Roots...)
	return l
}

// ApplyBootstrap applies, as a person bootstrapping Argo CD does with kubectl,
// the env repo's projects at ref (when its layout has them) and then the root
// Applications of roots; applied again, it updates them.
func (l *Loop) ApplyBootstrap(ref string, roots ...string) {
	l.T.Helper()
	var paths []string
	if strings.Contains(gittest.Git(l.T, l.Bare, "ls-tree", "--name-only", ref, generator.BootstrapDir+"/"), generator.ProjectsPath) {
		paths = append(paths, generator.ProjectsPath)
	}
	for _, env := range roots {
		paths = append(paths, generator.RootPath(env))
	}
	l.Step(fmt.Sprintf("kubectl apply -f %s (at %s)", strings.Join(paths, " -f "), ref))
	for _, p := range paths {
		for _, doc := range strings.Split(gittest.Git(l.T, l.Bare, "show", ref+":"+p), "\n---\n") {
			js, err := yaml.YAMLToJSON([]byte(doc))
			require.NoError(l.T, err, p)
			u := &unstructured.Unstructured{}
			require.NoError(l.T, u.UnmarshalJSON(js), p)
			require.NoError(l.T, l.Hub.C.ApplyObject(l.Ctx, "kubectl", u), "%s: %s %s", p, u.GetKind(), u.GetName())
		}
	}
}

// site makes a cluster run workloads, gives it the namespaces of envs
// (bases/environments) and a PostgreSQL of its own.
func (l *Loop) site(t *testing.T, name string, c *testenv.Cluster, envs []string) *Site {
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	c.StartWorkloads(t)
	for _, env := range envs {
		c.Apply(t, "plattr-e2e", testenv.Kustomize(t, filesys.MakeFsOnDisk(), filepath.Join(root, "bases", "environments", env))...)
	}
	s := &Site{Name: name, C: c, PGURL: testenv.StartPrivatePostgres(t).AdminURL}
	for _, env := range envs {
		l.envSite[env] = s
	}
	return s
}

// startOperator runs the operator binary against site's cluster, with site's
// PostgreSQL and a Redis of its own.
func (l *Loop) startOperator(s *Site) {
	rds := testenv.StartPrivateRedis(l.T)
	bin := l.operator
	if s.Name != "" {
		// One log per operator: the log is named after the binary.
		bin = l.operator + "-" + s.Name
		require.NoError(l.T, os.Link(l.operator, bin))
	}
	env := append(os.Environ(), "KUBECONFIG="+s.C.Kubeconfig, "DB_ADMIN_URL="+s.PGURL, "REDIS_ADMIN_URL="+rds.AdminURL,
		"GITHUB_TOKEN="+l.token, "GITHUB_API_URL="+l.GitHub.BaseURL())
	s.Operator = testenv.StartProcess(l.T, bin, []string{"--leader-elect=false", "--metrics-bind-address=0",
		"--health-probe-bind-address=0", "--base-domain=" + Domain}, env)
}

// envsOn lists the environments s runs, sorted.
func (l *Loop) envsOn(s *Site) []string {
	var out []string
	for env, on := range l.envSite {
		if on == s {
			out = append(out, env)
		}
	}
	slices.Sort(out)
	return out
}

// Site is the cluster env runs on.
func (l *Loop) Site(env string) *Site {
	s, ok := l.envSite[env]
	require.True(l.T, ok, "no cluster runs %s", env)
	return s
}

// RegisterSpoke gives Argo CD the cluster Secret of spoke name, as a person
// registering a cluster does (README: "Production in its own cluster"): its
// server and credentials (here a client certificate; on EKS an IAM role), and
// the namespaces Argo CD may manage there (those of the environments it runs),
// no cluster-scoped resource.
func (l *Loop) RegisterSpoke(name string) {
	l.T.Helper()
	s := l.spokes[name]
	cfg, err := json.Marshal(argov1.ClusterConfig{TLSClientConfig: argov1.TLSClientConfig{
		CAData: s.C.Admin.CAData, CertData: s.C.Admin.CertData, KeyData: s.C.Admin.KeyData}})
	require.NoError(l.T, err)
	require.NoError(l.T, l.Hub.C.Client.Create(l.Ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-" + name, Namespace: l.Argo.Namespace,
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "cluster"}},
		StringData: map[string]string{"name": name, "server": s.C.Admin.Host, "config": string(cfg),
			"namespaces": strings.Join(l.envsOn(s), ","), "clusterResources": "false"},
	}))
	l.T.Logf("         registered cluster %s (%s) with Argo CD", name, s.C.Admin.Host)
}

// Step prints a progress line (go test -v shows them as they happen).
func (l *Loop) Step(what string) {
	l.T.Helper()
	l.T.Logf("[%6.1fs] %s", time.Since(l.start).Seconds(), what)
}

// PlattrGen runs plattr-gen as CI does and returns the env repo's head after it.
// The test's git server and fake GitHub serve plain http on 127.0.0.1: a test
// server is what --allow-http is for.
func (l *Loop) PlattrGen(args ...string) string {
	l.T.Helper()
	code, out, errs := l.runPlattrGen(args)
	require.Equal(l.T, 0, code, "plattr-gen %s:\n%s%s", strings.Join(args, " "), out, errs)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if len(line) == 40 && strings.Trim(line, "0123456789abcdef") == "" {
			continue // the commit id render prints for scripts
		}
		l.T.Logf("         plattr-gen: %s", line)
	}
	return gittest.Git(l.T, l.Bare, "rev-parse", "main")
}

// PlattrGenRefused runs plattr-gen as PlattrGen does, expects it to fail with
// exit code 1 and returns what it said.
func (l *Loop) PlattrGenRefused(args ...string) string {
	l.T.Helper()
	code, out, errs := l.runPlattrGen(args)
	require.Equal(l.T, 1, code, "plattr-gen %s should have been refused:\n%s%s", strings.Join(args, " "), out, errs)
	l.T.Logf("         plattr-gen refused: %s", strings.ReplaceAll(strings.TrimSpace(errs), "\n", "\n         "))
	return errs
}

// runPlattrGen runs plattr-gen in CI's environment, never printing the token.
func (l *Loop) runPlattrGen(args []string) (int, string, string) {
	l.T.Helper()
	args = append(args, "--allow-http")
	var out, errb bytes.Buffer
	env := map[string]string{"GITHUB_API_URL": l.GitHub.BaseURL(), "GITHUB_REPOSITORY": appRepo, "GITHUB_SHA": strings.Repeat("f", 40)}
	code := plattrgen.Main(l.Ctx, args, plattrgen.IO{Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
	require.NotContains(l.T, out.String()+errb.String(), l.token, "plattr-gen printed the token")
	return code, out.String(), errb.String()
}

// Merge merges a Plattr branch into main on the server, as GitHub's merge button
// does, marks the pull request merged and returns main's new head.
func (l *Loop) Merge(branch string) string {
	l.T.Helper()
	prs := l.GitHub.PRs(EnvRepo)
	require.NotEmpty(l.T, prs, "no pull request was opened")
	pr := prs[len(prs)-1]
	require.Equal(l.T, branch, pr.Head)
	work := gittest.Clone(l.T, l.Bare)
	gittest.Git(l.T, work, "fetch", "-q", "origin", branch)
	gittest.Git(l.T, work, "merge", "-q", "--no-ff", "-m", fmt.Sprintf("Merge pull request #%d from %s", pr.Number, branch), "FETCH_HEAD")
	gittest.Git(l.T, work, "push", "-q", "origin", "main")
	l.GitHub.Merge(EnvRepo, pr.Number)
	l.T.Logf("         merged pull request #%d (%s)", pr.Number, branch)
	return gittest.Git(l.T, l.Bare, "rev-parse", "main")
}

// CommitByHand commits files (path → content) to main as a person with push
// rights would, past plattr-gen and its validation, and returns the commit.
func (l *Loop) CommitByHand(message string, files map[string]string) string {
	l.T.Helper()
	work := gittest.Clone(l.T, l.Bare)
	for p, content := range files {
		full := filepath.Join(work, filepath.FromSlash(p))
		require.NoError(l.T, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(l.T, os.WriteFile(full, []byte(content), 0o644))
	}
	gittest.Git(l.T, work, "add", "-A")
	gittest.Git(l.T, work, "commit", "-q", "-m", message)
	gittest.Git(l.T, work, "push", "-q", "origin", "main")
	return gittest.Git(l.T, l.Bare, "rev-parse", "main")
}

// Refresh asks Argo CD to look at the env repo now, as a webhook from the git
// host would, instead of waiting for its 3-minute poll: the root Application of
// the environment, and the child when it exists.
func (l *Loop) Refresh(env, app string) {
	l.T.Helper()
	for _, name := range []string{generator.RootName(env), env + "-" + app} {
		var a argov1.Application
		err := l.Hub.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: l.Argo.Namespace, Name: name}, &a)
		if apierrors.IsNotFound(err) {
			continue
		}
		require.NoError(l.T, err)
		patch := client.MergeFrom(a.DeepCopy())
		if a.Annotations == nil {
			a.Annotations = map[string]string{}
		}
		a.Annotations[argov1.AnnotationKeyRefresh] = string(argov1.RefreshTypeNormal)
		require.NoError(l.T, l.Hub.C.Client.Patch(l.Ctx, &a, patch))
	}
}

// waitFor polls cond until it holds and returns how long after since it did.
func (l *Loop) waitFor(since time.Time, what string, cond func() (bool, string)) time.Duration {
	l.T.Helper()
	deadline := time.Now().Add(l.Timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return time.Since(since)
		}
		last = state
		if time.Now().After(deadline) {
			var ops strings.Builder
			for _, s := range append([]*Site{l.Hub}, slices.Collect(maps.Values(l.spokes))...) {
				fmt.Fprintf(&ops, "operator of %s, its log ends:\n%s\n", s, testenv.LogTail(s.Operator, 3000))
			}
			l.T.Fatalf("%s: not within %s; last seen: %s\nArgo CD application controller's log ends:\n%s\n%s",
				what, l.Timeout, last, l.Argo.LogTail("argocd-application-controller", 3000), ops.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// child is the child Application of app in env, on the hub.
func (l *Loop) child(env, app string) (*argov1.Application, error) {
	var a argov1.Application
	err := l.Hub.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: l.Argo.Namespace, Name: env + "-" + app}, &a)
	return &a, err
}

// Converge waits until Argo CD has synced commit into the child Application of
// app in env, and the operator of env's cluster reports the Plattr Application
// Ready with image.
func (l *Loop) Converge(env, app, commit, image string) {
	l.T.Helper()
	t0 := time.Now()
	if !l.Poll {
		l.Refresh(env, app)
	}
	s := l.Site(env)
	ns := env
	m := mark{what: fmt.Sprintf("%s/%s %s", env, app, ShortDigest(image)), commit: commit[:8], poll: l.Poll}
	child := env + "-" + app
	m.synced = l.waitFor(t0, "Argo CD syncs "+child+" at "+commit[:8], func() (bool, string) {
		a, err := l.child(env, app)
		if err != nil {
			return false, err.Error()
		}
		op := a.Status.OperationState
		if op == nil || op.SyncResult == nil {
			return false, fmt.Sprintf("sync %s, no operation yet; conditions %v", a.Status.Sync.Status, a.Status.Conditions)
		}
		state := fmt.Sprintf("sync %s at %.8s, operation %s at %.8s: %s", a.Status.Sync.Status, a.Status.Sync.Revision,
			op.Phase, op.SyncResult.Revision, op.Message)
		return op.SyncResult.Revision == commit && op.Phase == "Succeeded", state
	})
	l.T.Logf("         Argo CD synced %s at %s to %s: %.1f s after the commit", child, commit[:8], s, m.synced.Seconds())
	m.ready = l.waitFor(t0, "the operator reports "+ns+"/"+app+" Ready with "+ShortDigest(image)+" on "+s.String(), func() (bool, string) {
		var pa plattrv1.Application
		if err := s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: ns, Name: app}, &pa); err != nil {
			return false, err.Error()
		}
		ready := meta.FindStatusCondition(pa.Status.Conditions, plattrv1.ConditionReady)
		state := fmt.Sprintf("image %s, observed generation %d of %d, Ready %v", pa.Spec.Image, pa.Status.ObservedGeneration, pa.Generation, ready)
		return pa.Spec.Image == image && pa.Status.ObservedGeneration == pa.Generation && ready != nil &&
			ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == pa.Generation, state
	})
	l.T.Logf("         %s/%s Ready on %s: %.1f s after the commit", ns, app, s, m.ready.Seconds())
	// What Ready means, seen directly: the Deployment runs that image and is Available.
	var d appsv1.Deployment
	require.NoError(l.T, s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: ns, Name: app}, &d))
	assert.Equal(l.T, image, d.Spec.Template.Spec.Containers[0].Image, "the Deployment runs the released image")
	// An old pod may still be available while it terminates: at least as many.
	assert.GreaterOrEqual(l.T, d.Status.AvailableReplicas, *d.Spec.Replicas, "every replica available (kwok's simulated pods)")
	// And Argo CD sees it healthy through Plattr's health check.
	l.waitFor(t0, "Argo CD reports "+child+" Healthy", func() (bool, string) {
		a, err := l.child(env, app)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range a.Status.Resources {
			if r.Kind == "Application" && r.Group == plattrv1.GroupVersion.Group && r.Health != nil {
				return a.Status.Health.Status == "Healthy" && r.Health.Status == "Healthy",
					fmt.Sprintf("app %s, resource %s: %s", a.Status.Health.Status, r.Health.Status, r.Health.Message)
			}
		}
		return false, "app health " + string(a.Status.Health.Status) + ", no health of the Plattr Application"
	})
	l.timeline = append(l.timeline, m)
}

// ReleaseFailed waits until the release of image (synced at commit) into env
// failed its release phase: the operator reports ReleaseReady False, and Argo
// CD shows the Plattr Application Degraded with the release phase's message,
// which it returns; the timeline records it.
func (l *Loop) ReleaseFailed(env, app, commit, image string) string {
	l.T.Helper()
	t0 := time.Now()
	l.Refresh(env, app)
	s := l.Site(env)
	m := mark{what: fmt.Sprintf("%s/%s %s", env, app, ShortDigest(image)), commit: commit[:8]}
	msg := ""
	m.synced = l.waitFor(t0, "the operator reports the release phase of "+ShortDigest(image)+" failed in "+env+"/"+app, func() (bool, string) {
		var pa plattrv1.Application
		if err := s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app}, &pa); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(pa.Status.Conditions, plattrv1.ConditionReleaseReady)
		if c == nil {
			return false, "image " + ShortDigest(pa.Spec.Image) + ", no ReleaseReady"
		}
		msg = c.Message
		return pa.Spec.Image == image && c.Status == metav1.ConditionFalse && c.Reason == "ReleaseFailed",
			fmt.Sprintf("image %s, ReleaseReady %s %s: %s", ShortDigest(pa.Spec.Image), c.Status, c.Reason, c.Message)
	})
	l.waitFor(t0, "Argo CD reports "+env+"-"+app+"'s Plattr Application Degraded by its release phase", func() (bool, string) {
		a, err := l.child(env, app)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range a.Status.Resources {
			if r.Kind == "Application" && r.Group == plattrv1.GroupVersion.Group && r.Health != nil {
				return r.Health.Status == "Degraded" && strings.HasPrefix(r.Health.Message, "Release phase: "),
					fmt.Sprintf("resource %s: %s", r.Health.Status, r.Health.Message)
			}
		}
		return false, "no health of the Plattr Application"
	})
	m.refused = "release phase failed"
	l.T.Logf("         the release phase of %s failed in %s/%s, %.1f s after the commit: %s", ShortDigest(image), env, app, m.synced.Seconds(), firstLine(msg))
	l.timeline = append(l.timeline, m)
	return msg
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// Refused waits until Argo CD shows, on the child Application of app in env,
// a condition whose message holds want (its error for a release it cannot
// deploy) and returns the message; the timeline records it.
func (l *Loop) Refused(env, app, commit, want string) string {
	l.T.Helper()
	t0 := time.Now()
	l.Refresh(env, app)
	m := mark{what: fmt.Sprintf("%s/%s refused", env, app), commit: commit[:8]}
	msg := ""
	m.synced = l.waitFor(t0, "Argo CD shows "+env+"-"+app+"'s error: "+want, func() (bool, string) {
		a, err := l.child(env, app)
		if err != nil {
			return false, err.Error()
		}
		for _, c := range a.Status.Conditions {
			if strings.Contains(c.Message, want) {
				msg = c.Type + ": " + c.Message
				return true, ""
			}
		}
		op := a.Status.OperationState
		if op == nil {
			return false, fmt.Sprintf("conditions %v, sync %s, no operation", a.Status.Conditions, a.Status.Sync.Status)
		}
		if strings.Contains(op.Message, want) {
			msg = "sync " + string(op.Phase) + ": " + op.Message
			return true, ""
		}
		if op.SyncResult != nil {
			for _, r := range op.SyncResult.Resources {
				if strings.Contains(r.Message, want) {
					msg = fmt.Sprintf("sync %s of %s %s: %s", op.Phase, r.Kind, r.Name, r.Message)
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("conditions %v, sync %s, operation %s: %s", a.Status.Conditions, a.Status.Sync.Status, op.Phase, op.Message)
	})
	m.refused = msg
	l.T.Logf("         Argo CD refused %s-%s: %q, %.1f s after the commit", env, app, msg, m.synced.Seconds())
	l.timeline = append(l.timeline, m)
	return msg
}

// Gone waits until Argo CD pruned the child Application of app in env (at
// commit) and the operator removed the app and dropped its database.
func (l *Loop) Gone(env, app, commit string) {
	l.T.Helper()
	t0 := time.Now()
	l.Refresh(env, app)
	s := l.Site(env)
	m := mark{what: fmt.Sprintf("%s/%s removed", env, app), commit: commit[:8]}
	child := env + "-" + app
	m.synced = l.waitFor(t0, "Argo CD prunes "+child, func() (bool, string) {
		a, err := l.child(env, app)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("still there (deleting: %v), %v", a.DeletionTimestamp != nil, err)
	})
	l.T.Logf("         Argo CD pruned %s: %.1f s after the commit", child, m.synced.Seconds())
	db := postgres.Name(env, app)
	m.gone = l.waitFor(t0, "the operator drops "+db, func() (bool, string) {
		var pa plattrv1.Application
		err := s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app}, &pa)
		if !apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("Plattr Application still there: %v", err)
		}
		n := l.Count(s, "SELECT count(*) FROM pg_database WHERE datname = $1", db)
		r := l.Count(s, "SELECT count(*) FROM pg_roles WHERE rolname = $1", db)
		return n == 0 && r == 0, fmt.Sprintf("%d database, %d role named %s", n, r, db)
	})
	l.T.Logf("         database and role %s dropped: %.1f s after the commit", db, m.gone.Seconds())
	var secrets corev1.SecretList
	require.NoError(l.T, s.C.Client.List(l.Ctx, &secrets, client.InNamespace(env), client.MatchingLabels{"app.kubernetes.io/name": app}))
	assert.Empty(l.T, secrets.Items, "the preview's Secrets are gone with it")
	l.timeline = append(l.timeline, m)
}

// CheckProvisioned checks what the operator made for app in env, as a user
// would look: objects in env's cluster, a database and role in its PostgreSQL
// that the app's own credentials open.
func (l *Loop) CheckProvisioned(env, app string) {
	l.T.Helper()
	s := l.Site(env)
	var svc corev1.Service
	require.NoError(l.T, s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app}, &svc))
	var ing networkingv1.Ingress
	require.NoError(l.T, s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app}, &ing))
	require.NotEmpty(l.T, ing.Spec.Rules)
	assert.True(l.T, strings.HasSuffix(ing.Spec.Rules[0].Host, "."+Domain), "host %s under the base domain", ing.Spec.Rules[0].Host)
	db := postgres.Name(env, app)
	assert.Equal(l.T, 1, l.Count(s, "SELECT count(*) FROM pg_database WHERE datname = $1", db), "database %s", db)
	var sec corev1.Secret
	require.NoError(l.T, s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app + "-postgres"}, &sec))
	conn, err := pgx.Connect(l.Ctx, string(sec.Data["DATABASE_URL"]))
	require.NoError(l.T, err, "the app's DATABASE_URL opens its database")
	defer conn.Close(l.Ctx)
	_, err = conn.Exec(l.Ctx, "CREATE TABLE IF NOT EXISTS e2e (id int)")
	require.NoError(l.T, err, "the app's role may create tables in its database")
	require.NoError(l.T, s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app + "-redis"}, &sec), "the Redis Secret")
	l.collectPasswords(s, client.InNamespace(env), client.MatchingLabels{"app.kubernetes.io/name": app, "app.kubernetes.io/managed-by": "plattr"})
}

// CheckAbsent checks that s runs nothing of app in env: no Plattr Application,
// Deployment or database.
func (l *Loop) CheckAbsent(s *Site, env, app string) {
	l.T.Helper()
	var pa plattrv1.Application
	assert.True(l.T, apierrors.IsNotFound(s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app}, &pa)), "no Plattr Application %s/%s on %s", env, app, s)
	var d appsv1.Deployment
	assert.True(l.T, apierrors.IsNotFound(s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app}, &d)), "no Deployment %s/%s on %s", env, app, s)
	assert.Zero(l.T, l.Count(s, "SELECT count(*) FROM pg_database WHERE datname = $1", postgres.Name(env, app)), "no database of %s/%s in the PostgreSQL of %s", env, app, s)
}

// GitHubDeployment waits until the app's repository has a deployment of image
// in environment (a preview: its name) whose latest status is state, and
// returns it.
func (l *Loop) GitHubDeployment(environment, image, state string) fakegithub.Deployment {
	l.T.Helper()
	var found fakegithub.Deployment
	l.waitFor(time.Now(), fmt.Sprintf("a GitHub deployment of %s in %s, %s", ShortDigest(image), environment, state), func() (bool, string) {
		var seen []string
		for _, d := range l.GitHub.Deployments(appRepo) {
			var p struct{ Image string }
			_ = json.Unmarshal(d.Payload, &p)
			if d.Environment == environment && p.Image == image && d.State() == state {
				found = d
				return true, ""
			}
			seen = append(seen, fmt.Sprintf("%s %s %s", d.Environment, ShortDigest(p.Image), d.State()))
		}
		return false, "deployments: " + strings.Join(seen, "; ")
	})
	l.T.Logf("         GitHub deployment %d of %s: %s in %s", found.ID, appRepo, state, environment)
	return found
}

// DeploymentImage is the image the Deployment of app in env runs.
func (l *Loop) DeploymentImage(env, app string) string {
	l.T.Helper()
	var d appsv1.Deployment
	require.NoError(l.T, l.Site(env).C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app}, &d))
	return d.Spec.Template.Spec.Containers[0].Image
}

// CheckReleasePhase checks, as a user would look, that the release command of
// image ran before image's pods: its Job completed before the ReplicaSet of
// image was made, and the table it creates is in the app's database. It
// returns the Job.
func (l *Loop) CheckReleasePhase(env, app, image, table string) *batchv1.Job {
	l.T.Helper()
	s := l.Site(env)
	var job batchv1.Job
	require.NoError(l.T, s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: plattrv1.ReleaseJobName(app, image)}, &job))
	require.NotNil(l.T, job.Status.CompletionTime, "the release Job of %s completed", ShortDigest(image))
	var sets appsv1.ReplicaSetList
	require.NoError(l.T, s.C.Client.List(l.Ctx, &sets, client.InNamespace(env), client.MatchingLabels{plattrv1.LabelApp: app}))
	found := false
	for _, rs := range sets.Items {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			found = true
			assert.False(l.T, rs.CreationTimestamp.Before(job.Status.CompletionTime),
				"the pods of %s (ReplicaSet made %s) came after the release command (done %s)", ShortDigest(image), rs.CreationTimestamp, job.Status.CompletionTime)
		}
	}
	assert.True(l.T, found, "a ReplicaSet of %s", ShortDigest(image))
	var sec corev1.Secret
	require.NoError(l.T, s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app + "-postgres"}, &sec))
	assert.True(l.T, testenv.QueryRow[bool](l.T, string(sec.Data["DATABASE_URL"]), "SELECT to_regclass($1) IS NOT NULL", table),
		"the release command made table %s in the app's database", table)
	l.collectPasswords(s, client.InNamespace(env), client.MatchingLabels{"app.kubernetes.io/name": app, "app.kubernetes.io/managed-by": "plattr"})
	return &job
}

// SecretData is the data of Secret name in env, as strings.
func (l *Loop) SecretData(env, name string) map[string]string {
	l.T.Helper()
	var s corev1.Secret
	require.NoError(l.T, l.Site(env).C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: name}, &s))
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	for _, k := range []string{"REDIS_PASSWORD", "PGPASSWORD"} {
		if p := out[k]; p != "" {
			l.passwords = append(l.passwords, p)
		}
	}
	return out
}

// CredentialsRotated waits until the operator reports service's credentials
// of app in env rotated for rotation (asked for by commit, made at
// committed), with the app Ready; the timeline records it.
func (l *Loop) CredentialsRotated(committed time.Time, commit, env, app, service, rotation string) {
	l.T.Helper()
	s := l.Site(env)
	m := mark{what: fmt.Sprintf("%s/%s %s rotated", env, app, service), commit: commit[:8]}
	m.ready = l.waitFor(committed, fmt.Sprintf("the operator rotates the %s credentials of %s/%s (%s)", service, env, app, rotation), func() (bool, string) {
		var pa plattrv1.Application
		if err := s.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app}, &pa); err != nil {
			return false, err.Error()
		}
		ready := meta.IsStatusConditionTrue(pa.Status.Conditions, plattrv1.ConditionReady)
		for _, c := range pa.Status.Credentials {
			if c.Service == service {
				return c.Rotated == rotation && !c.Rotating && ready, fmt.Sprintf("rotated %q, rotating %v, Ready %v: %s", c.Rotated, c.Rotating, ready, c.Message)
			}
		}
		return false, "no credentials of " + service + " in the status"
	})
	m.synced = m.ready
	l.T.Logf("         %s/%s's %s credentials rotated: %.1f s after the commit", env, app, service, m.ready.Seconds())
	l.timeline = append(l.timeline, m)
}

// CheckLoginRefused checks that Redis refuses the credentials of redisURL,
// and PostgreSQL those of databaseURL.
func (l *Loop) CheckLoginRefused(redisURL, databaseURL string) {
	l.T.Helper()
	opt, err := goredis.ParseURL(redisURL)
	require.NoError(l.T, err)
	c := goredis.NewClient(opt)
	defer c.Close()
	assert.ErrorContains(l.T, c.Ping(l.Ctx).Err(), "WRONGPASS", "the previous Redis credentials are retired")
	_, err = pgx.Connect(l.Ctx, databaseURL)
	assert.ErrorContains(l.T, err, "password authentication failed", "the previous PostgreSQL login is retired")
}

// ReleaseJobs counts the release Jobs of app in env.
func (l *Loop) ReleaseJobs(env, app string) int {
	l.T.Helper()
	var jobs batchv1.JobList
	require.NoError(l.T, l.Site(env).C.Client.List(l.Ctx, &jobs, client.InNamespace(env),
		client.MatchingLabels{plattrv1.LabelApp: app, "app.kubernetes.io/component": "release"}))
	return len(jobs.Items)
}

// Image is the image the Plattr Application of app in env runs.
func (l *Loop) Image(env, app string) string {
	l.T.Helper()
	var pa plattrv1.Application
	require.NoError(l.T, l.Site(env).C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app}, &pa))
	return pa.Spec.Image
}

// collectPasswords remembers the passwords in the Secrets of s that opts select.
func (l *Loop) collectPasswords(s *Site, opts ...client.ListOption) {
	l.T.Helper()
	var secrets corev1.SecretList
	require.NoError(l.T, s.C.Client.List(l.Ctx, &secrets, opts...))
	require.NotEmpty(l.T, secrets.Items)
	for _, s := range secrets.Items {
		for k, v := range s.Data {
			if strings.Contains(k, "PASSWORD") {
				l.passwords = append(l.passwords, string(v))
			}
		}
	}
}

// DBPassword is the password of the database Secret of app in env.
func (l *Loop) DBPassword(env, app string) string {
	var s corev1.Secret
	require.NoError(l.T, l.Site(env).C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: app + "-postgres"}, &s))
	return string(s.Data["PGPASSWORD"])
}

// Count runs a count query on the PostgreSQL of s.
func (l *Loop) Count(s *Site, sql string, args ...any) int {
	l.T.Helper()
	return testenv.QueryRow[int](l.T, s.PGURL, sql, args...)
}

// CheckNoLeaks: no password of any Secret the operators made, nor the git
// token, in an operator's log, Argo CD's logs or the env repo.
func (l *Loop) CheckNoLeaks() {
	l.T.Helper()
	sites := append([]*Site{l.Hub}, slices.Collect(maps.Values(l.spokes))...)
	var logs []string
	for _, s := range sites {
		l.collectPasswords(s, client.MatchingLabels{"app.kubernetes.io/managed-by": "plattr"})
		log, _ := os.ReadFile(s.Operator)
		require.NotEmpty(l.T, log, "the log of the operator of %s", s)
		logs = append(logs, string(log))
	}
	secretValues := append([]string{l.token}, l.passwords...)
	repo := gittest.Files(l.T, l.Bare)
	for _, v := range secretValues {
		for i, log := range logs {
			assert.NotContains(l.T, log, v, "a secret in the log of the operator of %s", sites[i])
		}
		for _, comp := range []string{"argocd-repo-server", "argocd-application-controller"} {
			assert.False(l.T, l.Argo.LogContains(comp, v), "a secret in %s's log", comp)
		}
		for path, content := range repo {
			assert.NotContains(l.T, content, v, "a secret in the env repo's %s", path)
		}
	}
}

// Summary prints the timeline and what exists where.
func (l *Loop) Summary() {
	l.T.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "timeline (seconds after the commit reached the env repo):\n")
	fmt.Fprintf(&b, "  %-40s %-9s %-8s %8s %8s\n", "release", "commit", "trigger", "synced", "ready")
	for _, m := range l.timeline {
		end, trigger := fmt.Sprintf("%8.1f", m.ready.Seconds()), "refresh"
		if m.gone > 0 {
			end = fmt.Sprintf("%8.1f", m.gone.Seconds())
		}
		if m.poll {
			trigger = "poll"
		}
		synced := fmt.Sprintf("%8.1f", m.synced.Seconds())
		if m.refused != "" {
			synced, end = "refused", fmt.Sprintf("%8.1f  %s", m.synced.Seconds(), m.refused)
		}
		fmt.Fprintf(&b, "  %-40s %-9s %-8s %8s %s\n", m.what, m.commit, trigger, synced, end)
	}
	if first, last := l.timeline[0], l.timeline[len(l.timeline)-1]; last.poll {
		fmt.Fprintf(&b, "commit → Ready in staging: %.1f s with a refresh, %.1f s by Argo CD's poll: %.3f× the baseline\n",
			first.ready.Seconds(), last.ready.Seconds(), first.ready.Seconds()/last.ready.Seconds())
	} else {
		fmt.Fprintf(&b, "commit → Ready in staging: %.1f s with a refresh; without one, Argo CD finds a commit by its %s poll (make bench-e2e measures it)\n",
			first.ready.Seconds(), argoPoll)
	}
	fmt.Fprintf(&b, "what exists now:\n")
	var apps argov1.ApplicationList
	require.NoError(l.T, l.Hub.C.Client.List(l.Ctx, &apps, client.InNamespace(l.Argo.Namespace)))
	for _, a := range apps.Items {
		dest := a.Spec.Destination.Name
		if dest == "" {
			dest = "the hub"
		}
		fmt.Fprintf(&b, "  Argo CD application %-22s %s, %s at %.8s, project %s, on %s\n", a.Name, a.Status.Sync.Status, a.Status.Health.Status,
			a.Status.Sync.Revision, a.Spec.Project, dest)
	}
	for _, s := range append([]*Site{l.Hub}, slices.Collect(maps.Values(l.spokes))...) {
		var papps plattrv1.ApplicationList
		require.NoError(l.T, s.C.Client.List(l.Ctx, &papps))
		for _, p := range papps.Items {
			fmt.Fprintf(&b, "  Plattr application  %-22s %s, %s, database %s, on %s\n", p.Namespace+"/"+p.Name, p.Status.URL, ShortDigest(p.Spec.Image),
				postgres.Name(p.Namespace, p.Name), s)
		}
	}
	fmt.Fprintf(&b, "  %d commits in the env repo; %d pull requests on the fake GitHub\n", gittest.CommitCount(l.T, l.Bare), len(l.GitHub.PRs(EnvRepo)))
	l.Step("done")
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		l.T.Log(line)
	}
}

// ShortDigest is an image's digest, short, for people.
func ShortDigest(image string) string {
	if i := strings.Index(image, "@sha256:"); i >= 0 {
		return image[i+1 : i+8+12]
	}
	return image
}
