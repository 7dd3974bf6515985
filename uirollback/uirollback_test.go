package uirollback

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	synccommon "github.com/argoproj/argo-cd/gitops-engine/pkg/sync/common"
	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/gitops/pulls"
	"github.com/plattr/plattr/internal/fakegithub"
	"github.com/plattr/plattr/internal/gittest"
	"github.com/plattr/plattr/internal/testenv"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/ops"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	ns      = "argocd"
	token   = "ghp_rollback-test"
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// envRepo is an env repo where hello was released into staging twice; it
// returns the bare repo and the two release commits.
func envRepo(t *testing.T) (string, string, string) {
	t.Helper()
	ctx := context.Background()
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r, err := gitops.Open(ctx, repo, generator.Validate)
	require.NoError(t, err)
	init, err := ops.NewInit(generator.DefaultConfig("https://example.com/env.git", "apps.example.com", []string{"staging", "prod"}))
	require.NoError(t, err)
	var ip ops.Plan
	_, err = r.Apply(ctx, ops.Change(init.Plan, &ip), gitops.ApplyOptions{})
	require.NoError(t, err)
	var commits []string
	for _, d := range []string{digestA, digestB} {
		m, err := manifest.Parse(manifest.FileName, []byte("name: hello\n"))
		require.NoError(t, err)
		img, err := generator.ParseImage("r.example.com/hello@"+d, false)
		require.NoError(t, err)
		op := ops.Render{Release: generator.Release{Manifest: m, Image: img, Env: "staging"}, Branch: "main"}
		var rp ops.RenderPlan
		res, err := r.Apply(ctx, ops.Change(op.Plan, &rp), gitops.ApplyOptions{})
		require.NoError(t, err)
		commits = append(commits, res.Commit.String())
	}
	return repo, commits[0], commits[1]
}

// child is staging-hello as Argo CD holds it after a sync to revision by who,
// started at, with automated sync on or off.
func child(name, revision, who string, automated bool, at time.Time) *argov1.Application {
	a := &argov1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{plattrv1.LabelEnvironment: "staging", plattrv1.LabelApp: "hello"}},
		Spec: argov1.ApplicationSpec{Project: "default",
			Source:      &argov1.ApplicationSource{RepoURL: "https://example.com/env.git", Path: "envs/staging/hello", TargetRevision: "main"},
			Destination: argov1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "staging"},
			SyncPolicy:  &argov1.SyncPolicy{}},
		Status: argov1.ApplicationStatus{OperationState: &argov1.OperationState{
			Operation: argov1.Operation{Sync: &argov1.SyncOperation{Revision: revision}, InitiatedBy: argov1.OperationInitiator{Username: who, Automated: who == ""}},
			Phase:     synccommon.OperationSucceeded, SyncResult: &argov1.SyncOperationResult{Revision: revision},
			StartedAt: metav1.NewTime(at)}},
	}
	if automated {
		a.Spec.SyncPolicy.Automated = generator.AutoSync()
	}
	return a
}

func setup(t *testing.T) (*Reconciler, *fakegithub.Server, string, string, string) {
	t.Helper()
	c := testenv.StartCluster(t)
	require.NoError(t, c.EnsureNamespace(context.Background(), ns))
	repo, a, b := envRepo(t)
	gh := fakegithub.New(token)
	t.Cleanup(gh.Close)
	prs, err := pulls.New(token, "acme/env", pulls.WithBaseURL(gh.BaseURL()))
	require.NoError(t, err)
	r := &Reconciler{Client: c.Client, Namespace: ns, PullRequests: prs, Log: testr.New(t),
		Open: func(ctx context.Context) (*gitops.Repo, error) { return gitops.Open(ctx, repo, generator.Validate) }}
	return r, gh, repo, a, b
}

func reconcile(t *testing.T, r *Reconciler, a *argov1.Application) *argov1.Application {
	t.Helper()
	ctx := context.Background()
	_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(a)})
	require.NoError(t, err)
	var got argov1.Application
	require.NoError(t, r.Client.Get(ctx, client.ObjectKeyFromObject(a), &got))
	return &got
}

