package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// ErrConflict means the branch moved on the remote since it was fetched: someone
// else pushed first.
var ErrConflict = errors.New("the env repo's branch moved since it was fetched")

// Push sends the commits made since the last fetch and moves the remote branch
// from the fetched head to the new one, never forcing. The pack holds exactly the
// objects this Repo wrote, so its cost grows with the change, not with the repo
// (go-git's own push walks the history to find them). A branch that moved in the
// meantime gives an error matching ErrConflict.
func (r *Repo) Push(ctx context.Context, old plumbing.Hash) error {
	if r.head == old {
		return nil
	}
	if err := r.pushRef(ctx, r.branch, old, r.head); err != nil {
		return err
	}
	if old.IsZero() {
		return r.headToFirstBranch()
	}
	return nil
}

// headToFirstBranch points a local bare repo's HEAD at the branch just pushed
// when HEAD names a branch that does not exist (git init --bare makes HEAD
// refs/heads/master, or init.defaultBranch): else a clone of it checks out
// nothing and warns "remote HEAD refers to nonexistent ref". A server's HEAD
// (https) is the server's to set; a non-bare repo's HEAD is its working tree's.
func (r *Repo) headToFirstBranch() error {
	if r.http != nil {
		return nil
	}
	path := strings.TrimPrefix(r.url, "file://")
	repo, err := git.PlainOpenWithOptions(path, &git.PlainOpenOptions{})
	if err != nil {
		return nil // not a repository on disk that go-git reads: leave it
	}
	if cfg, err := repo.Config(); err != nil || !cfg.Core.IsBare {
		return nil
	}
	head, err := repo.Storer.Reference(plumbing.HEAD)
	if err != nil || head.Type() != plumbing.SymbolicReference {
		return nil
	}
	if _, err := repo.Storer.Reference(head.Target()); err == nil {
		return nil // HEAD names a branch that exists
	}
	if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, r.branch)); err != nil {
		return r.wrap("point HEAD at "+r.branchName, err)
	}
	return nil
}

// pushRef moves ref on the remote from old to new, sending the objects written
// since the last fetch. The server refuses when ref is not at old.
func (r *Repo) pushRef(ctx context.Context, ref plumbing.ReferenceName, old, new plumbing.Hash) error {
	cl, ep, err := r.transport()
	if err != nil {
		return r.wrap("push", err)
	}
	sess, err := cl.NewReceivePackSession(ep, r.auth)
	if err != nil {
		return r.wrap("push", err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return r.wrap("push", err)
	}
	if ar != nil {
		refs, err := ar.AllReferences()
		if err != nil {
			return r.wrap("push", err)
		}
		current := plumbing.ZeroHash
		if h, ok := refs[ref]; ok {
			current = h.Hash()
		}
		if current != old {
			return fmt.Errorf("push %s: %w", r.display, ErrConflict)
		}
	}
	var caps *capability.List
	if ar != nil {
		caps = ar.Capabilities
	} else {
		caps = capability.NewList()
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(caps)
	req.Commands = []*packp.Command{{Name: ref, Old: old, New: new}}
	// With a side band, git sends what the server's hooks print ("remote: ...")
	// to the client; without one, a refusal's reason stays in the server's log.
	var said remoteMessages
	switch {
	case caps.Supports(capability.Sideband64k):
		_ = req.Capabilities.Set(capability.Sideband64k)
	case caps.Supports(capability.Sideband):
		_ = req.Capabilities.Set(capability.Sideband)
	}
	req.Progress = &said
	var pack bytes.Buffer
	if _, err := packfile.NewEncoder(&pack, r.st, false).Encode(r.pending, 10); err != nil {
		return fmt.Errorf("pack the commit: %w", err)
	}
	req.Packfile = io.NopCloser(&pack)
	rs, err := sess.ReceivePack(ctx, req)
	if err == nil && rs != nil {
		err = rs.Error()
	}
	if err != nil {
		// The server refuses a stale old hash in more than one way ("fetch first",
		// "failed to lock", "cannot lock ref", "non-fast-forward"): the caller
		// decides by fetching and looking, not by parsing the message.
		if lines := said.lines(); lines != "" && r.timeout(err) == nil {
			err = &refusedError{err: err, said: lines}
		}
		return r.wrap("push", err)
	}
	r.pending = nil
	return nil
}

// refusedError is a refused push with what the server said about it.
type refusedError struct {
	err  error
	said string
}

func (e *refusedError) Error() string { return e.err.Error() + "; the server said:\n" + e.said }
func (e *refusedError) Unwrap() error { return e.err }

// remoteMessages keeps what the server prints on the side band, bounded: a
// hostile server can send a lot, and control characters, of which only line
// ends are kept.
type remoteMessages struct {
	b bytes.Buffer
}

const maxRemoteMessages = 4 << 10

func (m *remoteMessages) Write(p []byte) (int, error) {
	if room := maxRemoteMessages - m.b.Len(); room > 0 {
		m.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// lines are the messages as "remote: ..." lines, progress meters ("\r") reduced
// to their last state, at most 20 lines of at most 200 characters.
func (m *remoteMessages) lines() string {
	var out []string
	for _, line := range strings.Split(m.b.String(), "\n") {
		if i := strings.LastIndexByte(strings.TrimRight(line, "\r"), '\r'); i >= 0 {
			line = line[i+1:]
		}
		line = strings.TrimSpace(strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, line))
		if line == "" {
			continue
		}
		if len(line) > 200 {
			line = line[:200] + "…"
		}
		out = append(out, "remote: "+line)
		if len(out) == 20 {
			out = append(out, "remote: …")
			break
		}
	}
	return strings.Join(out, "\n")
}
