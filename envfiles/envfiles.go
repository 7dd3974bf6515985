// Package envfiles is the environment repo's files as both sides see them: the
// changes a command makes (Files), the repo it reads (Tree) and what paths may
// be written (CheckPath). It is a leaf: the generator builds Files, gitops
// commits them, and neither needs the other for it.
package envfiles

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/plattr/plattr/generator/names"
)

// Files are changes to the env repo: path (slash-separated, relative to the repo
// root) → new content. A nil value deletes the file.
type Files map[string][]byte

// Paths returns the changed paths, sorted.
func (f Files) Paths() []string {
	out := make([]string, 0, len(f))
	for p := range f {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Tree is read-only access to the current state of the env repo.
type Tree interface {
	// ReadFile returns a file's content, or an error matching fs.ErrNotExist.
	ReadFile(name string) ([]byte, error)
	// ReadDir returns the names of a folder's entries, sorted, or an error matching
	// fs.ErrNotExist.
	ReadDir(name string) ([]string, error)
}

// Prefetcher is a Tree that can bring several files' content in one request
// (a partial clone left it out): reading them afterwards costs no request.
// Callers that know what they will read ask first; paths that do not exist
// are ignored.
type Prefetcher interface {
	Prefetch(names []string) error
}

// Overlay is Tree with Files applied on top, as the repo will be after a commit.
type Overlay struct {
	Base    Tree
	Changes Files
}

// ReadFile implements Tree.
func (o Overlay) ReadFile(name string) ([]byte, error) {
	if data, ok := o.Changes[name]; ok {
		if data == nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
		}
		return data, nil
	}
	if o.Base == nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return o.Base.ReadFile(name)
}

// ReadDir implements Tree. It lists files only as far as Changes add or delete
// direct children of name.
func (o Overlay) ReadDir(name string) ([]string, error) {
	set := map[string]bool{}
	found := false
	if o.Base != nil {
		entries, err := o.Base.ReadDir(name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		found = err == nil
		for _, e := range entries {
			set[e] = true
		}
	}
	prefix := name + "/"
	for p, data := range o.Changes {
		if !strings.HasPrefix(p, prefix) {
			continue
		}
		rest := p[len(prefix):]
		child, _, nested := strings.Cut(rest, "/")
		switch {
		case nested:
			set[child] = true
			found = true
		case data == nil:
			delete(set, child)
		default:
			set[child] = true
			found = true
		}
	}
	if !found && len(set) == 0 {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	out := make([]string, 0, len(set))
	for e := range set {
		out = append(out, e)
	}
	sort.Strings(out)
	return out, nil
}

// MapTree is a Tree held in memory, for tests and for rendering into an empty repo.
type MapTree map[string][]byte

// ReadFile implements Tree.
func (m MapTree) ReadFile(name string) ([]byte, error) {
	return Overlay{Changes: Files(m)}.ReadFile(name)
}

// ReadDir implements Tree.
func (m MapTree) ReadDir(name string) ([]string, error) {
	return Overlay{Changes: Files(m)}.ReadDir(name)
}

// CheckPath refuses paths that could leave the repo or reach into git's own data:
// absolute paths, "..", empty or "." components and ".git".
func CheckPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || path.Clean(p) != p {
		return fmt.Errorf("refusing path %q: not a clean relative path inside the repo", p)
	}
	for _, part := range strings.Split(p, "/") {
		if reason := names.PathElement(part); reason != "" {
			return fmt.Errorf("refusing path %q: %q is not allowed (it %s)", p, part, reason)
		}
	}
	return nil
}