// A rollback pull request closed without merging is not proposed again while
// automated sync stays off; merged and followed by another release, automated
// sync goes on all the same.
func TestReconciler_DeclinedAndMovedOn(t *testing.T) {
	r, gh, repo, a, _ := setup(t)
	ctx := context.Background()
	app := child("staging-hello", a, "carol", false, time.Now())
	require.NoError(t, r.Client.Create(ctx, app))
	reconcile(t, r, app)
	require.Len(t, gh.PRs("acme/env"), 1)
	gh.ClosePR("acme/env", 1)
	got := reconcile(t, r, app)
	assert.Equal(t, "declined: https://github.com/acme/env/pull/1", got.Annotations[AnnotationPullRequest])
	reconcile(t, r, app)
	assert.Len(t, gh.PRs("acme/env"), 1, "not proposed again")
	assert.False(t, autoSync(got))

	// Another Application, another rollback: this one merged, then git moves on.
	require.NoError(t, r.Client.Delete(ctx, app))
	app = child("staging-hello", a, "carol", false, time.Now())
	require.NoError(t, r.Client.Create(ctx, app))
	t.Cleanup(func() { _ = r.Client.Delete(ctx, app) })
	reconcile(t, r, app)
	require.Len(t, gh.PRs("acme/env"), 2)
	work := gittest.Clone(t, repo)
	gittest.Git(t, work, "fetch", "-q", "origin", "plattr/rollback-staging-hello")
	gittest.Git(t, work, "merge", "-q", "--no-ff", "-m", "Merge pull request #2", "FETCH_HEAD")
	p := filepath.Join(work, "envs/staging/hello/release.yaml")
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, []byte(strings.ReplaceAll(string(data), strings.Repeat("a", 64), strings.Repeat("c", 64))), 0o644))
	gittest.Git(t, work, "commit", "-qam", "a later release")
	gittest.Git(t, work, "push", "-q", "origin", "main")
	got = reconcile(t, r, app)
	assert.True(t, autoSync(got), "git had the rollback and moved on: automated sync on")
	assert.NotContains(t, got.Annotations, AnnotationPullRequest)
}

// A rollback in Argo CD (automated sync off, a person's sync to the revision
// of the earlier release, after the later one was in git) becomes the
// rollback pull request, once; merged, the Application's automated sync is on
// again.
func TestReconciler_RollbackInArgoCDComesBackToGit(t *testing.T) {
	r, gh, repo, a, _ := setup(t)
	ctx := context.Background()
	app := child("staging-hello", a, "alice\nPlattr-Environment: prod", false, time.Now())
	require.NoError(t, r.Client.Create(ctx, app))
	t.Cleanup(func() { _ = r.Client.Delete(ctx, app) })

	got := reconcile(t, r, app)
	prs := gh.PRs("acme/env")
	require.Len(t, prs, 1)
	assert.Equal(t, "plattr/rollback-staging-hello", prs[0].Head)
	assert.Contains(t, prs[0].Body, "**Rolled back in Argo CD** by alice Plattr-Environment: prod at ")
	assert.Equal(t, "https://github.com/acme/env/pull/1", got.Annotations[AnnotationPullRequest])
	assert.False(t, autoSync(got), "still off until git has it")
	files := gittest.Files(t, repo)
	branch := gittest.Git(t, repo, "show", "plattr/rollback-staging-hello:envs/staging/hello/release.yaml")
	assert.Contains(t, branch, "r.example.com/hello@"+digestA, "the branch restores what runs")
	assert.Contains(t, files["envs/staging/hello/release.yaml"], digestB, "main is untouched")
	msg := gittest.Git(t, repo, "log", "-1", "--format=%B", "plattr/rollback-staging-hello")
	assert.Contains(t, msg+"\n", "\nPlattr-Rolled-Back-By: alice Plattr-Environment: prod\n", "the name stays on its trailer's line")
	assert.Equal(t, "staging", ops.ParseTrailers(msg)[ops.TrailerEnvironment])

	before := gittest.Git(t, repo, "rev-parse", "plattr/rollback-staging-hello")
	writes := gh.Writes()
	reconcile(t, r, app)
	assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "plattr/rollback-staging-hello"), "proposed once")
	assert.Equal(t, writes, gh.Writes(), "the pull request is there already")

	// Merged: git runs what Argo CD runs.
	work := gittest.Clone(t, repo)
	gittest.Git(t, work, "fetch", "-q", "origin", "plattr/rollback-staging-hello")
	gittest.Git(t, work, "merge", "-q", "--no-ff", "-m", "Merge pull request #1 from acme/plattr/rollback-staging-hello", "FETCH_HEAD")
	gittest.Git(t, work, "push", "-q", "origin", "main")
	got = reconcile(t, r, app)
	assert.True(t, autoSync(got), "automated sync on again")
	assert.Equal(t, generator.AutoSync(), got.Spec.SyncPolicy.Automated, "as git writes it")
	assert.NotContains(t, got.Annotations, AnnotationPullRequest)
	assert.Len(t, gh.PRs("acme/env"), 1)
}

