package gitops

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/internal/gittest"
)

// A branch the repo does not have is an error naming the branches it has; an
// empty repo has none, and the first commit creates the branch.
func TestOpen_MissingBranch(t *testing.T) {
	repo := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	gittest.Git(t, repo, "branch", "staging-envs", "main")
	_, err := Open(context.Background(), repo, generator.Validate, WithBranch("envs"))
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrNoBranch)
	assert.Contains(t, err.Error(), `branch "envs" does not exist in `+repo+"; its branches are: main, staging-envs")

	empty := gittest.BareRepo(t, filepath.Join(t.TempDir(), "empty.git"))
	r, err := Open(context.Background(), empty, generator.Validate, WithBranch("envs"))
	require.NoError(t, err, "an empty repo has no branch yet")
	assert.True(t, r.Head().IsZero())
	_, err = r.Apply(context.Background(), func(generator.Tree) (generator.Files, string, error) {
		return generator.Files{"README.md": []byte("env\n")}, "first\n", nil
	}, ApplyOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, gittest.Git(t, empty, "rev-parse", "envs"))
}

// Branch names are checked as git checks them, where they enter.
func TestOpen_InvalidBranchName(t *testing.T) {
	repo := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	for _, name := range []string{"", "-f", "a..b", "main.lock", "x y", "a\nb", "refs/../x", "@", "a:b"} {
		_, err := Open(context.Background(), repo, generator.Validate, WithBranch(name))
		require.Error(t, err, "%q", name)
		assert.Contains(t, err.Error(), "invalid branch name", "%q", name)
	}
	r, err := Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	_, err = r.Propose(context.Background(), "plattr/../main", func(generator.Tree) (generator.Files, string, error) {
		return generator.Files{"x.txt": []byte("x\n")}, "x\n", nil
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "invalid branch name")
	assert.Equal(t, "refs/heads/main", gittest.Git(t, repo, "for-each-ref", "--format=%(refname)", "refs/heads"), "no branch was pushed")
}

// The first branch pushed to a fresh bare repo becomes its HEAD when HEAD names
// a branch that does not exist (git init --bare's master), so that a clone
// checks it out.
func TestPush_FirstBranchBecomesHead(t *testing.T) {
	first := func(repo string, opts ...Option) {
		t.Helper()
		r, err := Open(context.Background(), repo, generator.Validate, opts...)
		require.NoError(t, err)
		_, err = r.Apply(context.Background(), func(generator.Tree) (generator.Files, string, error) {
			return generator.Files{"README.md": []byte("env\n")}, "first\n", nil
		}, ApplyOptions{})
		require.NoError(t, err)
	}
	fresh := filepath.Join(t.TempDir(), "fresh.git")
	gittest.Git(t, filepath.Dir(fresh), "init", "-q", "--bare", "-b", "master", fresh)
	first(fresh)
	assert.Equal(t, "refs/heads/main", gittest.Git(t, fresh, "symbolic-ref", "HEAD"))
	clone := filepath.Join(t.TempDir(), "clone")
	gittest.Git(t, filepath.Dir(clone), "clone", "-q", fresh, clone)
	assert.FileExists(t, filepath.Join(clone, "README.md"), "a clone checks out the branch")

	// A first branch of another name is the one HEAD names then.
	other := filepath.Join(t.TempDir(), "other.git")
	gittest.Git(t, filepath.Dir(other), "init", "-q", "--bare", "-b", "master", other)
	first(other, WithBranch("envs"))
	assert.Equal(t, "refs/heads/envs", gittest.Git(t, other, "symbolic-ref", "HEAD"))
}

// Nothing is committed without a Validator's word: Open requires one, and a
// change it refuses is neither committed nor pushed.
func TestOpen_Validator(t *testing.T) {
	repo := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	_, err := Open(context.Background(), repo, nil)
	assert.ErrorContains(t, err, "no Validator")

	before := gittest.Git(t, repo, "rev-parse", "main")
	var saw envfiles.Files
	r, err := Open(context.Background(), repo, func(changes envfiles.Files, _ envfiles.Tree) error {
		saw = changes
		return errors.New("not today")
	})
	require.NoError(t, err)
	_, err = r.Apply(context.Background(), func(generator.Tree) (generator.Files, string, error) {
		return generator.Files{"x.txt": []byte("x\n")}, "x\n", nil
	}, ApplyOptions{})
	assert.ErrorContains(t, err, "refusing to commit an invalid change: not today")
	assert.Equal(t, envfiles.Files{"x.txt": []byte("x\n")}, saw, "the validator sees the change")
	assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"), "nothing was pushed")
}
