package controller_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/fakegithub"
	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
	"github.com/plattr/plattr/operator/ghdeploy"
)

const ghToken = "ghs_" + "t0ken0fthe0perat0r"

var commitA, commitB = strings.Repeat("a", 40), strings.Repeat("b", 40)

func released(repo, commit string) func(*plattrv1.Application) {
	return func(a *plattrv1.Application) {
		a.Annotations = map[string]string{plattrv1.AnnotationSourceRepo: repo, plattrv1.AnnotationSourceCommit: commit}
	}
}

// waitDeployments waits until the repository's deployments satisfy ok.
func waitDeployments(t *testing.T, gh *fakegithub.Server, repo, what string, ok func([]fakegithub.Deployment) bool) []fakegithub.Deployment {
	t.Helper()
	var ds []fakegithub.Deployment
	testenv.Eventually(t, 60*time.Second, what, func() (bool, error) {
		ds = gh.Deployments(repo)
		return ok(ds), nil
	})
	return ds
}

func states(d fakegithub.Deployment) []string {
	var out []string
	for _, s := range d.Statuses {
		out = append(out, s.State)
	}
	return out
}

// A release with its source annotations is recorded on its repository: a
// deployment of its commit in its environment, in_progress then success once
// Ready with the app's URL; steady state writes nothing to GitHub; the next
// release's success makes the first inactive; a refused spec is a failure; the
// removed app's deployment turns inactive.
func TestApplication_GitHubDeployments(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	gh := fakegithub.New(ghToken)
	defer gh.Close()
	ns := envNamespace(t, c)
	run := startOperator(t, c, ns, operator.Config{BaseDomain: "apps.example.com", GitHubToken: ghToken, GitHubAPIURL: gh.BaseURL(),
		DBAdminURL: leastPrivilegeAdmin(t, testenv.StartPostgres(t), "gh-admin-pw"), Resync: 200 * time.Millisecond})
	ctx := context.Background()

	plain := newApp(ns, "test-gh-plain", func(a *plattrv1.Application) { a.Spec.Database = nil })
	require.NoError(t, c.Client.Create(ctx, plain))
	t.Cleanup(func() { deleteAndWait(t, c, plain) })
	got := waitCondition(t, c, plain, plattrv1.ConditionReady, metav1.ConditionTrue, "")
	assert.Nil(t, condition(got, plattrv1.ConditionGitHubDeployment), "no source annotations: nothing to record")

	app := newApp(ns, "test-gh", released("acme/shop", commitA))
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	waitCondition(t, c, app, plattrv1.ConditionGitHubDeployment, metav1.ConditionTrue, controller.ReasonRecorded)
	ds := waitDeployments(t, gh, "acme/shop", "a successful deployment", func(ds []fakegithub.Deployment) bool {
		return len(ds) == 1 && ds[0].State() == ghdeploy.StateSuccess
	})
	d := ds[0]
	assert.Equal(t, commitA, d.SHA)
	assert.Equal(t, "plattr", d.Environment, "the environment of the app's namespace")
	assert.False(t, d.Transient)
	assert.Equal(t, []string{ghdeploy.StateInProgress, ghdeploy.StateSuccess}, states(d))
	assert.Equal(t, "http://test-gh.plattr.apps.example.com", d.Statuses[1].EnvironmentURL)
	var payload ghdeploy.Payload
	require.NoError(t, json.Unmarshal(d.Payload, &payload))
	assert.Equal(t, ghdeploy.Payload{App: "test-gh", Image: image1}, payload)
	got = waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionTrue, "")
	require.NotNil(t, got.Status.GitHubDeployment)
	assert.Equal(t, d.ID, got.Status.GitHubDeployment.ID)

	// Steady state: the app is observed again and again, GitHub is not called.
	writes, requests, observed := gh.Writes(), gh.Requests(), run.pg.observes.Load()
	testenv.Eventually(t, 30*time.Second, "five more observations", func() (bool, error) { return run.pg.observes.Load() >= observed+5, nil })
	assert.Equal(t, writes, gh.Writes(), "no GitHub write in steady state")
	assert.Equal(t, requests, gh.Requests(), "no GitHub request at all in steady state")

	// The next release; the first turns inactive once it succeeds.
	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.Image = image2
	got.Annotations[plattrv1.AnnotationSourceCommit] = commitB
	require.NoError(t, c.Client.Patch(ctx, got, patch))
	ds = waitDeployments(t, gh, "acme/shop", "the second release succeeds, the first is inactive", func(ds []fakegithub.Deployment) bool {
		return len(ds) == 2 && ds[1].State() == ghdeploy.StateSuccess && ds[0].State() == ghdeploy.StateInactive
	})
	assert.Equal(t, commitB, ds[1].SHA)

	// A GitHub that fails is retried; the app stays Ready meanwhile.
	gh.FailNext(3, http.StatusBadGateway, "")
	got = mustGet(t, c, app)
	patch = client.MergeFrom(got.DeepCopy())
	got.Annotations[plattrv1.AnnotationSourceCommit] = strings.Repeat("c", 40)
	require.NoError(t, c.Client.Patch(ctx, got, patch))
	waitDeployments(t, gh, "acme/shop", "the third release recorded after GitHub's errors", func(ds []fakegithub.Deployment) bool {
		return len(ds) == 3 && ds[2].State() == ghdeploy.StateSuccess
	})
	assert.True(t, isTrue(mustGet(t, c, app), plattrv1.ConditionReady))

	deleteAndWait(t, c, app)
	waitDeployments(t, gh, "acme/shop", "the removed app's deployment inactive", func(ds []fakegithub.Deployment) bool {
		return ds[2].State() == ghdeploy.StateInactive
	})
	assert.NotContains(t, run.logs.String(), ghToken)
}

// Without GitHub access an app with source annotations says so in a condition
// of its own, and is Ready all the same.
func TestApplication_GitHubNotConfigured(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{})
	app := newApp(ns, "test-gh-none", released("acme/shop", commitA), func(a *plattrv1.Application) { a.Spec.Database = nil })
	require.NoError(t, c.Client.Create(context.Background(), app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	got := waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionTrue, "")
	cond := condition(got, plattrv1.ConditionGitHubDeployment)
	require.NotNil(t, cond)
	assert.Equal(t, metav1.ConditionFalse, cond.Status)
	assert.Equal(t, controller.ReasonNotConfigured, cond.Reason)
	assert.Contains(t, cond.Message, "GITHUB_TOKEN")
}

func isTrue(app *plattrv1.Application, typ string) bool {
	c := condition(app, typ)
	return c != nil && c.Status == metav1.ConditionTrue
}
