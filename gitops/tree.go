package gitops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/plattr/plattr/envfiles"
)

// Tree reads one commit's tree lazily: only the trees on the paths asked for are
// decoded, so reading a file costs the depth of its path, not the size of the repo.
type Tree struct {
	s     storer.EncodedObjectStorer
	root  plumbing.Hash // zero: the empty tree
	trees map[plumbing.Hash]*object.Tree
	// fetch brings blobs a partial clone left out; nil when all are present.
	fetch func([]plumbing.Hash) error
}

var (
	_ envfiles.Tree       = (*Tree)(nil)
	_ envfiles.Prefetcher = (*Tree)(nil)
)

func newTree(s storer.EncodedObjectStorer, root plumbing.Hash) *Tree {
	return &Tree{s: s, root: root, trees: map[plumbing.Hash]*object.Tree{}}
}

// Tree returns the tree of the head commit (empty for an empty repo).
func (r *Repo) Tree() (*Tree, error) { return r.tree(context.Background()) }

func (r *Repo) tree(ctx context.Context) (*Tree, error) {
	if r.head.IsZero() {
		return newTree(r.st, plumbing.ZeroHash), nil
	}
	c, err := object.GetCommit(r.st, r.head)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", r.head, err)
	}
	t := newTree(r.st, c.TreeHash)
	if r.partial {
		t.fetch = func(hs []plumbing.Hash) error { return r.fetchBlobs(ctx, hs) }
	}
	return t, nil
}

// Prefetch brings the content of the named files, where a partial clone left it
// out, in one request instead of one per file. Missing paths are ignored.
func (t *Tree) Prefetch(names []string) error {
	if t.fetch == nil {
		return nil
	}
	var hs []plumbing.Hash
	for _, n := range names {
		e, err := t.lookup(n)
		if err != nil {
			if isNotExist(err) {
				continue
			}
			return err
		}
		if e.Mode.IsFile() {
			if _, err := t.s.EncodedObject(plumbing.BlobObject, e.Hash); err != nil {
				hs = append(hs, e.Hash)
			}
		}
	}
	if len(hs) == 0 {
		return nil
	}
	return t.fetch(hs)
}

// tree decodes the tree h found at dir ("" for the root) and refuses it when an
// entry is one Plattr refuses (checkEntries): every read and every commit
// decodes its folders here, so such an entry in a folder Plattr reads or
// rewrites is neither read nor carried into a new commit. Folders it does
// neither to are kept by hash, never decoded.
func (t *Tree) tree(h plumbing.Hash, dir string) (*object.Tree, error) {
	if h.IsZero() {
		return &object.Tree{}, nil
	}
	if tr, ok := t.trees[h]; ok {
		return tr, nil
	}
	tr, err := object.GetTree(t.s, h)
	if err != nil {
		return nil, fmt.Errorf("read folder %q of the env repo (tree %s): %w", displayDir(dir), h, err)
	}
	if err := checkEntries(dir, tr); err != nil {
		return nil, err
	}
	t.trees[h] = tr
	return tr, nil
}

func displayDir(dir string) string {
	if dir == "" {
		return "/"
	}
	return dir
}

func entry(tr *object.Tree, name string) *object.TreeEntry {
	for i := range tr.Entries {
		if tr.Entries[i].Name == name {
			return &tr.Entries[i]
		}
	}
	return nil
}

// lookup walks to name. Every folder on the way is checked whole (tree): a
// symbolic link is refused before it could be followed.
func (t *Tree) lookup(name string) (*object.TreeEntry, error) {
	if name == "" || name == "." {
		return &object.TreeEntry{Mode: filemode.Dir, Hash: t.root}, nil
	}
	if err := envfiles.CheckPath(name); err != nil {
		return nil, err
	}
	cur := t.root
	parts := strings.Split(name, "/")
	for i, part := range parts {
		tr, err := t.tree(cur, strings.Join(parts[:i], "/"))
		if err != nil {
			return nil, err
		}
		e := entry(tr, part)
		if e == nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		if i == len(parts)-1 {
			return e, nil
		}
		if e.Mode != filemode.Dir {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		cur = e.Hash
	}
	panic("unreachable")
}

// ReadFile implements envfiles.Tree.
func (t *Tree) ReadFile(name string) ([]byte, error) {
	e, err := t.lookup(name)
	if err != nil {
		return nil, err
	}
	if !e.Mode.IsFile() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	b, err := object.GetBlob(t.s, e.Hash)
	if errors.Is(err, plumbing.ErrObjectNotFound) && t.fetch != nil {
		if err := t.fetch([]plumbing.Hash{e.Hash}); err != nil {
			return nil, err
		}
		b, err = object.GetBlob(t.s, e.Hash)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	rd, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// ReadDir implements envfiles.Tree.
func (t *Tree) ReadDir(name string) ([]string, error) {
	e, err := t.lookup(name)
	if err != nil {
		return nil, err
	}
	if e.Mode != filemode.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	if name == "." {
		name = ""
	}
	tr, err := t.tree(e.Hash, name)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(tr.Entries))
	for i, e := range tr.Entries {
		out[i] = e.Name
	}
	return out, nil // git keeps entries sorted
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
