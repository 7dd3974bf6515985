// Package gittest gives tests real git repositories: bare repos on disk, the git
// CLI to inspect them, and a real git server over HTTP on 127.0.0.1 (git
// http-backend behind net/http/cgi). Nothing here fakes git.
package gittest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// ServeCounting serves the repositories under root like Serve (no auth) and
// counts the requests that reach it: a test shows that nothing was sent there.
func ServeCounting(t testing.TB, root string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	h := Handler(t, root, "", "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// GitInput runs the git CLI in dir with input on its standard input (git mktree,
// git hash-object --stdin) and returns its trimmed output; it fails the test on
// error.
func GitInput(t testing.TB, dir, input string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+os.TempDir(), "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com")
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Hook installs an executable hook (pre-receive, update, ...) in a bare repo.
func Hook(t testing.TB, repo, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(repo, "hooks", name), []byte(script), 0o755); err != nil {
		t.Fatalf("install hook %s: %v", name, err)
	}
}

// ServeStalling serves every repository under root like Serve, except that a
// request for which stall returns true gets the first after bytes of the real
// answer (after 0: not even a status line, and its body is read but never
// reaches git) and then nothing more until the client goes away: a server that
// hangs, or one that stops in the middle of a pack. stalled receives a value
// each time a request stalls.
func ServeStalling(t testing.TB, root string, stall func(*http.Request) bool, after int) (srv *httptest.Server, stalled <-chan struct{}) {
	t.Helper()
	h := Handler(t, root, "", "")
	release := make(chan struct{})
	ch := make(chan struct{}, 16)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !stall(r) {
			h.ServeHTTP(w, r)
			return
		}
		if after == 0 {
			// Read the whole request: the server then notices a client that leaves.
			_, _ = io.Copy(io.Discard, r.Body)
			notify(ch)
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		h.ServeHTTP(&stallWriter{ResponseWriter: w, left: after, done: r.Context().Done(), release: release, stalled: ch}, r)
	}))
	// Cleanups run last-in first-out: the stalled handlers return before Close
	// waits for them.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv, ch
}

func notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// stallWriter passes through the first left bytes of a response, then blocks.
type stallWriter struct {
	http.ResponseWriter
	left          int
	done, release <-chan struct{}
	stalled       chan<- struct{}
}

func (w *stallWriter) Write(p []byte) (int, error) {
	n := 0
	if w.left > 0 {
		k := min(len(p), w.left)
		n, _ = w.ResponseWriter.Write(p[:k])
		w.left -= n
		w.Flush()
		if n == len(p) {
			return n, nil
		}
	}
	notify(w.stalled)
	select {
	case <-w.done:
	case <-w.release:
	}
	return n, errors.New("stalled")
}

func (w *stallWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// SilentListener accepts TCP connections on 127.0.0.1 and never sends a byte: a
// TLS handshake with it never ends. It returns its host:port.
func SilentListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// Entry is a tree entry as git stores it; the name may be anything.
type Entry struct {
	Mode, Name, Hash string
}

// WriteTree writes entries as a tree object of repo, in the order given and with
// no check at all (git hash-object --literally): what a hostile pusher can do.
func WriteTree(t testing.TB, repo string, entries []Entry) string {
	t.Helper()
	var b strings.Builder
	for _, e := range entries {
		h, err := hex.DecodeString(e.Hash)
		if err != nil {
			t.Fatalf("entry %q: hash %q: %v", e.Name, e.Hash, err)
		}
		fmt.Fprintf(&b, "%s %s\x00%s", e.Mode, e.Name, h)
	}
	return GitInput(t, repo, b.String(), "hash-object", "-t", "tree", "--literally", "-w", "--stdin")
}

// ReadTree lists the entries of a tree-ish of repo.
func ReadTree(t testing.TB, repo, treeish string) []Entry {
	t.Helper()
	out := Git(t, repo, "ls-tree", "-z", treeish)
	var entries []Entry
	for _, line := range strings.Split(out, "\x00") {
		if line == "" {
			continue
		}
		meta, name, _ := strings.Cut(line, "\t")
		f := strings.Fields(meta)
		entries = append(entries, Entry{Mode: f[0], Name: name, Hash: f[2]})
	}
	return entries
}

// Plant commits on main of the bare repo the tree of main with extra entries
// added to the folder dir ("" for the root; created when missing), written as
// they are, and returns the new commit.
func Plant(t testing.TB, repo, dir string, extra ...Entry) string {
	t.Helper()
	var rewrite func(tree string, parts []string) string
	rewrite = func(tree string, parts []string) string {
		var entries []Entry
		if tree != "" {
			entries = ReadTree(t, repo, tree)
		}
		if len(parts) == 0 {
			entries = append(entries, extra...)
		} else {
			sub := ""
			for i, e := range entries {
				if e.Name == parts[0] {
					sub = e.Hash
					entries = append(entries[:i], entries[i+1:]...)
					break
				}
			}
			entries = append(entries, Entry{Mode: "40000", Name: parts[0], Hash: rewrite(sub, parts[1:])})
		}
		// git's order: a folder sorts as if its name ended in '/'.
		key := func(e Entry) string {
			if e.Mode == "40000" {
				return e.Name + "/"
			}
			return e.Name
		}
		sort.SliceStable(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
		return WriteTree(t, repo, entries)
	}
	var parts []string
	if dir != "" {
		parts = strings.Split(dir, "/")
	}
	root := rewrite(Git(t, repo, "rev-parse", "main^{tree}"), parts)
	commit := Git(t, repo, "commit-tree", root, "-p", "main", "-m", "a hostile tree")
	Git(t, repo, "update-ref", "refs/heads/main", commit)
	return commit
}
