//go:build realservers

package keycloak

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/operator/services"
)

// TestRealServer runs the provisioner's life cycle against a real Keycloak, for
// machines that have one: go test -tags realservers ./operator/services/keycloak
// with PLATTR_REAL_KEYCLOAK_URL and PLATTR_REAL_KEYCLOAK_PASSWORD (admin of master).
func TestRealServer(t *testing.T) {
	url, pw := os.Getenv("PLATTR_REAL_KEYCLOAK_URL"), os.Getenv("PLATTR_REAL_KEYCLOAK_PASSWORD")
	if url == "" || pw == "" {
		t.Fatal("set PLATTR_REAL_KEYCLOAK_URL and PLATTR_REAL_KEYCLOAK_PASSWORD to run the realservers tests")
	}
	p := New(url, os.Getenv("PLATTR_REAL_KEYCLOAK_USER"), pw)
	ctx := context.Background()
	inst := instance("plattr-realservers-test", "/callback")
	t.Cleanup(func() { _ = p.Delete(ctx, inst) })
	creds, err := p.Ensure(ctx, inst, nil)
	require.NoError(t, err)
	ok, err := p.Observe(ctx, inst, creds)
	require.NoError(t, err)
	assert.True(t, ok)
	again, err := p.Ensure(ctx, inst, creds)
	require.NoError(t, err)
	assert.Equal(t, string(creds[KeySecret]), string(again[KeySecret]), "no duplicate client, same secret")
	changed := instance("plattr-realservers-test", "/other")
	ok, err = p.Observe(ctx, changed, creds)
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = p.Ensure(ctx, changed, creds)
	require.NoError(t, err)
	ok, err = p.Observe(ctx, changed, creds)
	require.NoError(t, err)
	assert.True(t, ok)

	// A hand edit that turns on direct access grants is found and put back.
	got, err := p.kc.FindClient(ctx, Realm(changed.Env), changed.App)
	require.NoError(t, err)
	got.DirectAccessGrantsEnabled = true
	require.NoError(t, p.kc.UpdateClient(ctx, Realm(changed.Env), *got))
	ok, err = p.Observe(ctx, changed, creds)
	require.NoError(t, err)
	assert.False(t, ok, "drift")
	_, err = p.Ensure(ctx, changed, creds)
	require.NoError(t, err)
	got, err = p.kc.FindClient(ctx, Realm(changed.Env), changed.App)
	require.NoError(t, err)
	assert.False(t, got.DirectAccessGrantsEnabled)

	loopback := changed
	loopback.Host = "localhost"
	_, err = p.Ensure(ctx, loopback, creds)
	assert.ErrorIs(t, err, services.ErrInvalid, "a loopback host outside development")

	// Rotation, on a Keycloak started with --features=client-secret-rotation
	// (without it: the error says so and nothing changed).
	current, err := p.Ensure(ctx, changed, creds)
	require.NoError(t, err)
	next, err := p.Rotate(ctx, changed, current)
	if err != nil {
		assert.ErrorContains(t, err, "--features=client-secret-rotation")
		ok, err = p.Observe(ctx, changed, current)
		require.NoError(t, err)
		assert.True(t, ok, "nothing changed")
	} else {
		rotated, err := p.kc.RotatedSecret(ctx, Realm(changed.Env), got.ID)
		require.NoError(t, err)
		assert.Equal(t, string(current[KeySecret]), rotated, "Keycloak keeps the previous secret")
		require.NoError(t, p.Retire(ctx, changed, next, current))
		rotated, err = p.kc.RotatedSecret(ctx, Realm(changed.Env), got.ID)
		require.NoError(t, err)
		assert.Empty(t, rotated)
	}

	require.NoError(t, p.Delete(ctx, changed))
	require.NoError(t, p.Delete(ctx, changed), "already gone")
}
