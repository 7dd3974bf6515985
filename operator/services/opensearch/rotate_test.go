package opensearch

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator/services"
)

// A rotation with no failed request: the next credentials are the app's
// other internal user, mapped to the app's role beside the current one while
// pods move; retired, the old user is gone and its requests are refused.
func TestProvisioner_RotateWithNoFailedLogin(t *testing.T) {
	p, s := setup(t)
	ctx := context.Background()
	inst := instance("shop")
	old, err := p.Ensure(ctx, inst, nil)
	require.NoError(t, err)
	var pod atomic.Pointer[services.Credentials] // the credentials the pods have
	pod.Store(&old)
	stop := testenv.KeepLoggingIn(t, func() error {
		code, err := indexDoc(appClient(t, *pod.Load()), "staging.shop.products")
		if err == nil && code != http.StatusCreated {
			err = fmt.Errorf("status %d", code)
		}
		return err
	})

	next, err := p.Rotate(ctx, inst, old)
	require.NoError(t, err)
	assert.Equal(t, "staging.shop.b", string(next[KeyUser]), "the other user")
	assert.True(t, s.Has("internalusers", "staging.shop") && s.Has("internalusers", "staging.shop.b"), "both users meanwhile")
	during := inst
	during.Previous = old
	seen, err := p.Observe(ctx, during, next)
	require.NoError(t, err)
	assert.True(t, seen, "mid-rotation, both users mapped is what is wanted")
	again, err := p.Ensure(ctx, during, next)
	require.NoError(t, err)
	assert.Equal(t, next, again)

	time.Sleep(50 * time.Millisecond)
	pod.Store(&next)
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, p.Retire(ctx, inst, next, old))
	time.Sleep(50 * time.Millisecond)
	ok, failed := stop()
	assert.Zero(t, failed, "no failed request during the rotation")
	assert.Greater(t, ok, int64(10))

	code, _ := indexDoc(appClient(t, old), "staging.shop.products")
	assert.Equal(t, http.StatusUnauthorized, code, "the previous user is gone")
	assert.False(t, s.Has("internalusers", "staging.shop"))
	seen, err = p.Observe(ctx, inst, next)
	require.NoError(t, err)
	assert.True(t, seen, "after it, exactly what Ensure makes")

	// And back: the next rotation returns to the first user, with a new password.
	third, err := p.Rotate(ctx, inst, next)
	require.NoError(t, err)
	assert.Equal(t, "staging.shop", string(third[KeyUser]))
	assert.NotEqual(t, string(old[KeyPassword]), string(third[KeyPassword]))
	require.NoError(t, p.Retire(ctx, inst, third, next))
	require.NoError(t, p.Delete(ctx, inst))
	assert.False(t, s.Has("internalusers", "staging.shop"))
	assert.False(t, s.Has("internalusers", "staging.shop.b"))
}
