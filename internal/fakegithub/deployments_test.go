package fakegithub

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var sha1, sha2 = strings.Repeat("a", 40), strings.Repeat("b", 40)

func deploy(t *testing.T, gh *github.Client, sha, env string, transient bool) *github.Deployment {
	t.Helper()
	d, resp, err := gh.Repositories.CreateDeployment(context.Background(), "acme", "hello", &github.DeploymentRequest{
		Ref: github.String(sha), Environment: github.String(env), Payload: map[string]string{"image": "r/hello@sha256:x"},
		RequiredContexts: &[]string{}, TransientEnvironment: github.Bool(transient), ProductionEnvironment: github.Bool(env == "prod"),
		AutoMerge: github.Bool(false)})
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	return d
}

func TestServer_Deployments(t *testing.T) {
	s := New("tok")
	defer s.Close()
	gh := client(t, s, "tok")
	ctx := context.Background()

	d1 := deploy(t, gh, sha1, "staging", false)
	assert.Equal(t, sha1, d1.GetSHA())
	assert.Equal(t, "staging", d1.GetEnvironment())
	var payload map[string]string
	require.NoError(t, json.Unmarshal(d1.Payload, &payload))
	assert.Equal(t, "r/hello@sha256:x", payload["image"])
	assert.Equal(t, []string{"staging"}, s.Environments("acme/hello"), "a deployment makes its environment")

	st, resp, err := gh.Repositories.CreateDeploymentStatus(ctx, "acme", "hello", d1.GetID(), &github.DeploymentStatusRequest{
		State: github.String("success"), EnvironmentURL: github.String("https://hello.staging.example.com")})
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "https://hello.staging.example.com", st.GetEnvironmentURL())

	// A second successful deployment turns the first inactive (auto_inactive).
	d2 := deploy(t, gh, sha2, "staging", false)
	_, _, err = gh.Repositories.CreateDeploymentStatus(ctx, "acme", "hello", d2.GetID(), &github.DeploymentStatusRequest{State: github.String("success")})
	require.NoError(t, err)
	statuses, _, err := gh.Repositories.ListDeploymentStatuses(ctx, "acme", "hello", d1.GetID(), nil)
	require.NoError(t, err)
	require.Len(t, statuses, 2)
	assert.Equal(t, "inactive", statuses[0].GetState(), "newest first")

	list, _, err := gh.Repositories.ListDeployments(ctx, "acme", "hello", &github.DeploymentsListOptions{Environment: "staging"})
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, d2.GetID(), list[0].GetID(), "newest first")
	list, _, err = gh.Repositories.ListDeployments(ctx, "acme", "hello", &github.DeploymentsListOptions{SHA: sha1})
	require.NoError(t, err)
	require.Len(t, list, 1)

	// Production deployments are not made inactive by auto_inactive.
	p1, p2 := deploy(t, gh, sha1, "prod", false), deploy(t, gh, sha2, "prod", false)
	for _, d := range []*github.Deployment{p1, p2} {
		_, _, err = gh.Repositories.CreateDeploymentStatus(ctx, "acme", "hello", d.GetID(), &github.DeploymentStatusRequest{State: github.String("success")})
		require.NoError(t, err)
	}
	assert.Equal(t, "success", s.Deployments("acme/hello")[2].State())

	// Refusals, as GitHub's.
	_, resp, err = gh.Repositories.CreateDeploymentStatus(ctx, "acme", "hello", d1.GetID(), &github.DeploymentStatusRequest{State: github.String("done")})
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	_, resp, err = gh.Repositories.CreateDeploymentStatus(ctx, "acme", "hello", 9999, &github.DeploymentStatusRequest{State: github.String("success")})
	require.Error(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	_, resp, err = gh.Repositories.CreateDeployment(ctx, "acme", "hello", &github.DeploymentRequest{Ref: github.String("no-such-branch")})
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.ErrorContains(t, err, "No ref found for: no-such-branch")

	// The active deployment of an environment that has others is kept.
	resp, err = gh.Repositories.DeleteDeployment(ctx, "acme", "hello", d2.GetID())
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
}