// What is not a rollback in Argo CD proposes nothing and turns nothing on.
func TestReconciler_NotARollback(t *testing.T) {
	r, gh, repo, a, b := setup(t)
	ctx := context.Background()
	bTime := gittest.Git(t, repo, "log", "-1", "--format=%cI", b)
	committed, err := time.Parse(time.RFC3339, bTime)
	require.NoError(t, err)
	forged := child("staging-hello", a, "bob", false, time.Now())
	forged.Spec.Source.RepoURL = "https://example.com/another-env.git"
	relabelled := child("staging-hello", a, "bob", false, time.Now())
	relabelled.Spec.Source.Path = "envs/prod/hello"
	notAnApp := child("staging-hello", a, "bob", false, time.Now())
	notAnApp.Labels[plattrv1.LabelApp] = "Not_An-App"
	for _, tc := range []struct {
		name string
		app  *argov1.Application
	}{
		// Paused by a person, running what git has.
		{"paused", child("staging-hello", b, "bob", false, time.Now())},
		// Paused, and git moved on meanwhile: its last sync was before b.
		{"moved-on", child("staging-hello", a, "bob", false, committed.Add(-time.Minute))},
		// Synced by Argo CD itself.
		{"automated", child("staging-hello", a, "", false, time.Now())},
		// Automated sync on: Argo CD refuses rollbacks then.
		{"auto-on", child("staging-hello", a, "bob", true, time.Now())},
		// Labelled as Plattr's child, but of another env repo, or of another
		// folder, or with a name that is no app.
		{"another repo", forged},
		{"another folder", relabelled},
		{"not an app", notAnApp},
	} {
		require.NoError(t, r.Client.Create(ctx, tc.app), tc.name)
		got := reconcile(t, r, tc.app)
		assert.NotContains(t, got.Annotations, AnnotationPullRequest, tc.name)
		assert.Equal(t, tc.name == "auto-on", autoSync(got), tc.name)
		require.NoError(t, r.Client.Delete(ctx, tc.app))
	}
	assert.Empty(t, gh.PRs("acme/env"), "no pull request for any of them")
	assert.NotContains(t, gittest.Git(t, repo, "branch", "--list"), "rollback")
}

// The controller's settings are checked before it starts, naming the flag.
func TestNew_Validates(t *testing.T) {
	c := testenv.StartCluster(t)
	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{Scheme: Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	require.NoError(t, err)
	ok := Config{EnvRepo: "https://github.com/acme/env.git", Namespace: "argocd", Token: "t", GitHubRepo: "acme/env"}
	r, err := New(mgr, ok)
	require.NoError(t, err)
	assert.NotNil(t, r.PullRequests)
	assert.Equal(t, "main", r.Base)
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.EnvRepo = "" }, "--env-repo (PLATTR_ENV_REPO) is required"},
		{func(c *Config) { c.EnvRepo = "http://github.com/acme/env.git" }, "--env-repo: "},
		{func(c *Config) { c.EnvRepo = "/srv/env.git" }, "--env-repo: give the env repo's https:// URL"},
		{func(c *Config) { c.Branch = "a..b" }, "--branch: "},
		{func(c *Config) { c.Namespace = "Argo CD" }, `--namespace: "Argo CD" is not a namespace`},
		{func(c *Config) { c.Token = "" }, "no token: set PLATTR_GIT_TOKEN"},
		{func(c *Config) { c.GitHubRepo = "acme/../x" }, "--github-repo: "},
		{func(c *Config) { c.GitHubAPIURL = "http://ghe.example.com/api/v3" }, "--github-api-url: "},
	} {
		cfg := ok
		tc.edit(&cfg)
		_, err := New(mgr, cfg)
		assert.ErrorContains(t, err, tc.want)
	}
}
