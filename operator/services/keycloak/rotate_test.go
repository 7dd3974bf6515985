package keycloak

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakekeycloak"
	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator/services"
)

// logIn is the app's login with creds: through the browser's redirect and the
// code exchange, which Keycloak authenticates by the client secret.
func logIn(creds services.Credentials) error {
	return fakekeycloak.LogIn(context.Background(), string(creds[KeyIssuer]), string(creds[KeyClientID]), string(creds[KeySecret]),
		"https://shop.staging.example.com"+DefaultRedirectPath)
}

// A rotation with no failed login: Keycloak keeps the previous secret valid as
// the rotated secret while the pods move; retired, it is refused.
func TestProvisioner_RotateWithNoFailedLogin(t *testing.T) {
	p, s := setup(t)
	s.SetFeature(fakekeycloak.FeatureSecretRotation, true)
	ctx := context.Background()
	inst := instance("shop")
	old, err := p.Ensure(ctx, inst, nil)
	require.NoError(t, err)
	var pod atomic.Pointer[services.Credentials] // the credentials the pods have
	pod.Store(&old)
	stop := testenv.KeepLoggingIn(t, func() error { return logIn(*pod.Load()) })

	next, err := p.Rotate(ctx, inst, old)
	require.NoError(t, err)
	assert.NotEqual(t, string(old[KeySecret]), string(next[KeySecret]))
	assert.Equal(t, old[KeyClientID], next[KeyClientID], "the same client")
	during := inst
	during.Previous = old
	seen, err := p.Observe(ctx, during, next)
	require.NoError(t, err)
	assert.True(t, seen, "mid-rotation, the new secret is the client's")
	again, err := p.Rotate(ctx, during, old)
	require.NoError(t, err)
	assert.Equal(t, next, again, "run again after a crash: the rotation done is found, not repeated")

	time.Sleep(50 * time.Millisecond)
	pod.Store(&next)
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, p.Retire(ctx, inst, next, old))
	require.NoError(t, p.Retire(ctx, inst, next, old), "retired twice is fine")
	time.Sleep(50 * time.Millisecond)
	ok, failed := stop()
	assert.Zero(t, failed, "no failed login during the rotation")
	assert.Greater(t, ok, int64(10))

	assert.ErrorContains(t, logIn(old), "401 unauthorized_client", "the previous secret is refused")
	require.NoError(t, logIn(next))
	seen, err = p.Observe(ctx, inst, next)
	require.NoError(t, err)
	assert.True(t, seen)

	// The policy is Plattr's, once; a realm's other policies stay.
	profiles, err := p.kc.ClientProfiles(ctx, "plattr-staging")
	require.NoError(t, err)
	require.Len(t, profiles, 1)
	assert.Equal(t, RotationPolicy, profiles[0].Name)
	third, err := p.Rotate(ctx, inst, next)
	require.NoError(t, err)
	require.NoError(t, p.Retire(ctx, inst, third, next))
	profiles, _ = p.kc.ClientProfiles(ctx, "plattr-staging")
	assert.Len(t, profiles, 1)
}

// Without Keycloak's client-secret-rotation feature the policy cannot exist:
// nothing is rotated, the app's secret keeps working, and the error says what
// to turn on.
func TestProvisioner_RotateWithoutTheFeature(t *testing.T) {
	p, _ := setup(t)
	ctx := context.Background()
	inst := instance("shop")
	old, err := p.Ensure(ctx, inst, nil)
	require.NoError(t, err)
	_, err = p.Rotate(ctx, inst, old)
	require.Error(t, err)
	assert.ErrorContains(t, err, "--features=client-secret-rotation")
	assert.True(t, errors.Is(err, services.ErrInvalid))
	assert.NotContains(t, err.Error(), string(old[KeySecret]))
	require.NoError(t, logIn(old), "the secret is the one the app has")
	seen, err := p.Observe(ctx, inst, old)
	require.NoError(t, err)
	assert.True(t, seen)
}

// A Keycloak restarted without the feature keeps Plattr's profile but drops
// the previous secret on regeneration: Plattr puts it back at once and says
// so; the app's secret works again.
func TestProvisioner_RotateWhenKeycloakDropsThePrevious(t *testing.T) {
	p, s := setup(t)
	s.SetFeature(fakekeycloak.FeatureSecretRotation, true)
	ctx := context.Background()
	inst := instance("shop")
	old, err := p.Ensure(ctx, inst, nil)
	require.NoError(t, err)
	require.NoError(t, p.ensureRotationPolicy(ctx, Realm("staging")))
	s.SetFeature(fakekeycloak.FeatureSecretRotation, false)
	_, err = p.Rotate(ctx, inst, old)
	require.Error(t, err)
	assert.ErrorContains(t, err, "the previous secret was put back")
	assert.True(t, errors.Is(err, services.ErrInvalid))
	require.NoError(t, logIn(old))
	seen, err := p.Observe(ctx, inst, old)
	require.NoError(t, err)
	assert.True(t, seen, "the app's Secret is right again")
}
