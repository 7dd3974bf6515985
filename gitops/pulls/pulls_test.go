package pulls

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakegithub"
)

func newClient(t *testing.T, s *fakegithub.Server, token string) (*Client, *[]time.Duration) {
	t.Helper()
	c, err := New(token, "acme/env", WithBaseURL(s.BaseURL()))
	require.NoError(t, err)
	var slept []time.Duration
	// Waits are real (go-github itself refuses to call before a Retry-After has
	// passed) and recorded.
	c.sleep = func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return sleepCtx(ctx, d) }
	return c, &slept
}

func spec(body string) Spec {
	return Spec{Head: "plattr/promote-uat-hello", Base: "main", Title: "Promote hello to uat", Body: body, Labels: []string{"plattr/promotion", "env/uat"}}
}

func TestClient_EnsureIsIdempotent(t *testing.T) {
	s := fakegithub.New("tok")
	defer s.Close()
	c, _ := newClient(t, s, "tok")
	ctx := context.Background()
	pr, created, err := c.Ensure(ctx, spec("first"))
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, "https://github.com/acme/env/pull/1", pr.URL)

	pr, created, err = c.Ensure(ctx, spec("second"))
	require.NoError(t, err)
	assert.False(t, created, "found by its head branch")
	assert.Equal(t, 1, pr.Number)
	prs := s.PRs("acme/env")
	require.Len(t, prs, 1, "never a duplicate")
	assert.Equal(t, "second", prs[0].Body, "the body follows the change")
	assert.Equal(t, []string{"env/uat", "plattr/promotion"}, prs[0].Labels)

	// Nothing changed: no write at all.
	before := s.Requests()
	_, _, err = c.Ensure(ctx, spec("second"))
	require.NoError(t, err)
	assert.Equal(t, before+1, s.Requests(), "one read, no write")
}

func TestClient_AlreadyExistsResolvesToTheExistingPR(t *testing.T) {
	s := fakegithub.New("tok")
	defer s.Close()
	c, _ := newClient(t, s, "tok")
	ctx := context.Background()
	_, _, err := c.Ensure(ctx, spec("one"))
	require.NoError(t, err)
	s.HideFromNextList() // the listing misses it: the create gets 422 "already exists"
	pr, created, err := c.Ensure(ctx, spec("two"))
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, 1, pr.Number)
	assert.Len(t, s.PRs("acme/env"), 1)
	assert.Equal(t, "two", s.PRs("acme/env")[0].Body)
}

func TestClient_RetriesRateLimitsAndServerErrors(t *testing.T) {
	s := fakegithub.New("tok")
	defer s.Close()
	c, slept := newClient(t, s, "tok")
	s.FailNext(2, http.StatusForbidden, "1")
	s.FailNext(1, http.StatusInternalServerError, "")
	pr, _, err := c.Ensure(context.Background(), spec("x"))
	require.NoError(t, err)
	assert.Equal(t, 1, pr.Number)
	require.Len(t, *slept, 3)
	assert.InDelta(t, time.Second, (*slept)[0], float64(100*time.Millisecond), "Retry-After is honoured")
	assert.Equal(t, 500*time.Millisecond, (*slept)[2], "5xx backs off")

	s.FailNext(10, http.StatusBadGateway, "")
	c.attempts = 3
	_, err = c.Get(context.Background(), 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gave up after 3 attempts")
}

func TestClient_TokenNeverInErrors(t *testing.T) {
	s := fakegithub.New("right-token")
	defer s.Close()
	c, _ := newClient(t, s, "wrong-s3cret-token")
	_, _, err := c.Ensure(context.Background(), spec("x"))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "wrong-s3cret-token")
	assert.Contains(t, err.Error(), "401 Bad credentials")
	assert.Contains(t, err.Error(), "GITHUB_TOKEN")

	big := spec(strings.Repeat("a", fakegithub.MaxBody+1))
	c, _ = newClient(t, s, "right-token")
	_, _, err = c.Ensure(context.Background(), big)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "body is too long")
	assert.NotContains(t, err.Error(), "right-token")
}

