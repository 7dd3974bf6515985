package gitops

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/plattr/plattr/envfiles"
)

// Change computes the files to write from the repo's current tree, and the commit
// message. Apply calls it again after every rejected push, on the new head, so a
// render is always applied to what is really there.
type Change func(tree envfiles.Tree) (envfiles.Files, string, error)

// Result says what Apply did.
type Result struct {
	// Commit is the new commit, zero when nothing changed.
	Commit plumbing.Hash
	// Changed lists the paths the commit changed.
	Changed []string
	// Old holds the previous content of each changed path (nil when new).
	Old map[string][]byte
	// New holds the new content of each changed path (nil when deleted).
	New envfiles.Files
	// Attempts is how many pushes it took (1 without contention).
	Attempts int
}

// ApplyOptions bound the retries of Apply.
type ApplyOptions struct {
	// MaxAttempts is the number of pushes tried before giving up (default 10).
	MaxAttempts int
	// Backoff is the first retry's maximum delay; it doubles each time, with full
	// jitter, up to 5 s (default 100 ms).
	Backoff time.Duration
	// DryRun computes and validates the change but commits and pushes nothing.
	DryRun bool
}

// Apply computes change on the head, validates it (the Validator given to
// Open), commits it and pushes. A push rejected because someone else pushed
// first re-fetches, recomputes the change on the new head and retries with
// jittered exponential backoff. Nothing is ever force-pushed; a change that alters
// nothing makes no commit.
func (r *Repo) Apply(ctx context.Context, change Change, o ApplyOptions) (Result, error) {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.Backoff <= 0 {
		o.Backoff = 100 * time.Millisecond
	}
	for attempt := 1; ; attempt++ {
		res, err := r.applyOnce(ctx, change, o.DryRun)
		res.Attempts = attempt
		if err == nil || o.DryRun {
			return res, err
		}
		if !errors.Is(err, ErrConflict) {
			return res, err
		}
		if attempt >= o.MaxAttempts {
			return res, fmt.Errorf("gave up after %d attempts, each overtaken by another push: %w", attempt, err)
		}
		delay := o.Backoff << (attempt - 1)
		if delay > 5*time.Second || delay <= 0 {
			delay = 5 * time.Second
		}
		select {
		case <-time.After(rand.N(delay) + time.Millisecond):
		case <-ctx.Done():
			return res, ctx.Err()
		}
		if err := r.fetch(ctx); err != nil {
			return res, err
		}
	}
}

func (r *Repo) applyOnce(ctx context.Context, change Change, dryRun bool) (Result, error) {
	base := r.head
	res, err := r.stage(ctx, change, dryRun)
	if err != nil || res.Commit.IsZero() || dryRun {
		return res, err
	}
	if err := r.Push(ctx, base); err != nil {
		// Whatever the server said, look at the branch: if it moved, another
		// push won the race and the change is recomputed on the new head.
		r.head = base
		res.Commit = plumbing.ZeroHash
		if errors.Is(err, ErrConflict) {
			return res, err
		}
		moved, ferr := r.moved(ctx, base)
		if ferr == nil && moved {
			return res, fmt.Errorf("%w (%v)", ErrConflict, err)
		}
		return res, err
	}
	return res, nil
}

// Stage computes change on the head, validates it and commits it locally, without
// pushing: Apply is Stage then Push, with retries. The commit is in Result.Commit
// (zero when nothing changed).
func (r *Repo) Stage(ctx context.Context, change Change) (Result, error) {
	return r.stage(ctx, change, false)
}

func (r *Repo) stage(ctx context.Context, change Change, dryRun bool) (Result, error) {
	tree, err := r.tree(ctx)
	if err != nil {
		return Result{}, err
	}
	files, message, err := change(tree)
	if err != nil {
		return Result{}, err
	}
	old, changed, err := Diff(tree, files)
	if err != nil {
		return Result{}, err
	}
	res := Result{Changed: changed, Old: old, New: envfiles.Files{}}
	if len(changed) == 0 {
		return res, nil
	}
	for _, p := range changed {
		res.New[p] = files[p]
	}
	if err := r.validate(res.New, tree); err != nil {
		return res, fmt.Errorf("refusing to commit an invalid change: %w", err)
	}
	if dryRun {
		return res, nil
	}
	res.Commit, err = r.Commit(res.New, message)
	return res, err
}

// moved fetches and says whether the branch is no longer at base. The fetch leaves
// the Repo at the new head, ready for the retry.
func (r *Repo) moved(ctx context.Context, base plumbing.Hash) (bool, error) {
	if err := r.fetch(ctx); err != nil {
		return false, err
	}
	return r.head != base, nil
}

// neighbours lists the files in the folders of changed: what a Validator reads
// (generator.Validate builds their overlays).
func neighbours(tree *Tree, changed []string) []string {
	var out []string
	dirs := map[string]bool{}
	for _, p := range changed {
		dirs[path.Dir(p)] = true
	}
	for d := range dirs {
		entries, err := tree.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			out = append(out, path.Join(d, e))
		}
	}
	return out
}
