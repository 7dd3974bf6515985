package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Redis server the tests may create ACL users on.
type Redis struct {
	// AdminURL connects as a user that may manage ACLs.
	AdminURL string
	// Addr is host:port.
	Addr string

	restart func() error // nil unless the server is a private one
}

var (
	redisOnce sync.Once
	rds       *Redis
	redisErr  error
)

// StartRedis returns the package's Redis: $PLATTR_TEST_REDIS_URL, else the local
// server on 127.0.0.1:6379, else a private redis-server on a free port (stopped
// when the package's tests end).
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	skipShort(t, "Redis")
	redisOnce.Do(func() { rds, redisErr = findRedis() })
	if redisErr != nil {
		t.Fatalf("Redis for tests: %v", redisErr)
	}
	return rds
}

func findRedis() (*Redis, error) {
	if u := os.Getenv("PLATTR_TEST_REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("PLATTR_TEST_REDIS_URL: %v", err)
		}
		if err := pingRedis(u); err != nil {
			return nil, fmt.Errorf("PLATTR_TEST_REDIS_URL does not answer: %v", err)
		}
		return &Redis{AdminURL: u, Addr: opt.Addr}, nil
	}
	local := "redis://127.0.0.1:6379/0"
	if pingRedis(local) == nil && os.Getenv("PLATTR_TEST_SERVERS") != "private" {
		return &Redis{AdminURL: local, Addr: "127.0.0.1:6379"}, nil
	}
	return startPrivateRedis()
}

// StartPrivateRedis starts a redis-server of the caller's own on a free port,
// whatever PLATTR_TEST_REDIS_URL says: for a user of Redis whose keys are not
// named per test (Argo CD's cache). It is stopped when the package's tests end.
func StartPrivateRedis(t testing.TB) *Redis {
	t.Helper()
	skipShort(t, "Redis")
	r, err := startPrivateRedis()
	if err != nil {
		t.Fatalf("start a private Redis: %v", err)
	}
	return r
}

func pingRedis(u string) error {
	opt, err := redis.ParseURL(u)
	if err != nil {
		return err
	}
	// One attempt: the callers poll, and a refused connection is the answer.
	opt.DialTimeout, opt.DialerRetries, opt.MaxRetries = 2*time.Second, 1, -1
	c := redis.NewClient(opt)
	defer c.Close()
	return c.Ping(context.Background()).Err()
}

func startPrivateRedis() (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("no Redis on 127.0.0.1:6379 and no redis-server to start one: " +
			"install it (Debian: apt-get install redis-server; 'make test' does this when run as root) or set PLATTR_TEST_REDIS_URL")
	}
	dir, err := os.MkdirTemp("", "plattr-testenv-redis-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	u := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	runs := 0
	start := func() error {
		runs++
		if err := startProcess(bin, []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--daemonize", "no"}, filepath.Join(dir, fmt.Sprintf("redis-%d.log", runs))); err != nil {
			return err
		}
		deadline := time.Now().Add(10 * time.Second)
		for pingRedis(u) != nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("redis-server on port %d did not answer within 10 s", port)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}
	if err := start(); err != nil {
		return nil, err
	}
	onStop(func() { os.RemoveAll(dir) })
	restart := func() error {
		opt, _ := redis.ParseURL(u)
		opt.MaxRetries = -1
		c := redis.NewClient(opt)
		defer c.Close()
		_ = c.Shutdown(context.Background()).Err() // the connection closes: no reply to check
		deadline := time.Now().Add(10 * time.Second)
		for pingRedis(u) == nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("redis-server on port %d did not stop within 10 s", port)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return start()
	}
	return &Redis{AdminURL: u, Addr: fmt.Sprintf("127.0.0.1:%d", port), restart: restart}, nil
}

// Restart stops a server of StartPrivateRedis's without saving (it forgets every
// ACL user, as a Redis without an ACL file does on restart) and starts it again
// on the same port: a new process, with a new run_id.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	if r.restart == nil {
		t.Fatal("Restart needs a Redis of StartPrivateRedis's")
	}
	if err := r.restart(); err != nil {
		t.Fatalf("restart Redis: %v", err)
	}
}

// Client is an admin client, closed when the test ends.
func (r *Redis) Client(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(r.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// UserName returns a unique ACL user name for the test; the user is deleted when
// the test ends, whatever the test made of it.
func (r *Redis) UserName(t testing.TB) string {
	t.Helper()
	name := strings.ReplaceAll(TestNamePrefix, "_", "-") + randomSuffix(10)
	c := r.Client(t)
	t.Cleanup(func() { c.Do(context.Background(), "ACL", "DELUSER", name) })
	return name
}

// Leftovers lists ACL users whose names start with the test prefix.
func (r *Redis) Leftovers(ctx context.Context) ([]string, error) {
	opt, err := redis.ParseURL(r.AdminURL)
	if err != nil {
		return nil, err
	}
	c := redis.NewClient(opt)
	defer c.Close()
	users, err := c.Do(ctx, "ACL", "USERS").StringSlice()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, u := range users {
		// Names tests choose, and those of apps "test-…" in the environment "plattr".
		if strings.HasPrefix(u, strings.ReplaceAll(TestNamePrefix, "_", "-")) || strings.HasPrefix(u, "plattr:test-") {
			out = append(out, u)
		}
	}
	return out, nil
}
