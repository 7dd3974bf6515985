// Package e2e runs Plattr's whole loop on one machine, with nothing faked but
// GitHub's pull-request API: a private env repo served by git over HTTP, the real
// Argo CD repo server and application controller (built from Argo CD's Go module),
// the real operator binary with a real PostgreSQL and Redis, and a real API
// server whose Deployments become Available on simulated nodes.
//
//	render (as CI) → commit → Argo CD syncs → operator provisions → Ready
//
// It is `make test-e2e` and `make demo-cluster` (the same test, with its progress
// shown); `make test` runs it unless -short.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
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

	"github.com/plattr/plattr/internal/cli/plattrgen"
	"github.com/plattr/plattr/internal/fakegithub"
	"github.com/plattr/plattr/internal/gittest"
	"github.com/plattr/plattr/internal/testenv"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services/postgres"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	domain    = "apps.e2e.test"
	envRepo   = "acme/env"
	appRepo   = "acme/hello"
	imageRepo = "registry.e2e.test/acme/hello"
	// How long one step may take before the test fails with what it waited for.
	// Argo CD's poll is 3 minutes: a step that only completes by polling fails.
	stepTimeout = 150 * time.Second
	// Poll is the refresh of Argo CD's application controller without a
	// trigger (its default --app-resync), for the timeline.
	argoPoll = 180 * time.Second
)

func digest(b byte) string { return imageRepo + "@sha256:" + strings.Repeat(string(b), 64) }

func TestEndToEnd(t *testing.T) {
	l := newLoop(t)

	// 1. CI releases hello into staging.
	l.step("render hello into staging (as CI on a push to main)")
	sha := l.plattrGen("render", "--app-dir", l.example, "--env", "staging", "--image", digest('a'), "--repo", l.repoURL)
	l.converge("staging", "staging", "hello", sha, digest('a'))
	l.checkProvisioned("staging", "hello")

	// 2. Promotion: a pull request, merged; Argo CD syncs uat.
	l.step("promote hello to uat: pull request, merge")
	l.plattrGen("promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", l.repoURL, "--github-repo", envRepo)
	sha = l.merge("plattr/promote-uat-hello")
	l.converge("uat", "uat", "hello", sha, digest('a'))
	l.checkProvisioned("uat", "hello")
	assert.NotEqual(t, l.dbPassword("staging", "hello"), l.dbPassword("uat", "hello"), "uat has a database and role of its own")

	// 3. A preview for pull request 1, then its removal with its data.
	l.step("open a preview for pull request 1 of hello")
	sha = l.plattrGen("render", "--app-dir", l.example, "--pr", "1", "--image", digest('b'), "--repo", l.repoURL)
	l.converge("preview", "preview", "hello-pr-1", sha, digest('b'))
	l.checkProvisioned("preview", "hello-pr-1")
	l.step("close pull request 1: delete its preview")
	sha = l.plattrGen("preview", "delete", "--app", "hello", "--pr", "1", "--repo", l.repoURL)
	l.gone("preview", "hello-pr-1", sha)

	// 4. A second release to staging, then a rollback to the first.
	l.step("render a second release of hello into staging")
	sha = l.plattrGen("render", "--app-dir", l.example, "--env", "staging", "--image", digest('c'), "--repo", l.repoURL)
	l.converge("staging", "staging", "hello", sha, digest('c'))
	l.step("roll staging back one release: pull request, merge")
	l.plattrGen("rollback", "--app", "hello", "--env", "staging", "--repo", l.repoURL, "--github-repo", envRepo)
	sha = l.merge("plattr/rollback-staging-hello")
	l.converge("staging", "staging", "hello", sha, digest('a'))

	// 5. `make bench-e2e` only: the baseline, a release Argo CD finds by its poll.
	if os.Getenv("PLATTR_E2E_POLL_BASELINE") != "" {
		l.step("baseline: render a release into staging and let Argo CD find it by its 3-minute poll (no refresh)")
		sha = l.plattrGen("render", "--app-dir", l.example, "--env", "staging", "--image", digest('d'), "--repo", l.repoURL)
		l.poll, l.timeout = true, 8*time.Minute
		l.converge("staging", "staging", "hello", sha, digest('d'))
	}

	l.checkNoLeaks()
	l.summary()
}

