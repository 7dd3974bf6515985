package plattrgen

import (
	"bytes"
	"errors"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/gittest"
)

// TestRun_HelperProcess is not a test: it is plattr-gen (Run, as main calls it)
// in a process of its own, for TestRun_SignalEndsTheCommand to signal.
func TestRun_HelperProcess(t *testing.T) {
	if os.Getenv("PLATTR_GEN_HELPER") != "1" {
		return
	}
	os.Exit(Run(flag.Args(), IO{Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv}))
}

// SIGINT and SIGTERM end a command promptly even while the server is silent
// (the limits are left at their defaults of minutes), and it says it was
// interrupted.
func TestRun_SignalEndsTheCommand(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			root := t.TempDir()
			repo := newEnvRepoAt(t, filepath.Join(root, "env.git"))
			before := gittest.Git(t, repo, "rev-parse", "main")
			srv, stalled := gittest.ServeStalling(t, root, func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/info/refs") }, 0)
			cmd := exec.Command(os.Args[0], "-test.run=^TestRun_HelperProcess$", "--",
				"render", "--env", "staging", "--image", image, "--app-dir", exampleDir(), "--repo", srv.URL+"/env.git", "--allow-http")
			cmd.Env = append(os.Environ(), "PLATTR_GEN_HELPER=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-stalled:
			case err := <-done:
				t.Fatalf("the command ended before reaching the server: %v\n%s", err, stderr.String())
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
				t.Fatal("the command never reached the server")
			}
			start := time.Now()
			require.NoError(t, cmd.Process.Signal(sig))
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("still running 10 s after %s", sig)
			}
			t.Logf("ended %s after %s", time.Since(start), sig)
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "exited: %v", err)
			assert.Equal(t, ExitFailure, exit.ExitCode(), "an exit code, not death by the signal")
			assert.Contains(t, stderr.String(), "plattr-gen: interrupted: ")
			assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"))
		})
	}
}
