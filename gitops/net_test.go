package gitops

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/internal/gittest"
)

// prompt bounds how long a cut request may take to fail: far below the limits'
// defaults (30 s, 2 min), far above the tiny limits the tests set.
const prompt = 10 * time.Second

func isUploadPack(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack")
}

func isReceivePack(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack")
}

func isRefs(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/info/refs") }

// A server that stalls, at any point of a fetch or a push, fails the operation
// after the idle limit with an error saying so; nothing is pushed.
func TestRepo_IdleTimeout(t *testing.T) {
	cases := map[string]struct {
		reason string
		stall  func(*http.Request) bool
		after  int
		push   bool
	}{
		"never answers":     {"accepts the request, sends nothing", isRefs, 0, false},
		"stops in the pack": {"sends the start of the pack, then nothing", isUploadPack, 64, false},
		"push never ends":   {"takes the pack, never reports", isReceivePack, 0, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			repo := initRepo(t, filepath.Join(root, "env.git"))
			before := gittest.Git(t, repo, "rev-parse", "main")
			srv, _ := gittest.ServeStalling(t, root, tc.stall, tc.after)
			start := time.Now()
			r, err := Open(context.Background(), srv.URL+"/env.git", generator.Validate, WithAllowHTTP(), WithTimeouts(5*time.Second, 200*time.Millisecond))
			if tc.push {
				require.NoError(t, err)
				_, err = r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/x@"+digest), ApplyOptions{})
			}
			require.Error(t, err, tc.reason)
			assert.ErrorIs(t, err, ErrIdleTimeout)
			assert.Contains(t, err.Error(), "no data moved to or from the server for 200ms")
			assert.Less(t, time.Since(start), prompt)
			assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"), "nothing was pushed")
		})
	}
}

// A pre-receive hook that takes longer than the idle limit (the server sends
// nothing meanwhile) cuts the push.
func TestRepo_IdleTimeoutSlowHook(t *testing.T) {
	root := t.TempDir()
	repo := initRepo(t, filepath.Join(root, "env.git"))
	before := gittest.Git(t, repo, "rev-parse", "main")
	release := filepath.Join(t.TempDir(), "release")
	gittest.Hook(t, repo, "pre-receive", "#!/bin/sh\nwhile [ ! -e "+release+" ]; do sleep 0.05; done\nexit 1\n")
	srv := gittest.Serve(t, root, "", "")
	t.Cleanup(func() { _ = os.WriteFile(release, nil, 0o644) }) // before the server closes
	r, err := Open(context.Background(), srv.URL+"/env.git", generator.Validate, WithAllowHTTP(), WithTimeouts(5*time.Second, 300*time.Millisecond))
	require.NoError(t, err)
	_, err = r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/x@"+digest), ApplyOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrIdleTimeout)
	assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"))
}

// A TLS handshake that never ends is a connection not made within the connect
// limit.
func TestRepo_ConnectTimeout(t *testing.T) {
	addr := gittest.SilentListener(t)
	start := time.Now()
	_, err := Open(context.Background(), "https://"+addr+"/env.git", generator.Validate, WithToken(secretToken), WithTimeouts(200*time.Millisecond, 5*time.Second))
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrConnectTimeout)
	assert.Contains(t, err.Error(), "no connection to the server within 200ms")
	assert.Less(t, time.Since(start), prompt)
	assertNoSecret(t, err.Error())
}

// The caller's context ends a stalled request at once, whatever the limits; the
// error is the context's, not a limit's.
func TestRepo_ContextEndsStalledRequest(t *testing.T) {
	root := t.TempDir()
	initRepo(t, filepath.Join(root, "env.git"))
	srv, stalled := gittest.ServeStalling(t, root, isRefs, 0)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stalled
		cancel()
	}()
	start := time.Now()
	_, err := Open(ctx, srv.URL+"/env.git", generator.Validate, WithAllowHTTP()) // default limits: 30 s and 2 min
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrIdleTimeout)
	assert.Less(t, time.Since(start), prompt)
}

// What the server says when it refuses a push (a pre-receive hook's "remote:"
// lines) is in the error, over HTTP and locally.
func TestRepo_PushRefusalShowsTheServersWords(t *testing.T) {
	for _, overHTTP := range []bool{true, false} {
		t.Run(map[bool]string{true: "http", false: "local"}[overHTTP], func(t *testing.T) {
			root := t.TempDir()
			repo := initRepo(t, filepath.Join(root, "env.git"))
			before := gittest.Git(t, repo, "rev-parse", "main")
			gittest.Hook(t, repo, "pre-receive", "#!/bin/sh\necho 'main is protected: open a pull request (ask #platform)' >&2\nprintf '\\033[31mred\\033[0m\\r\\n' >&2\nexit 1\n")
			location := repo
			if overHTTP {
				location = gittest.Serve(t, root, "", "").URL + "/env.git"
			}
			r, err := Open(context.Background(), location, generator.Validate, WithAllowHTTP())
			require.NoError(t, err)
			_, err = r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/x@"+digest), ApplyOptions{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "pre-receive hook declined")
			assert.Contains(t, err.Error(), "remote: main is protected: open a pull request (ask #platform)")
			assert.NotContains(t, err.Error(), "\x1b", "control characters from the server are dropped")
			assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"))
		})
	}
}