// loop is everything the end-to-end test runs, and its timeline.
type loop struct {
	t        *testing.T
	ctx      context.Context
	c        *testenv.Cluster
	argo     *testenv.ArgoCD
	pgURL    string
	bare     string // the env repo's folder (what GitHub's merge button acts on)
	repoURL  string // the env repo as CI and Argo CD reach it, over HTTP
	token    string
	github   *fakegithub.Server
	example  string
	operator string // the operator's log
	start    time.Time
	timeline []mark
	// poll: no refresh, Argo CD finds commits by its poll (the baseline);
	// timeout: of each wait (stepTimeout unless the baseline needs more).
	poll    bool
	timeout time.Duration
	// passwords the operator generated, collected as apps appear (a preview's
	// are gone from the cluster by the end, not from the logs).
	passwords []string
}

// mark is one release's way through the loop.
type mark struct {
	what                string
	commit              string
	poll                bool
	synced, ready, gone time.Duration
}

func newLoop(t *testing.T) *loop {
	ctx := context.Background()
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	l := &loop{t: t, ctx: ctx, start: time.Now(), example: filepath.Join(root, "examples", "hello"),
		token: "e2e-" + strings.Repeat("5ec7e7", 4), timeout: stepTimeout}

	l.step("start the test cluster (kube-apiserver, etcd, controller-manager, scheduler, kwok)")
	l.c = testenv.StartCluster(t)
	l.c.StartWorkloads(t)
	l.c.Apply(t, "plattr-e2e", testenv.Kustomize(t, filesys.MakeFsOnDisk(), filepath.Join(root, "bases", "environments"))...)

	l.step("start PostgreSQL and Redis of this run's own")
	pg := testenv.StartPrivatePostgres(t)
	l.pgURL = pg.AdminURL
	rds := testenv.StartPrivateRedis(t)

	l.step("serve a private env repo over HTTP and lay it down with plattr-gen env init")
	dir := t.TempDir()
	l.bare = gittest.BareRepo(t, filepath.Join(dir, "env.git"))
	srv := gittest.Serve(t, dir, "x-access-token", l.token)
	l.repoURL = srv.URL + "/env.git"
	t.Setenv("PLATTR_GIT_TOKEN", l.token)
	l.github = fakegithub.New(l.token)
	t.Cleanup(l.github.Close)
	l.plattrGen("env", "init", "--repo", l.repoURL, "--domain", domain, "--repo-url", l.repoURL)

	l.step("start Argo CD " + testenv.ArgoCDVersion + " (repo server, application controller) with Plattr's health check")
	health := testenv.Kustomize(t, filesys.MakeFsOnDisk(), filepath.Join(root, "bases", "argocd"))
	require.Len(t, health, 1)
	cm, _, err := unstructured.NestedStringMap(health[0].Object, "data")
	require.NoError(t, err)
	l.argo = l.c.StartArgoCD(t, testenv.ArgoCDOptions{Redis: rds.Addr, ConfigData: cm})
	// The env repo is private: Argo CD reads it with a repository Secret, as it
	// would with a GitHub token.
	require.NoError(t, l.c.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "env-repo", Namespace: l.argo.Namespace,
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
		StringData: map[string]string{"type": "git", "url": l.repoURL, "username": "x-access-token", "password": l.token},
	}))

	l.step("start the Plattr operator (the real binary)")
	opDir, err := os.MkdirTemp("", "plattr-testenv-operator-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(opDir) })
	bin := filepath.Join(opDir, "plattr-operator")
	out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "cmd", "plattr-operator")).CombinedOutput()
	require.NoError(t, err, "build the operator: %s", out)
	env := append(os.Environ(), "KUBECONFIG="+l.c.Kubeconfig, "DB_ADMIN_URL="+l.pgURL, "REDIS_ADMIN_URL="+rds.AdminURL)
	l.operator = testenv.StartProcess(t, bin, []string{"--leader-elect=false", "--metrics-bind-address=0",
		"--health-probe-bind-address=0", "--base-domain=" + domain}, env)

	l.step("apply the root Applications of staging, uat and preview (once, as a person bootstrapping the cluster)")
	files := gittest.Files(t, l.bare)
	for _, env := range []string{"staging", "uat", "preview"} {
		var app argov1.Application
		require.NoError(t, yaml.UnmarshalStrict([]byte(files["bootstrap/"+env+".yaml"]), &app), "bootstrap/%s.yaml", env)
		require.NoError(t, l.c.Client.Create(ctx, &app))
	}
	return l
}

