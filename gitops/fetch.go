package gitops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"

	"github.com/plattr/plattr/generator/names"
)

// fetch brings the branch's newest commit into memory with its trees, depth 1.
// When the server allows partial clones (the "filter" capability and wants of
// objects it does not advertise), blobs are left out and fetched when first read:
// a render reads a handful of the repo's files, so a clone costs the trees, not the
// whole content. Other servers get a plain depth-1 fetch.
func (r *Repo) fetch(ctx context.Context) error {
	head, branches, err := r.fetchRefs(ctx, r.branch, 1)
	if err != nil {
		return err
	}
	if head.IsZero() && len(branches) > 0 {
		return &noBranchError{branch: r.branchName, repo: r.display, branches: branches}
	}
	r.head, r.fetched, r.pending = head, head, nil
	return nil
}

// noBranchError is a branch missing from a repo that has others.
type noBranchError struct {
	branch, repo string
	branches     []string
}

func (e *noBranchError) Error() string {
	const max = 10
	var shown []string
	others := 0
	for _, b := range e.branches {
		// The names come from the server: show only those git could have made.
		if names.Branch(b) == nil && len(shown) < max {
			shown = append(shown, b)
		} else {
			others++
		}
	}
	list := strings.Join(shown, ", ")
	if others > 0 {
		list += fmt.Sprintf(" and %d more", others)
	}
	return fmt.Sprintf("branch %q does not exist in %s; its branches are: %s", e.branch, e.repo, list)
}

func (e *noBranchError) Is(target error) bool { return target == ErrNoBranch }

// fetchRef brings the commit ref points to on the remote (and depth-1 of its
// history), returning it; zero when the ref does not exist (or the repo is empty).
func (r *Repo) fetchRef(ctx context.Context, ref plumbing.ReferenceName, depth int) (plumbing.Hash, error) {
	h, _, err := r.fetchRefs(ctx, ref, depth)
	return h, err
}

// fetchRefs is fetchRef that also lists the remote's branches, sorted.
func (r *Repo) fetchRefs(ctx context.Context, ref plumbing.ReferenceName, depth int) (plumbing.Hash, []string, error) {
	sess, ar, err := r.uploadPackSession(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return plumbing.ZeroHash, nil, nil
	}
	if err != nil {
		return plumbing.ZeroHash, nil, r.wrap("fetch", err)
	}
	defer sess.Close()
	refs, err := ar.AllReferences()
	if err != nil {
		return plumbing.ZeroHash, nil, r.wrap("fetch", err)
	}
	var branches []string
	for name := range refs {
		if name.IsBranch() {
			branches = append(branches, name.Short())
		}
	}
	sort.Strings(branches)
	found, ok := refs[ref]
	if !ok {
		return plumbing.ZeroHash, branches, nil
	}
	head := found.Hash()
	if _, err := r.st.EncodedObject(plumbing.CommitObject, head); err == nil && depth <= 1 {
		return head, branches, nil
	}
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	req.Wants = []plumbing.Hash{head}
	req.Depth = packp.DepthCommits(depth)
	if err := req.Capabilities.Set(capability.Shallow); err != nil {
		return plumbing.ZeroHash, nil, err
	}
	partial := supportsPartial(ar.Capabilities)
	if ref == r.branch {
		r.partial = partial
	}
	if partial && r.partial {
		req.Filter = packp.FilterBlobNone()
		if err := req.Capabilities.Set(capability.Filter); err != nil {
			return plumbing.ZeroHash, nil, err
		}
	}
	if ar.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	if err := r.receivePack(ctx, sess, req); err != nil {
		return plumbing.ZeroHash, nil, r.wrap("fetch", err)
	}
	return head, branches, nil
}

// supportsPartial says whether a server can leave blobs out and send them later by
// id: git advertises the second capability for uploadpack.allowAnySHA1InWant or
// allowReachableSHA1InWant; GitHub advertises both.
func supportsPartial(caps *capability.List) bool {
	return caps.Supports(capability.Filter) && caps.Supports(capability.AllowReachableSHA1InWant)
}

// transport is the client for the repo's URL (file, http or https).
// Each call starts a new operation: the limits forget the last request they cut.
// HTTP goes through the Repo's own client (its limits; credentials never follow a
// redirect to another origin); a local repo through git-upload-pack and
// git-receive-pack processes, killed when the context ends.
func (r *Repo) transport() (transport.Transport, *transport.Endpoint, error) {
	r.limits.reset()
	ep, err := transport.NewEndpoint(r.url)
	if err != nil {
		return nil, nil, err
	}
	if r.http != nil {
		return r.http, ep, nil
	}
	cl, err := client.NewClient(ep)
	return cl, ep, err
}

func (r *Repo) uploadPackSession(ctx context.Context) (transport.UploadPackSession, *packp.AdvRefs, error) {
	cl, ep, err := r.transport()
	if err != nil {
		return nil, nil, err
	}
	sess, err := cl.NewUploadPackSession(ep, r.auth)
	if err != nil {
		return nil, nil, err
	}
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		sess.Close()
		return nil, nil, err
	}
	return sess, ar, nil
}

func (r *Repo) receivePack(ctx context.Context, sess transport.UploadPackSession, req *packp.UploadPackRequest) error {
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Close()
	var pack io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		pack = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		pack = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	return packfile.UpdateObjectStorage(r.st, pack)
}

// fetchBlobs brings the blobs a partial clone left out, in one request. If the
// server refuses to send objects by id after all, the head is fetched whole.
func (r *Repo) fetchBlobs(ctx context.Context, hashes []plumbing.Hash) error {
	var wants []plumbing.Hash
	seen := map[plumbing.Hash]bool{}
	for _, h := range hashes {
		if seen[h] {
			continue
		}
		seen[h] = true
		if _, err := r.st.EncodedObject(plumbing.AnyObject, h); err != nil {
			wants = append(wants, h)
		}
	}
	if len(wants) == 0 {
		return nil
	}
	err := r.fetchWants(ctx, wants)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil || r.timeout(err) != nil || r.redirect(err) != nil {
		return r.wrap("fetch files", err) // the fallback would wait as long again, or be refused again
	}
	// Fall back to the whole head: slower, always allowed.
	sess, ar, ferr := r.uploadPackSession(ctx)
	if ferr != nil {
		return r.wrap("fetch files", ferr)
	}
	defer sess.Close()
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	req.Wants = []plumbing.Hash{r.fetched}
	req.Depth = packp.DepthCommits(1)
	_ = req.Capabilities.Set(capability.Shallow)
	if ferr := r.receivePack(ctx, sess, req); ferr != nil {
		return r.wrap("fetch files", fmt.Errorf("%v; then the whole head: %w", err, ferr))
	}
	r.partial = false
	return nil
}

func (r *Repo) fetchWants(ctx context.Context, wants []plumbing.Hash) error {
	sess, ar, err := r.uploadPackSession(ctx)
	if err != nil {
		return err
	}
	defer sess.Close()
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	req.Capabilities.Delete(capability.ThinPack) // we hold no blobs to resolve thin deltas against
	if ar.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	req.Wants = wants
	return r.receivePack(ctx, sess, req)
}