// GitHub refuses to delete an active deployment that is not its environment's
// only one, and a transient environment's deployment made inactive goes.
func TestServer_DeleteDeployment(t *testing.T) {
	s := New("tok")
	defer s.Close()
	gh := client(t, s, "tok")
	ctx := context.Background()
	a, b := deploy(t, gh, sha1, "hello-pr-1", true), deploy(t, gh, sha2, "hello-pr-1", true)
	for _, d := range []*github.Deployment{a, b} {
		_, _, err := gh.Repositories.CreateDeploymentStatus(ctx, "acme", "hello", d.GetID(), &github.DeploymentStatusRequest{State: github.String("success")})
		require.NoError(t, err)
	}
	resp, err := gh.Repositories.DeleteDeployment(ctx, "acme", "hello", a.GetID())
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.ErrorContains(t, err, "We cannot delete an active deployment unless it is the only deployment in a given environment.")
	_, _, err = gh.Repositories.CreateDeploymentStatus(ctx, "acme", "hello", a.GetID(), &github.DeploymentStatusRequest{State: github.String("inactive")})
	require.NoError(t, err)
	resp, err = gh.Repositories.DeleteDeployment(ctx, "acme", "hello", a.GetID())
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, err = gh.Repositories.DeleteDeployment(ctx, "acme", "hello", b.GetID())
	require.NoError(t, err, "the environment's only deployment")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)

	_, err = gh.Repositories.DeleteEnvironment(ctx, "acme", "hello", "hello-pr-1")
	require.NoError(t, err)
	envs, _, err := gh.Repositories.ListEnvironments(ctx, "acme", "hello", nil)
	require.NoError(t, err)
	assert.Zero(t, envs.GetTotalCount())
	_, err = gh.Repositories.DeleteEnvironment(ctx, "acme", "hello", "hello-pr-1")
	var er *github.ErrorResponse
	require.True(t, errors.As(err, &er))
	assert.Equal(t, http.StatusNotFound, er.Response.StatusCode)
}

func TestServer_CommitStatuses(t *testing.T) {
	s := New("tok")
	defer s.Close()
	gh := client(t, s, "tok")
	ctx := context.Background()

	c, _, err := gh.Repositories.GetCombinedStatus(ctx, "acme", "env", sha1, nil)
	require.NoError(t, err)
	assert.Equal(t, "pending", c.GetState(), "no status yet")
	for _, st := range []struct{ context, state string }{{"plattr/promotion", "pending"}, {"ci", "success"}, {"plattr/promotion", "success"}} {
		_, resp, err := gh.Repositories.CreateStatus(ctx, "acme", "env", sha1, &github.RepoStatus{Context: github.String(st.context), State: github.String(st.state),
			Description: github.String("soak")})
		require.NoError(t, err)
		assert.Equal(t, http.StatusCreated, resp.StatusCode)
	}
	c, _, err = gh.Repositories.GetCombinedStatus(ctx, "acme", "env", sha1, nil)
	require.NoError(t, err)
	assert.Equal(t, "success", c.GetState())
	assert.Len(t, c.Statuses, 2, "the latest of each context")
	all, _, err := gh.Repositories.ListStatuses(ctx, "acme", "env", sha1, nil)
	require.NoError(t, err)
	require.Len(t, all, 3)
	assert.Equal(t, "success", all[0].GetState(), "newest first")

	_, resp, err := gh.Repositories.CreateStatus(ctx, "acme", "env", sha1, &github.RepoStatus{State: github.String("green")})
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)

	// Without required_contexts: [], a deployment of a commit whose checks
	// failed is refused with 409.
	_, _, err = gh.Repositories.CreateStatus(ctx, "acme", "env", sha2, &github.RepoStatus{Context: github.String("ci"), State: github.String("failure")})
	require.NoError(t, err)
	_, resp, err = gh.Repositories.CreateDeployment(ctx, "acme", "env", &github.DeploymentRequest{Ref: github.String(sha2)})
	require.Error(t, err)
	assert.Equal(t, http.StatusConflict, resp.StatusCode)

	writes := s.Writes()
	_, _, err = gh.Repositories.ListStatuses(ctx, "acme", "env", sha1, nil)
	require.NoError(t, err)
	assert.Equal(t, writes, s.Writes(), "reads are not writes")
}

// Deployments and their statuses name who created them, as GitHub's do: the
// token's user, another user's token, a GitHub App's bot.
func TestServer_DeploymentCreators(t *testing.T) {
	s := New("tok")
	defer s.Close()
	s.AddUser("mallory-token", "mallory")
	ctx := context.Background()
	d := deploy(t, client(t, s, "tok"), sha1, "staging", false)
	assert.Equal(t, DefaultLogin, d.GetCreator().GetLogin())
	assert.Equal(t, "User", d.GetCreator().GetType())
	st, _, err := client(t, s, "mallory-token").Repositories.CreateDeploymentStatus(ctx, "acme", "hello", d.GetID(), &github.DeploymentStatusRequest{State: github.String("success")})
	require.NoError(t, err)
	assert.Equal(t, "mallory", st.GetCreator().GetLogin())
	list, _, err := client(t, s, "tok").Repositories.ListDeploymentStatuses(ctx, "acme", "hello", d.GetID(), nil)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "mallory", list[0].GetCreator().GetLogin())
	assert.Equal(t, "app-7[bot]", AppLogin(7))
}
