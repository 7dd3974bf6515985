package ghdeploy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakegithub"
)

// What the operator recorded reads back as the release's history in that
// environment; another image of the same commit, or another environment, has
// none.
func TestHistory_ReadsBackWhatWasRecorded(t *testing.T) {
	gh := fakegithub.New("tok")
	defer gh.Close()
	c, err := New("tok", gh.BaseURL())
	require.NoError(t, err)
	ctx := context.Background()
	h, err := c.History(ctx, release.Repo, release.Commit, release.Environment, release.App, release.Image, "")
	require.NoError(t, err)
	assert.Zero(t, h, "nothing recorded yet")

	id, err := c.Create(ctx, release, StateInProgress)
	require.NoError(t, err)
	h, err = c.History(ctx, release.Repo, release.Commit, release.Environment, release.App, release.Image, "")
	require.NoError(t, err)
	assert.Equal(t, id, h.Deployment)
	assert.True(t, h.Since.IsZero(), "rolling out: not healthy yet")

	require.NoError(t, c.SetState(ctx, release.Repo, id, StateSuccess, release.URL))
	h, err = c.History(ctx, release.Repo, release.Commit, release.Environment, release.App, release.Image, "")
	require.NoError(t, err)
	assert.Equal(t, StateSuccess, h.State)
	assert.Equal(t, release.URL, h.URL)
	assert.WithinDuration(t, time.Now(), h.Since, time.Minute)
	assert.True(t, h.Until.IsZero())
	gh.Backdate(release.Repo, time.Hour)
	h, err = c.History(ctx, release.Repo, release.Commit, release.Environment, release.App, release.Image, "")
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(-time.Hour), h.Since, time.Minute, "the fake's backdating reads back")

	other := release
	other.Image = strings.Replace(release.Image, "1111", "2222", 1)
	h, err = c.History(ctx, other.Repo, other.Commit, other.Environment, other.App, other.Image, "")
	require.NoError(t, err)
	assert.Zero(t, h, "another image of the same commit")
	h, err = c.History(ctx, release.Repo, release.Commit, "prod", release.App, release.Image, "")
	require.NoError(t, err)
	assert.Zero(t, h, "another environment")

	_, err = c.History(ctx, "acme/../x", release.Commit, "prod", release.App, release.Image, "")
	assert.Error(t, err)
	bad, err := New("wrong", gh.BaseURL())
	require.NoError(t, err)
	_, err = bad.History(ctx, release.Repo, release.Commit, release.Environment, release.App, release.Image, "")
	assert.ErrorContains(t, err, "GitHub answered 401")
}

// With a deployer, what others created is no evidence: a developer who may
// write the app's repository forges a deployment, or a success on the real
// one.
func TestHistory_OnlyTheDeployer(t *testing.T) {
	gh := fakegithub.New("tok")
	defer gh.Close()
	gh.AddUser("dev-token", "mallory")
	ctx := context.Background()
	dev, err := New("dev-token", gh.BaseURL())
	require.NoError(t, err)
	forged, err := dev.Create(ctx, release, StateSuccess)
	require.NoError(t, err)
	h, err := dev.History(ctx, release.Repo, release.Commit, release.Environment, release.App, release.Image, fakegithub.DefaultLogin)
	require.NoError(t, err)
	assert.Zero(t, h, "the forged deployment is not the operator's")
	h, err = dev.History(ctx, release.Repo, release.Commit, release.Environment, release.App, release.Image, "")
	require.NoError(t, err)
	assert.Equal(t, forged, h.Deployment, "without a deployer it would have counted")

	op, err := New("tok", gh.BaseURL())
	require.NoError(t, err)
	require.NoError(t, gh.DeleteAllDeployments(release.Repo))
	id, err := op.Create(ctx, release, StateInProgress)
	require.NoError(t, err)
	require.NoError(t, dev.SetState(ctx, release.Repo, id, StateSuccess, release.URL))
	h, err = op.History(ctx, release.Repo, release.Commit, release.Environment, release.App, release.Image, fakegithub.DefaultLogin)
	require.NoError(t, err)
	assert.Equal(t, id, h.Deployment)
	assert.True(t, h.Since.IsZero(), "a success someone else set on the operator's deployment does not count")
	assert.Equal(t, StateInProgress, h.State)
}

// A healthy run is counted from the success that follows a rollout or a
// failure, and ends at a failure or when the release is replaced.
func TestReplay(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at := func(min int, state string) *github.DeploymentStatus {
		return &github.DeploymentStatus{State: github.String(state), CreatedAt: &github.Timestamp{Time: t0.Add(time.Duration(min) * time.Minute)}}
	}
	for _, tc := range []struct {
		name         string
		statuses     []*github.DeploymentStatus
		since, until int // minutes; -1: zero
		state        string
	}{
		{"rolling out", []*github.DeploymentStatus{at(0, StateInProgress)}, -1, -1, StateInProgress},
		{"healthy", []*github.DeploymentStatus{at(0, StateInProgress), at(2, StateSuccess)}, 2, -1, StateSuccess},
		{"success again keeps the start", []*github.DeploymentStatus{at(2, StateSuccess), at(30, StateSuccess)}, 2, -1, StateSuccess},
		{"failed", []*github.DeploymentStatus{at(2, StateSuccess), at(10, StateFailure)}, 2, 10, StateFailure},
		{"recovered", []*github.DeploymentStatus{at(2, StateSuccess), at(10, StateFailure), at(15, StateSuccess)}, 15, -1, StateSuccess},
		{"replaced", []*github.DeploymentStatus{at(2, StateSuccess), at(60, StateInactive)}, 2, 60, StateInactive},
		{"never healthy", []*github.DeploymentStatus{at(0, StateInProgress), at(5, StateFailure)}, -1, -1, StateFailure},
		{"failed, then replaced", []*github.DeploymentStatus{at(2, StateSuccess), at(10, StateFailure), at(12, StateInactive)}, 2, 10, StateInactive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := replay(7, tc.statuses)
			want := func(m int) time.Time {
				if m < 0 {
					return time.Time{}
				}
				return t0.Add(time.Duration(m) * time.Minute)
			}
			assert.Equal(t, want(tc.since), h.Since)
			assert.Equal(t, want(tc.until), h.Until)
			assert.Equal(t, tc.state, h.State)
			assert.Equal(t, strings.Contains(tc.name, "failed") || tc.name == "never healthy", h.Failed, "failed is kept after a later inactive")
		})
	}
}
