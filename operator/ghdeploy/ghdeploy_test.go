package ghdeploy

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakegithub"
)

var release = Release{Repo: "acme/shop", Commit: strings.Repeat("a", 40), Environment: "staging", App: "shop",
	Image: "r.example.com/shop@sha256:" + strings.Repeat("1", 64), URL: "https://shop.staging.example.com"}

// The same release recorded twice (an operator that died before writing its
// status) is one deployment with two statuses.
func TestCreate_TakesTheSameRelease(t *testing.T) {
	gh := fakegithub.New("tok")
	defer gh.Close()
	c, err := New("tok", gh.BaseURL())
	require.NoError(t, err)
	ctx := context.Background()
	id, err := c.Create(ctx, release, StateInProgress)
	require.NoError(t, err)
	again, err := c.Create(ctx, release, StateSuccess)
	require.NoError(t, err)
	assert.Equal(t, id, again)
	ds := gh.Deployments("acme/shop")
	require.Len(t, ds, 1)
	assert.Equal(t, StateSuccess, ds[0].State())

	other := release
	other.Image = strings.Replace(release.Image, "1111", "2222", 1)
	third, err := c.Create(ctx, other, StateInProgress)
	require.NoError(t, err)
	assert.NotEqual(t, id, third, "another image of the same commit is another release")

	bad, err := New("wrong", gh.BaseURL())
	require.NoError(t, err)
	_, err = bad.Create(ctx, release, StateSuccess)
	assert.ErrorContains(t, err, "GitHub answered 401: Bad credentials")
	assert.NotContains(t, err.Error(), "wrong")
}

func appKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// As a GitHub App: a JWT finds the installation on the app's repository and
// makes its token, used (and kept) for the calls; a repository the app is not
// installed on, or another app's key, is refused with GitHub's answer.
func TestNewApp(t *testing.T) {
	gh := fakegithub.New("static-token-unused")
	defer gh.Close()
	key, keyPEM := appKey(t)
	gh.AddApp(42, &key.PublicKey)
	gh.Install(42, "acme/shop")
	parsed, err := ParsePrivateKey(keyPEM)
	require.NoError(t, err)
	c, err := NewApp(42, parsed, gh.BaseURL())
	require.NoError(t, err)
	ctx := context.Background()
	id, err := c.Create(ctx, release, StateInProgress)
	require.NoError(t, err)
	require.NoError(t, c.SetState(ctx, release.Repo, id, StateSuccess, release.URL))
	assert.Equal(t, StateSuccess, gh.Deployments("acme/shop")[0].State())
	assert.Equal(t, 1, gh.InstallationTokens(), "one token, kept for the calls after")

	elsewhere := release
	elsewhere.Repo = "acme/other"
	_, err = c.Create(ctx, elsewhere, StateInProgress)
	assert.ErrorContains(t, err, "find the GitHub App 42's installation on acme/other: GitHub answered 404")

	other, _ := appKey(t)
	impostor, err := NewApp(42, other, gh.BaseURL())
	require.NoError(t, err)
	_, err = impostor.Create(ctx, release, StateInProgress)
	assert.ErrorContains(t, err, "GitHub answered 401: A JSON web token could not be decoded")

	_, err = ParsePrivateKey([]byte("not a key"))
	assert.ErrorContains(t, err, "not PEM")
}

// A state the deployment has already is not written again: a reconcile that
// read a stale status before its own last write took effect.
func TestSetState_SameStateWritesNothing(t *testing.T) {
	gh := fakegithub.New("tok")
	defer gh.Close()
	c, err := New("tok", gh.BaseURL())
	require.NoError(t, err)
	ctx := context.Background()
	id, err := c.Create(ctx, release, StateInProgress)
	require.NoError(t, err)
	require.NoError(t, c.SetState(ctx, release.Repo, id, StateSuccess, release.URL))
	writes := gh.Writes()
	require.NoError(t, c.SetState(ctx, release.Repo, id, StateSuccess, release.URL))
	_, err = c.Create(ctx, release, StateSuccess)
	require.NoError(t, err)
	assert.Equal(t, writes, gh.Writes())
	require.Len(t, gh.Deployments(release.Repo), 1)
	assert.Len(t, gh.Deployments(release.Repo)[0].Statuses, 2, "in_progress, success")
	require.NoError(t, c.SetState(ctx, release.Repo, id, StateSuccess, "https://elsewhere.example.com"))
	assert.Len(t, gh.Deployments(release.Repo)[0].Statuses, 3, "another URL is news")
}
