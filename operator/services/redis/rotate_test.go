package redis

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator/services"
)

// A rotation with no failed login: the new password works beside the old
// one while pods move to it (Observe and Ensure keep both, a restarted
// Redis gets both back); once retired the old one fails, and the user is
// exactly what Ensure makes.
func TestProvisioner_RotateWithNoFailedLogin(t *testing.T) {
	p, r := setup(t)
	ctx := context.Background()
	inst := instance("rotate")
	old := ensure(t, p, inst, nil)
	var pod atomic.Pointer[services.Credentials] // the credentials the pods have
	pod.Store(&old)
	stop := testenv.KeepLoggingIn(t, func() error {
		opt, err := goredis.ParseURL(string((*pod.Load())[KeyURL]))
		if err != nil {
			return err
		}
		opt.MaxRetries = -1
		c := goredis.NewClient(opt)
		defer c.Close()
		return c.Ping(context.Background()).Err()
	})

	next, err := p.Rotate(ctx, inst, old)
	require.NoError(t, err)
	assert.NotEqual(t, string(old[KeyPassword]), string(next[KeyPassword]))
	assert.Equal(t, old[KeyUser], next[KeyUser])
	during := inst
	during.Previous = old
	seen, err := p.Observe(ctx, during, next)
	require.NoError(t, err)
	assert.True(t, seen, "mid-rotation, both passwords are what is wanted")
	seen, err = p.Observe(ctx, inst, next)
	require.NoError(t, err)
	assert.False(t, seen, "without the rotation, a second password is drift")
	again, err := p.Ensure(ctx, during, next)
	require.NoError(t, err)
	assert.Equal(t, next, again, "Ensure mid-rotation keeps the new credentials")
	assert.NoError(t, appClient(t, old).Ping(ctx).Err(), "and the old password")

	time.Sleep(50 * time.Millisecond)
	pod.Store(&next) // the pods restart with the new Secret
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, p.Retire(ctx, inst, next, old))
	time.Sleep(50 * time.Millisecond)
	ok, failed := stop()
	assert.Zero(t, failed, "no failed login during the rotation")
	assert.Greater(t, ok, int64(10))

	assert.ErrorContains(t, appClient(t, old).Ping(ctx).Err(), "WRONGPASS", "the old password is retired")
	assert.NoError(t, appClient(t, next).Ping(ctx).Err())
	seen, err = p.Observe(ctx, inst, next)
	require.NoError(t, err)
	assert.True(t, seen, "after it, the user is exactly what Ensure makes")

	// Redis forgets its users mid-rotation (a restart without an ACL file):
	// Ensure gives both passwords back.
	third, err := p.Rotate(ctx, inst, next)
	require.NoError(t, err)
	require.NoError(t, r.Client(t).Do(ctx, "ACL", "DELUSER", User(inst.Env, inst.App)).Err())
	during.Previous = next
	_, err = p.Ensure(ctx, during, third)
	require.NoError(t, err)
	assert.NoError(t, appClient(t, next).Ping(ctx).Err(), "the previous password is back")
	assert.NoError(t, appClient(t, third).Ping(ctx).Err())
}
