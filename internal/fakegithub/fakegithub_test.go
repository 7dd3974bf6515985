package fakegithub

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func client(t *testing.T, s *Server, token string) *github.Client {
	t.Helper()
	gh, err := github.NewClient(nil).WithAuthToken(token).WithEnterpriseURLs(s.BaseURL(), s.BaseURL())
	require.NoError(t, err)
	return gh
}

func newPR(head string) *github.NewPullRequest {
	return &github.NewPullRequest{Title: github.String("t " + head), Head: github.String(head), Base: github.String("main"), Body: github.String("b")}
}

func TestServer_PullRequests(t *testing.T) {
	s := New("tok")
	defer s.Close()
	gh := client(t, s, "tok")
	ctx := context.Background()

	p, resp, err := gh.PullRequests.Create(ctx, "acme", "env", newPR("plattr/promote-uat-hello"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, 1, p.GetNumber())
	assert.Equal(t, "https://github.com/acme/env/pull/1", p.GetHTMLURL())

	_, resp, err = gh.PullRequests.Create(ctx, "acme", "env", newPR("plattr/promote-uat-hello"))
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	var er *github.ErrorResponse
	require.True(t, errors.As(err, &er))
	assert.Equal(t, "A pull request already exists for acme:plattr/promote-uat-hello.", er.Errors[0].Message)

	list, _, err := gh.PullRequests.List(ctx, "acme", "env", &github.PullRequestListOptions{State: "open", Head: "acme:plattr/promote-uat-hello"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	list, _, err = gh.PullRequests.List(ctx, "acme", "env", &github.PullRequestListOptions{State: "open", Head: "acme:other"})
	require.NoError(t, err)
	assert.Empty(t, list)

	_, _, err = gh.PullRequests.Edit(ctx, "acme", "env", 1, &github.PullRequest{Body: github.String("new body")})
	require.NoError(t, err)
	labels, _, err := gh.Issues.AddLabelsToIssue(ctx, "acme", "env", 1, []string{"plattr/promotion", "env/uat"})
	require.NoError(t, err)
	assert.Len(t, labels, 2)
	_, _, err = gh.Issues.CreateComment(ctx, "acme", "env", 1, &github.IssueComment{Body: github.String("deployed")})
	require.NoError(t, err)
	got := s.PRs("acme/env")[0]
	assert.Equal(t, "new body", got.Body)
	assert.Equal(t, []string{"env/uat", "plattr/promotion"}, got.Labels)
	require.Len(t, got.Comments, 1)
	assert.Equal(t, "deployed", got.Comments[0].Body)

	s.Merge("acme/env", 1)
	p, _, err = gh.PullRequests.Get(ctx, "acme", "env", 1)
	require.NoError(t, err)
	assert.Equal(t, "closed", p.GetState())
	assert.True(t, p.GetMerged())
	_, resp, err = gh.PullRequests.Get(ctx, "acme", "env", 9)
	require.Error(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	// Once merged, the same head can have a new pull request.
	p, _, err = gh.PullRequests.Create(ctx, "acme", "env", newPR("plattr/promote-uat-hello"))
	require.NoError(t, err)
	assert.Equal(t, 2, p.GetNumber())
}

func TestServer_Errors(t *testing.T) {
	s := New("tok")
	defer s.Close()
	ctx := context.Background()
	_, resp, err := client(t, s, "wrong").PullRequests.List(ctx, "acme", "env", nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, err.Error(), "Bad credentials")

	gh := client(t, s, "tok")
	big := newPR("x")
	big.Body = github.String(strings.Repeat("a", MaxBody+1))
	_, resp, err = gh.PullRequests.Create(ctx, "acme", "env", big)
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, err.Error(), "body is too long")

	s.FailNext(1, http.StatusForbidden, "7")
	_, _, err = gh.PullRequests.List(ctx, "acme", "env", nil)
	var abuse *github.AbuseRateLimitError
	require.True(t, errors.As(err, &abuse), "go-github sees a secondary rate limit: %v", err)
	assert.Equal(t, 7*time.Second, abuse.GetRetryAfter())
	gh = client(t, s, "tok") // go-github now refuses to call for 7 s: a new client

	s.FailNext(1, http.StatusBadGateway, "")
	_, resp, err = gh.PullRequests.List(ctx, "acme", "env", nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	_, _, err = gh.PullRequests.List(ctx, "acme", "env", nil)
	assert.NoError(t, err, "faults are used up")

	s.OpenPR("acme/env", "feature", "a feature")
	s.HideFromNextList()
	list, _, err := gh.PullRequests.List(ctx, "acme", "env", nil)
	require.NoError(t, err)
	assert.Empty(t, list, "hidden once")
	list, _, err = gh.PullRequests.List(ctx, "acme", "env", nil)
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

// Comments are listed oldest first, edited by ID, and refused over GitHub's
// size limit, as GitHub's issue comments are.
func TestServer_Comments(t *testing.T) {
	s := New("tok")
	defer s.Close()
	n := s.OpenPR("acme/env", "feature", "A change")
	gh := client(t, s, "tok")
	ctx := context.Background()
	first, resp, err := gh.Issues.CreateComment(ctx, "acme", "env", n, &github.IssueComment{Body: github.String("one")})
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, DefaultLogin, first.GetUser().GetLogin())
	_, _, err = gh.Issues.CreateComment(ctx, "acme", "env", n, &github.IssueComment{Body: github.String("two")})
	require.NoError(t, err)
	list, _, err := gh.Issues.ListComments(ctx, "acme", "env", n, nil)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "one", list[0].GetBody())
	_, _, err = gh.Issues.EditComment(ctx, "acme", "env", first.GetID(), &github.IssueComment{Body: github.String("one, edited")})
	require.NoError(t, err)
	assert.Equal(t, "one, edited", s.PRs("acme/env")[0].Comments[0].Body)
	_, resp, err = gh.Issues.CreateComment(ctx, "acme", "env", n, &github.IssueComment{Body: github.String(strings.Repeat("x", MaxBody+1))})
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	_, resp, err = gh.Issues.EditComment(ctx, "acme", "env", 999999, &github.IssueComment{Body: github.String("x")})
	require.Error(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}
