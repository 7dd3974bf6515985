// Package gittest gives tests real git repositories: bare repos on disk, the git
// CLI to inspect them, and a real git server over HTTP on 127.0.0.1 (git
// http-backend behind net/http/cgi). Nothing here fakes git.
package gittest

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Git runs the git CLI in dir and returns its trimmed output; it fails the test on error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := GitErr(dir, args...)
	if err != nil {
		t.Fatalf("git %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return out
}

// GitErr runs the git CLI in dir with a fixed identity and no user configuration.
func GitErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+os.TempDir(), "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// BareRepo creates an empty bare repository whose default branch is main.
func BareRepo(t testing.TB, dir string) string {
	t.Helper()
	Git(t, filepath.Dir(dir), "init", "-q", "--bare", "-b", "main", dir)
	Git(t, dir, "config", "http.receivepack", "true")
	return dir
}

// Clone checks out a working copy of repo into a new temporary folder.
func Clone(t testing.TB, repo string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	Git(t, filepath.Dir(dir), "clone", "-q", repo, dir)
	return dir
}

// CommitCount is the number of commits on main.
func CommitCount(t testing.TB, repo string) int {
	t.Helper()
	out, err := GitErr(repo, "rev-list", "--count", "main")
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("git rev-list --count: %q", out)
	}
	return n
}

// Files reads every file on main, by path.
func Files(t testing.TB, repo string) map[string]string {
	t.Helper()
	out := map[string]string{}
	list, err := GitErr(repo, "ls-tree", "-r", "--name-only", "main")
	if err != nil || list == "" {
		return out
	}
	for _, p := range strings.Split(list, "\n") {
		out[p] = Git(t, repo, "show", "main:"+p) + "\n"
	}
	return out
}

// Serve serves every repository under root over smart HTTP on 127.0.0.1 with the
// real git http-backend (repo <root>/x.git is at URL+"/x.git"). It stops when the test ends. When
// user is non-empty, it requires HTTP basic auth with user and password.
func Serve(t testing.TB, root, user, password string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler(t, root, user, password))
	t.Cleanup(srv.Close)
	return srv
}

// Handler is the git http-backend handler Serve uses, for tests that wrap it.
func Handler(t testing.TB, root, user, password string) http.Handler {
	t.Helper()
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("find git's exec path: %v", err)
	}
	h := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"},
	}
	var handler http.Handler = h
	if user != "" {
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
			// Pushes are accepted because BareRepo sets http.receivepack.
			h.ServeHTTP(w, r)
		})
	}
	return handler
}
