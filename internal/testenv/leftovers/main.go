// Command leftovers fails when tests left something behind: databases or roles,
// Redis ACL users with the test prefix, or test-cluster processes still running.
// `make test` runs it after the tests.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/plattr/plattr/internal/testenv"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var found []string
	pgURL := os.Getenv("PLATTR_TEST_PG_URL")
	if pgURL == "" {
		pgURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	if rows, err := (&testenv.Postgres{AdminURL: pgURL}).Leftovers(ctx); err == nil {
		found = append(found, rows...)
	}
	redisURL := os.Getenv("PLATTR_TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	if users, err := (&testenv.Redis{AdminURL: redisURL}).Leftovers(ctx); err == nil {
		for _, u := range users {
			found = append(found, "redis ACL user "+u)
		}
	}
	found = append(found, processes()...)
	if len(found) > 0 {
		fmt.Fprintf(os.Stderr, "tests left these behind:\n  %s\n", strings.Join(found, "\n  "))
		os.Exit(1)
	}
	fmt.Println("no leftovers: no test databases, roles, ACL users or test-cluster processes")
}

// processes lists running test-cluster binaries (from bin/k8s) and private
// servers started in the tests' temporary folders.
func processes() []string {
	var out []string
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		data, err := os.ReadFile(f)
		if err != nil || len(data) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(strings.TrimRight(string(data), "\x00"), "\x00", " ")
		if strings.Contains(cmd, "/bin/k8s/") || strings.Contains(cmd, "plattr-testenv-") {
			out = append(out, fmt.Sprintf("process %s: %s", filepath.Base(filepath.Dir(f)), cmd))
		}
	}
	return out
}
