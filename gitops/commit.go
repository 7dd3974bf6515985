package gitops

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/plattr/plattr/envfiles"
)

// Commit writes changes on top of the head as one commit, touching only the blobs
// and trees on the changed paths. It returns the zero hash and no error when the
// changes leave the tree as it is ("nothing to commit" is success). The commit is
// local until Push.
func (r *Repo) Commit(changes envfiles.Files, message string) (plumbing.Hash, error) {
	base, err := r.Tree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	for p := range changes {
		if err := envfiles.CheckPath(p); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	root, err := r.writeTree(base, base.root, "", changes)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if root == base.root {
		return plumbing.ZeroHash, nil
	}
	sig := r.author
	sig.When = r.now()
	c := &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: root}
	if !r.head.IsZero() {
		c.ParentHashes = []plumbing.Hash{r.head}
	}
	h, err := r.store(c)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write commit: %w", err)
	}
	r.head = h
	return h, nil
}

type encodable interface {
	Encode(plumbing.EncodedObject) error
}

// store encodes o as a new object; it is sent on the next push.
func (r *Repo) store(o encodable) (plumbing.Hash, error) {
	obj := r.st.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.put(obj)
}

func (r *Repo) put(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	h, err := r.st.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	r.pending = append(r.pending, h)
	return h, nil
}

// writeTree returns the hash of the tree at dir (hash cur in the base) with
// changes (paths relative to dir) applied. Unchanged subtrees keep their hash and
// are never read. A result equal to cur writes nothing.
func (r *Repo) writeTree(base *Tree, cur plumbing.Hash, dir string, changes map[string][]byte) (plumbing.Hash, error) {
	tr, err := base.tree(cur, dir)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	files := map[string][]byte{}
	subdirs := map[string]map[string][]byte{}
	for p, data := range changes {
		first, rest, nested := strings.Cut(p, "/")
		if nested {
			if subdirs[first] == nil {
				subdirs[first] = map[string][]byte{}
			}
			subdirs[first][rest] = data
		} else {
			files[first] = data
		}
	}
	entries := make(map[string]object.TreeEntry, len(tr.Entries))
	for _, e := range tr.Entries {
		entries[e.Name] = e
	}
	changed := false
	for name, data := range files {
		full := path.Join(dir, name)
		if err := checkName(full, name); err != nil {
			return plumbing.ZeroHash, err
		}
		old, had := entries[name]
		if had && old.Mode == filemode.Dir {
			return plumbing.ZeroHash, fmt.Errorf("cannot write file %s: it is a folder in the env repo", full)
		}
		if data == nil {
			if had {
				delete(entries, name)
				changed = true
			}
			continue
		}
		h := plumbing.ComputeHash(plumbing.BlobObject, data)
		if had && old.Hash == h && old.Mode == filemode.Regular {
			continue
		}
		if _, err := r.writeBlob(data); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("write %s: %w", full, err)
		}
		entries[name] = object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h}
		changed = true
	}
	for name, sub := range subdirs {
		full := path.Join(dir, name)
		if err := checkName(full, name); err != nil {
			return plumbing.ZeroHash, err
		}
		old, had := entries[name]
		var oldHash plumbing.Hash
		if had {
			if old.Mode != filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("cannot write into %s: it is a file in the env repo", full)
			}
			oldHash = old.Hash
		}
		h, err := r.writeTree(base, oldHash, full, sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch {
		case h == oldHash && had:
		case h.IsZero():
			if had {
				delete(entries, name) // the folder became empty
				changed = true
			}
		default:
			entries[name] = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
			changed = true
		}
	}
	if !changed {
		return cur, nil
	}
	if len(entries) == 0 {
		return plumbing.ZeroHash, nil
	}
	return r.store(&object.Tree{Entries: gitOrder(entries)})
}

// gitOrder orders tree entries as git does: folders compare as if their name
// ended in "/". Each key is made once (a folder of thousands of apps is sorted on
// every commit).
func gitOrder(entries map[string]object.TreeEntry) []object.TreeEntry {
	type keyed struct {
		key string
		e   object.TreeEntry
	}
	ks := make([]keyed, 0, len(entries))
	for _, e := range entries {
		k := e.Name
		if e.Mode == filemode.Dir {
			k += "/"
		}
		ks = append(ks, keyed{k, e})
	}
	slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	out := make([]object.TreeEntry, len(ks))
	for i, k := range ks {
		out[i] = k.e
	}
	return out
}

func (r *Repo) writeBlob(data []byte) (plumbing.Hash, error) {
	obj := r.st.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.put(obj)
}

// Diff returns the paths whose content changes, comparing blob ids so that no
// content needs to be read, and the old content of each (nil when new). A change
// names files: one that names a folder, to write or to delete it, is an error,
// never skipped, so that nothing is reported as removed that is still there.
func Diff(tree *Tree, changes envfiles.Files) (map[string][]byte, []string, error) {
	var changed []string
	for _, p := range changes.Paths() {
		e, err := tree.lookup(p)
		if err != nil && !isNotExist(err) {
			return nil, nil, err
		}
		if err == nil && e.Mode == filemode.Dir {
			verb := "write"
			if changes[p] == nil {
				verb = "delete"
			}
			return nil, nil, fmt.Errorf("cannot %s %s as a file: it is a folder in the env repo (a change writes and deletes files, one by one)", verb, p)
		}
		had := err == nil && e.Mode.IsFile()
		switch {
		case changes[p] == nil && !had:
		case changes[p] != nil && had && e.Hash == plumbing.ComputeHash(plumbing.BlobObject, changes[p]):
		default:
			changed = append(changed, p)
		}
	}
	// Validate reads the changed folders: fetch what a partial clone left out at once.
	if err := tree.Prefetch(neighbours(tree, changed)); err != nil {
		return nil, nil, err
	}
	old := map[string][]byte{}
	for _, p := range changed {
		data, err := tree.ReadFile(p)
		if err != nil && !isNotExist(err) {
			return nil, nil, err
		}
		old[p] = data
	}
	return old, changed, nil
}