func TestNew_Validates(t *testing.T) {
	_, err := New("t", "no-slash")
	assert.ErrorContains(t, err, "must be owner/name")
	_, err = New("", "a/b")
	assert.ErrorContains(t, err, "GITHUB_TOKEN")
}

// Open lists the open pull requests with a label, with their branches; a
// commit status is written once, and again only when it changes.
func TestClient_OpenAndSetStatus(t *testing.T) {
	s := fakegithub.New("tok")
	defer s.Close()
	c, _ := newClient(t, s, "tok")
	ctx := context.Background()
	_, _, err := c.Ensure(ctx, spec("first"))
	require.NoError(t, err)
	other := spec("rollback")
	other.Head, other.Labels = "plattr/rollback-prod-hello", []string{"plattr/rollback"}
	_, _, err = c.Ensure(ctx, other)
	require.NoError(t, err)
	third := spec("closed")
	third.Head = "plattr/promote-prod-hello"
	closed, _, err := c.Ensure(ctx, third)
	require.NoError(t, err)
	s.ClosePR("acme/env", closed.Number)

	open, err := c.Open(ctx, "main", "plattr/promotion")
	require.NoError(t, err)
	require.Len(t, open, 1)
	assert.Equal(t, 1, open[0].Number)
	assert.Equal(t, "plattr/promote-uat-hello", open[0].Head)

	sha := strings.Repeat("ab", 20)
	st := Status{Context: "plattr/promotion", State: "pending", Description: "soak: 5s left", TargetURL: "https://github.com/acme/env/pull/1"}
	require.NoError(t, c.SetStatus(ctx, sha, st))
	writes := s.Writes()
	require.NoError(t, c.SetStatus(ctx, sha, st))
	assert.Equal(t, writes, s.Writes(), "the same status again writes nothing")
	st.State, st.Description = "success", "every gate holds"
	require.NoError(t, c.SetStatus(ctx, sha, st))
	got := s.CommitStatuses("acme/env", sha)
	require.Len(t, got, 2)
	assert.Equal(t, "success", got[len(got)-1].State)

	st.State = "sunny"
	assert.ErrorContains(t, c.SetStatus(ctx, sha, st), "422")
}

// One comment per marker: made once, edited when its body changes, left
// alone when it does not; another comment is not touched.
func TestClient_UpsertComment(t *testing.T) {
	s := fakegithub.New("tok")
	defer s.Close()
	c, _ := newClient(t, s, "tok")
	ctx := context.Background()
	pr, _, err := c.Ensure(ctx, spec("body"))
	require.NoError(t, err)
	got, err := c.Get(ctx, pr.Number)
	require.NoError(t, err)
	assert.Equal(t, "plattr/promote-uat-hello", got.Head)
	assert.Equal(t, "main", got.Base)
	assert.ElementsMatch(t, []string{"plattr/promotion", "env/uat"}, got.Labels)
	assert.False(t, got.Fork, "its branch is in acme/env")

	_, err = c.UpsertComment(ctx, pr.Number, "<!-- other -->", "<!-- other -->\nsomeone's")
	require.NoError(t, err)
	for i, body := range []string{"<!-- m -->\nfirst push", "<!-- m -->\nsecond push", "<!-- m -->\nsecond push", "<!-- m -->\nthird push"} {
		made, err := c.UpsertComment(ctx, pr.Number, "<!-- m -->", body)
		require.NoError(t, err)
		assert.Equal(t, i == 0, made, body)
	}
	comments := s.PRs("acme/env")[0].Comments
	require.Len(t, comments, 2, "one comment of its own after three pushes")
	assert.Equal(t, "<!-- other -->\nsomeone's", comments[0].Body)
	assert.Equal(t, "<!-- m -->\nthird push", comments[1].Body)
	_, err = c.UpsertComment(ctx, pr.Number, "<!-- m -->", "no marker")
	assert.Error(t, err)
}
