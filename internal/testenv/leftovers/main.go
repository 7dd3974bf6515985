// Command leftovers fails when tests left something behind: databases or roles,
// Redis ACL users with the test prefix, test-cluster processes still running, or
// the test ground's temporary folders.
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
	// Without PLATTR_TEST_PG_URL the tests used private servers only, removed
	// with their data: there is no server left to look at.
	if pgURL := os.Getenv("PLATTR_TEST_PG_URL"); pgURL == "" {
		fmt.Println("leftovers: the tests' PostgreSQL servers were private and are removed, so none was checked")
	} else if rows, err := (&testenv.Postgres{AdminURL: pgURL}).Leftovers(ctx); err == nil {
		found = append(found, rows...)
	} else {
		fmt.Printf("leftovers: PostgreSQL at %s does not answer, so it was not checked\n", testenv.RedactURL(pgURL))
	}
	redisURL := os.Getenv("PLATTR_TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	if users, err := (&testenv.Redis{AdminURL: redisURL}).Leftovers(ctx); err == nil {
		for _, u := range users {
			found = append(found, "redis ACL user "+u)
		}
	} else {
		fmt.Printf("leftovers: Redis at %s does not answer, so it was not checked\n", testenv.RedactURL(redisURL))
	}
	found = append(found, processes()...)
	found = append(found, folders()...)
	if len(found) > 0 {
		fmt.Fprintf(os.Stderr, "tests left these behind:\n  %s\n", strings.Join(found, "\n  "))
		os.Exit(1)
	}
	fmt.Println("no leftovers: no test databases, roles, ACL users, test-cluster processes or temporary folders")
}

// processes lists test-cluster binaries (from bin/k8s) and private servers (in
// the tests' temporary folders) that nothing owns any more: their test binary is
// gone (they were handed to init) and no watcher of a live test binary will stop
// them. Those of a test run still going on are not leftovers.
func processes() []string {
	type proc struct{ pid, ppid, cmd string }
	var procs []proc
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		dir := filepath.Dir(f)
		data, err := os.ReadFile(f)
		cmdline, err2 := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || err2 != nil || len(cmdline) == 0 {
			continue
		}
		rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			continue
		}
		procs = append(procs, proc{filepath.Base(dir), fields[1], strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")})
	}
	watched := map[string]bool{}
	for _, p := range procs {
		if strings.HasPrefix(p.cmd, "/bin/sh -c while kill -0") {
			for _, f := range strings.Fields(p.cmd[strings.Index(p.cmd, "done;"):]) {
				watched[f] = true
			}
		}
	}
	var out []string
	for _, p := range procs {
		ours := strings.Contains(p.cmd, "/bin/k8s/") || strings.Contains(p.cmd, "plattr-testenv-")
		if ours && p.ppid == "1" && !watched[p.pid] && !strings.HasPrefix(p.cmd, "/bin/sh -c while kill -0") {
			out = append(out, fmt.Sprintf("process %s: %s", p.pid, p.cmd))
		}
	}
	return out
}

// folders lists the test ground's temporary folders (private servers, Argo CD's
// checkouts, logs) left in the temporary directory. While any test binary runs,
// they may be its own: then none is reported.
func folders() []string {
	cmds, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmds {
		if cmd, err := os.ReadFile(f); err == nil && strings.HasSuffix(strings.SplitN(string(cmd), "\x00", 2)[0], ".test") {
			fmt.Println("leftovers: a test binary is running, so its temporary folders are not checked")
			return nil
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "plattr-testenv-*"))
	var out []string
	for _, d := range dirs {
		if owner := testenv.FolderOwner(d); owner != "" {
			d += " (" + owner + ")"
		}
		out = append(out, "folder "+d)
	}
	return out
}
