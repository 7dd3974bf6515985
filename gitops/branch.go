package gitops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator/names"
)

// Proposal is a change proposed on a branch of its own, for a pull request.
type Proposal struct {
	Result
	// Branch is the proposal's branch; Base the branch it is proposed against.
	Branch, Base string
	// Updated is true when the branch was created or moved by this call.
	Updated bool
}

// Propose computes change on the head of the repo's branch (the base), validates
// it, commits it on top of that head and pushes the commit to branch, creating or
// replacing it. branch is Plattr's own (deterministically named) proposal branch:
// replacing it is expected, and happens only from the commit it was seen at (a
// lease), never blindly. When branch already holds exactly this change, nothing is
// pushed. A change that alters nothing proposes nothing (zero Commit).
func (r *Repo) Propose(ctx context.Context, branch string, change Change) (Proposal, error) {
	p := Proposal{Branch: branch, Base: r.branch.Short()}
	if err := names.Branch(branch); err != nil {
		return p, err
	}
	ref := plumbing.NewBranchReferenceName(branch)
	if ref == r.branch {
		return p, fmt.Errorf("the proposal branch %q is the base branch", branch)
	}
	base := r.head
	res, err := r.stage(ctx, change, false)
	p.Result = res
	if err != nil || res.Commit.IsZero() {
		r.head = base
		return p, err
	}
	newCommit := res.Commit
	r.head = base // the base branch itself does not move
	existing, err := r.fetchRef(ctx, ref, 1)
	if err != nil {
		return p, err
	}
	if !existing.IsZero() {
		same, err := r.sameTree(existing, newCommit)
		if err != nil {
			return p, err
		}
		if same {
			p.Result.Commit = existing
			return p, nil
		}
	}
	if err := r.pushRef(ctx, ref, existing, newCommit); err != nil {
		if errors.Is(err, ErrConflict) {
			return p, fmt.Errorf("branch %s moved while it was being replaced; run again: %w", branch, err)
		}
		return p, err
	}
	p.Updated = true
	return p, nil
}

func (r *Repo) sameTree(a, b plumbing.Hash) (bool, error) {
	ca, err := object.GetCommit(r.st, a)
	if err != nil {
		return false, err
	}
	cb, err := object.GetCommit(r.st, b)
	if err != nil {
		return false, err
	}
	return ca.TreeHash == cb.TreeHash, nil
}

// Version is one content of a file in the branch's history.
type Version struct {
	// Commit is the one that wrote Content: the oldest of the commits (within
	// the depth read) that had it since it last changed.
	Commit  *object.Commit
	Content []byte
}

// History returns the distinct contents file had on the branch, newest first,
// each with the commit that wrote it, reading at most depth commits back
// (deepening the shallow clone as needed). A commit that did not change the
// file adds nothing.
func (r *Repo) History(ctx context.Context, file string, depth int) ([]Version, error) {
	if err := envfiles.CheckPath(file); err != nil {
		return nil, err
	}
	if r.fetched.IsZero() {
		return nil, nil
	}
	if _, err := r.fetchRef(ctx, r.branch, depth); err != nil {
		return nil, err
	}
	var out []Version
	var last plumbing.Hash
	h := r.fetched
	for i := 0; i < depth && !h.IsZero(); i++ {
		c, err := object.GetCommit(r.st, h)
		if err != nil {
			break // the shallow boundary
		}
		t := newTree(r.st, c.TreeHash)
		e, err := t.lookup(file)
		switch {
		case err == nil && e.Mode.IsFile():
			if e.Hash == last {
				out[len(out)-1].Commit = c // an older commit with the same content: it wrote it
			} else {
				t.fetch = func(hs []plumbing.Hash) error { return r.fetchBlobs(ctx, hs) }
				data, err := t.ReadFile(file)
				if err != nil {
					return nil, err
				}
				out = append(out, Version{Commit: c, Content: data})
				last = e.Hash
			}
		case err != nil && !isNotExist(err):
			return nil, err
		default:
			last = plumbing.ZeroHash
		}
		if len(c.ParentHashes) == 0 {
			break
		}
		h = c.ParentHashes[0]
	}
	return out, nil
}

// FileAt reads file as of commit, a commit of the branch's history that
// History has read (it deepens the clone); a commit it has not read is an
// error wrapping fs.ErrNotExist, as is a file the commit does not have.
func (r *Repo) FileAt(ctx context.Context, commit, file string) ([]byte, error) {
	if err := envfiles.CheckPath(file); err != nil {
		return nil, err
	}
	if !plumbing.IsHash(commit) {
		return nil, fmt.Errorf("%q is not a full commit id", commit)
	}
	c, err := object.GetCommit(r.st, plumbing.NewHash(commit))
	if err != nil {
		return nil, fmt.Errorf("commit %.12s is not in the history read: %w", commit, fs.ErrNotExist)
	}
	t := newTree(r.st, c.TreeHash)
	t.fetch = func(hs []plumbing.Hash) error { return r.fetchBlobs(ctx, hs) }
	return t.ReadFile(file)
}