// step prints a progress line (go test -v shows them as they happen).
func (l *loop) step(what string) {
	l.t.Helper()
	l.t.Logf("[%6.1fs] %s", time.Since(l.start).Seconds(), what)
}

// plattrGen runs plattr-gen as CI does and returns the env repo's head after it.
// The test's git server and fake GitHub serve plain http on 127.0.0.1: a test
// server is what --allow-http is for.
func (l *loop) plattrGen(args ...string) string {
	l.t.Helper()
	args = append(args, "--allow-http")
	var out, errb bytes.Buffer
	env := map[string]string{"GITHUB_API_URL": l.github.BaseURL(), "GITHUB_REPOSITORY": appRepo, "GITHUB_SHA": strings.Repeat("f", 40)}
	code := plattrgen.Main(l.ctx, args, plattrgen.IO{Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
	require.Equal(l.t, 0, code, "plattr-gen %s:\n%s%s", strings.Join(args, " "), out.String(), errb.String())
	require.NotContains(l.t, out.String()+errb.String(), l.token, "plattr-gen printed the token")
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if len(line) == 40 && strings.Trim(line, "0123456789abcdef") == "" {
			continue // the commit id render prints for scripts
		}
		l.t.Logf("         plattr-gen: %s", line)
	}
	return gittest.Git(l.t, l.bare, "rev-parse", "main")
}

// merge merges a Plattr branch into main on the server, as GitHub's merge button
// does, marks the pull request merged and returns main's new head.
func (l *loop) merge(branch string) string {
	l.t.Helper()
	prs := l.github.PRs(envRepo)
	require.NotEmpty(l.t, prs, "no pull request was opened")
	pr := prs[len(prs)-1]
	require.Equal(l.t, branch, pr.Head)
	work := gittest.Clone(l.t, l.bare)
	gittest.Git(l.t, work, "fetch", "-q", "origin", branch)
	gittest.Git(l.t, work, "merge", "-q", "--no-ff", "-m", fmt.Sprintf("Merge pull request #%d from %s", pr.Number, branch), "FETCH_HEAD")
	gittest.Git(l.t, work, "push", "-q", "origin", "main")
	l.github.Merge(envRepo, pr.Number)
	l.t.Logf("         merged pull request #%d (%s)", pr.Number, branch)
	return gittest.Git(l.t, l.bare, "rev-parse", "main")
}

// refresh asks Argo CD to look at the env repo now, as a webhook from the git
// host would, instead of waiting for its 3-minute poll: the root Application of
// the environment, and the child when it exists.
func (l *loop) refresh(env, app string) {
	l.t.Helper()
	for _, name := range []string{"plattr-" + env, env + "-" + app} {
		var a argov1.Application
		err := l.c.Client.Get(l.ctx, client.ObjectKey{Namespace: l.argo.Namespace, Name: name}, &a)
		if apierrors.IsNotFound(err) {
			continue
		}
		require.NoError(l.t, err)
		patch := client.MergeFrom(a.DeepCopy())
		if a.Annotations == nil {
			a.Annotations = map[string]string{}
		}
		a.Annotations[argov1.AnnotationKeyRefresh] = string(argov1.RefreshTypeNormal)
		require.NoError(l.t, l.c.Client.Patch(l.ctx, &a, patch))
	}
}

// waitFor polls cond until it holds and returns how long after since it did.
func (l *loop) waitFor(since time.Time, what string, cond func() (bool, string)) time.Duration {
	l.t.Helper()
	deadline := time.Now().Add(l.timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return time.Since(since)
		}
		last = state
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: not within %s; last seen: %s\nArgo CD application controller's log ends:\n%s\noperator's log ends:\n%s",
				what, l.timeout, last, l.argo.LogTail("argocd-application-controller", 3000), testenv.LogTail(l.operator, 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// converge waits until Argo CD has synced commit into the child Application of
// app in env, and the operator reports the Plattr Application Ready with image.
func (l *loop) converge(env, ns, app, commit, image string) {
	l.t.Helper()
	t0 := time.Now()
	if !l.poll {
		l.refresh(env, app)
	}
	m := mark{what: fmt.Sprintf("%s/%s %s", env, app, shortDigest(image)), commit: commit[:8], poll: l.poll}
	child := env + "-" + app
	m.synced = l.waitFor(t0, "Argo CD syncs "+child+" at "+commit[:8], func() (bool, string) {
		var a argov1.Application
		if err := l.c.Client.Get(l.ctx, client.ObjectKey{Namespace: l.argo.Namespace, Name: child}, &a); err != nil {
			return false, err.Error()
		}
		op := a.Status.OperationState
		if op == nil || op.SyncResult == nil {
			return false, fmt.Sprintf("sync %s, no operation yet", a.Status.Sync.Status)
		}
		state := fmt.Sprintf("sync %s at %.8s, operation %s at %.8s: %s", a.Status.Sync.Status, a.Status.Sync.Revision,
			op.Phase, op.SyncResult.Revision, op.Message)
		return op.SyncResult.Revision == commit && op.Phase == "Succeeded", state
	})
	l.t.Logf("         Argo CD synced %s at %s: %.1f s after the commit", child, commit[:8], m.synced.Seconds())
	m.ready = l.waitFor(t0, "the operator reports "+ns+"/"+app+" Ready with "+shortDigest(image), func() (bool, string) {
		var pa plattrv1.Application
		if err := l.c.Client.Get(l.ctx, client.ObjectKey{Namespace: ns, Name: app}, &pa); err != nil {
			return false, err.Error()
		}
		ready := meta.FindStatusCondition(pa.Status.Conditions, plattrv1.ConditionReady)
		state := fmt.Sprintf("image %s, observed generation %d of %d, Ready %v", pa.Spec.Image, pa.Status.ObservedGeneration, pa.Generation, ready)
		return pa.Spec.Image == image && pa.Status.ObservedGeneration == pa.Generation && ready != nil &&
			ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == pa.Generation, state
	})
	l.t.Logf("         %s/%s Ready: %.1f s after the commit", ns, app, m.ready.Seconds())
	// What Ready means, seen directly: the Deployment runs that image and is Available.
	var d appsv1.Deployment
	require.NoError(l.t, l.c.Client.Get(l.ctx, client.ObjectKey{Namespace: ns, Name: app}, &d))
	assert.Equal(l.t, image, d.Spec.Template.Spec.Containers[0].Image, "the Deployment runs the released image")
	assert.Equal(l.t, *d.Spec.Replicas, d.Status.AvailableReplicas, "every replica available (kwok's simulated pods)")
	// And Argo CD sees it healthy through Plattr's health check.
	l.waitFor(t0, "Argo CD reports "+child+" Healthy", func() (bool, string) {
		var a argov1.Application
		if err := l.c.Client.Get(l.ctx, client.ObjectKey{Namespace: l.argo.Namespace, Name: child}, &a); err != nil {
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

// gone waits until Argo CD pruned the child Application of app in env (at
// commit) and the operator removed the app and dropped its database.
func (l *loop) gone(env, app, commit string) {
	l.t.Helper()
	t0 := time.Now()
	l.refresh(env, app)
	m := mark{what: fmt.Sprintf("%s/%s removed", env, app), commit: commit[:8]}
	child := env + "-" + app
	m.synced = l.waitFor(t0, "Argo CD prunes "+child, func() (bool, string) {
		var a argov1.Application
		err := l.c.Client.Get(l.ctx, client.ObjectKey{Namespace: l.argo.Namespace, Name: child}, &a)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("still there (deleting: %v), %v", a.DeletionTimestamp != nil, err)
	})
	l.t.Logf("         Argo CD pruned %s: %.1f s after the commit", child, m.synced.Seconds())
	db := postgres.Name(env, app)
	m.gone = l.waitFor(t0, "the operator drops "+db, func() (bool, string) {
		var pa plattrv1.Application
		err := l.c.Client.Get(l.ctx, client.ObjectKey{Namespace: env, Name: app}, &pa)
		if !apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("Plattr Application still there: %v", err)
		}
		n := l.count("SELECT count(*) FROM pg_database WHERE datname = $1", db)
		r := l.count("SELECT count(*) FROM pg_roles WHERE rolname = $1", db)
		return n == 0 && r == 0, fmt.Sprintf("%d database, %d role named %s", n, r, db)
	})
	l.t.Logf("         database and role %s dropped: %.1f s after the commit", db, m.gone.Seconds())
	var secrets corev1.SecretList
	require.NoError(l.t, l.c.Client.List(l.ctx, &secrets, client.InNamespace(env), client.MatchingLabels{"app.kubernetes.io/name": app}))
	assert.Empty(l.t, secrets.Items, "the preview's Secrets are gone with it")
	l.timeline = append(l.timeline, m)
}

// checkProvisioned checks what the operator made for app in env, as a user
// would look: objects in the API server, a database and role in PostgreSQL that
// the app's own credentials open.
func (l *loop) checkProvisioned(env, app string) {
	l.t.Helper()
	var svc corev1.Service
	require.NoError(l.t, l.c.Client.Get(l.ctx, client.ObjectKey{Namespace: env, Name: app}, &svc))
	var ing networkingv1.Ingress
	require.NoError(l.t, l.c.Client.Get(l.ctx, client.ObjectKey{Namespace: env, Name: app}, &ing))
	require.NotEmpty(l.t, ing.Spec.Rules)
	assert.True(l.t, strings.HasSuffix(ing.Spec.Rules[0].Host, "."+domain), "host %s under the base domain", ing.Spec.Rules[0].Host)
	db := postgres.Name(env, app)
	assert.Equal(l.t, 1, l.count("SELECT count(*) FROM pg_database WHERE datname = $1", db), "database %s", db)
	var s corev1.Secret
	require.NoError(l.t, l.c.Client.Get(l.ctx, client.ObjectKey{Namespace: env, Name: app + "-postgres"}, &s))
	conn, err := pgx.Connect(l.ctx, string(s.Data["DATABASE_URL"]))
	require.NoError(l.t, err, "the app's DATABASE_URL opens its database")
	defer conn.Close(l.ctx)
	_, err = conn.Exec(l.ctx, "CREATE TABLE IF NOT EXISTS e2e (id int)")
	require.NoError(l.t, err, "the app's role may create tables in its database")
	require.NoError(l.t, l.c.Client.Get(l.ctx, client.ObjectKey{Namespace: env, Name: app + "-redis"}, &s), "the Redis Secret")
	l.collectPasswords(client.InNamespace(env), client.MatchingLabels{"app.kubernetes.io/name": app, "app.kubernetes.io/managed-by": "plattr"})
}

// collectPasswords remembers the passwords in the Secrets that opts select.
func (l *loop) collectPasswords(opts ...client.ListOption) {
	l.t.Helper()
	var secrets corev1.SecretList
	require.NoError(l.t, l.c.Client.List(l.ctx, &secrets, opts...))
	require.NotEmpty(l.t, secrets.Items)
	for _, s := range secrets.Items {
		for k, v := range s.Data {
			if strings.Contains(k, "PASSWORD") {
				l.passwords = append(l.passwords, string(v))
			}
		}
	}
}

func (l *loop) dbPassword(env, app string) string {
	var s corev1.Secret
	require.NoError(l.t, l.c.Client.Get(l.ctx, client.ObjectKey{Namespace: env, Name: app + "-postgres"}, &s))
	return string(s.Data["PGPASSWORD"])
}

func (l *loop) count(sql string, args ...any) int {
	l.t.Helper()
	return testenv.QueryRow[int](l.t, l.pgURL, sql, args...)
}

// checkNoLeaks: no password of any Secret the operator made, nor the git token,
// in the operator's log, Argo CD's logs or the env repo.
func (l *loop) checkNoLeaks() {
	l.t.Helper()
	l.collectPasswords(client.MatchingLabels{"app.kubernetes.io/managed-by": "plattr"})
	secretValues := append([]string{l.token}, l.passwords...)
	operatorLog, _ := os.ReadFile(l.operator)
	require.NotEmpty(l.t, operatorLog)
	repo := gittest.Files(l.t, l.bare)
	for _, v := range secretValues {
		assert.NotContains(l.t, string(operatorLog), v, "a secret in the operator's log")
		for _, comp := range []string{"argocd-repo-server", "argocd-application-controller"} {
			assert.False(l.t, l.argo.LogContains(comp, v), "a secret in %s's log", comp)
		}
		for path, content := range repo {
			assert.NotContains(l.t, content, v, "a secret in the env repo's %s", path)
		}
	}
}

// summary prints the timeline and what exists where.
func (l *loop) summary() {
	l.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "timeline (seconds after the commit reached the env repo):\n")
	fmt.Fprintf(&b, "  %-40s %-9s %-8s %8s %8s\n", "release", "commit", "trigger", "synced", "ready")
	for _, m := range l.timeline {
		end, trigger := m.ready, "refresh"
		if m.gone > 0 {
			end = m.gone
		}
		if m.poll {
			trigger = "poll"
		}
		fmt.Fprintf(&b, "  %-40s %-9s %-8s %8.1f %8.1f\n", m.what, m.commit, trigger, m.synced.Seconds(), end.Seconds())
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
	require.NoError(l.t, l.c.Client.List(l.ctx, &apps, client.InNamespace(l.argo.Namespace)))
	for _, a := range apps.Items {
		fmt.Fprintf(&b, "  Argo CD application %-22s %s, %s at %.8s\n", a.Name, a.Status.Sync.Status, a.Status.Health.Status, a.Status.Sync.Revision)
	}
	var papps plattrv1.ApplicationList
	require.NoError(l.t, l.c.Client.List(l.ctx, &papps))
	for _, p := range papps.Items {
		fmt.Fprintf(&b, "  Plattr application  %-22s %s, %s, database %s\n", p.Namespace+"/"+p.Name, p.Status.URL, shortDigest(p.Spec.Image), postgres.Name(p.Namespace, p.Name))
	}
	fmt.Fprintf(&b, "  %d commits in the env repo; %d pull requests on the fake GitHub\n", gittest.CommitCount(l.t, l.bare), len(l.github.PRs(envRepo)))
	l.step("done")
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		l.t.Log(line)
	}
}

func shortDigest(image string) string {
	if i := strings.Index(image, "@sha256:"); i >= 0 {
		return image[i+1 : i+8+12]
	}
	return image
}
