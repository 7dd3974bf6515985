package redis

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
)

// TestProvisioner_Watch restarts Redis (it forgets every ACL user): Watch calls
// lost once, not on its first read nor while the server is down, and the app's
// user is then found missing and restored with the app's password.
func TestProvisioner_Watch(t *testing.T) {
	r := testenv.StartPrivateRedis(t)
	p, err := New(r.AdminURL, WithWatchInterval(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	ctx := context.Background()
	inst := instance("watched")
	creds := ensure(t, p, inst, nil)

	var lost atomic.Int32
	lostAt := make(chan time.Time, 10)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		p.Watch(wctx, func() { lost.Add(1); lostAt <- time.Now() })
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })

	admin := r.Client(t)
	waitUntil(t, "the watcher's first read", func() bool {
		return strings.Contains(admin.ClientList(ctx).Val(), "cmd=info")
	})
	assert.Zero(t, lost.Load(), "the first read is no loss")

	began := time.Now()
	r.Restart(t) // returns once the new server answers
	up := time.Now()
	select {
	case at := <-lostAt:
		t.Logf("restart took %v; lost called %v after it began (interval 100ms)",
			up.Sub(began).Round(time.Millisecond), at.Sub(began).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("lost was not called after a restart")
	}
	time.Sleep(time.Second) // ten more reads of the same run id: room for a second, wrong call
	assert.Equal(t, int32(1), lost.Load(), "once per restart")

	ok, err := p.Observe(ctx, inst, creds)
	require.NoError(t, err)
	assert.False(t, ok, "the restarted server forgot the user")
	_, err = p.Ensure(ctx, inst, creds)
	require.NoError(t, err)
	ok, err = p.Observe(ctx, inst, creds)
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, appClient(t, creds).Set(ctx, "plattr:test-watched:k", "v", time.Minute).Err(), "the app's password works again")
}

// TestProvisioner_WatchNotConfigured returns when ctx ends.
func TestProvisioner_WatchNotConfigured(t *testing.T) {
	p, err := New("")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Watch(ctx, func() { t.Error("lost without a server") })
}

// TestProvisioner_WatchUnreachable: a server that does not answer is not lost
// (and the reads go on without it).
func TestProvisioner_WatchUnreachable(t *testing.T) {
	p, err := New("redis://127.0.0.1:1/0", WithWatchInterval(10*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	p.Watch(ctx, func() { t.Error("lost while the server never answered") })
}

// waitUntil polls cond; a minute without it is a failure, not a timing claim.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute", what)
		}
	}
}
