package gitops

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/internal/gittest"
)

// Entries git's fsck flags, and submodules, are refused when the env repo is
// read and never carried into a new commit, wherever they are: in a folder a
// render rewrites (envs/staging/apps), in the app's own folder, at the root. The
// error names the entry; the branch does not move. git fsck flags the same names,
// so the rule is git's own.
func TestRepo_UnsafeEntriesRefused(t *testing.T) {
	cases := map[string]struct {
		reason string
		dir    string
		entry  func(blob, tree, commit string) []gittest.Entry
		fsck   string // the message id git fsck reports, "" for none
	}{
		".GIT":          {"git's folder in another case", "envs/staging/apps", blobNamed(".GIT"), "hasDotgit"},
		".git":          {"git's folder itself, as a folder", "envs/staging/apps", treeNamed(".git"), "hasDotgit"},
		"git~1":         {"NTFS short name of .git", "envs/staging/apps", treeNamed("git~1"), "hasDotgit"},
		".git.":         {"NTFS drops trailing dots", "envs/staging/apps", blobNamed(".git."), "hasDotgit"},
		".git space":    {"NTFS drops trailing spaces", "envs/staging/apps", blobNamed(".git "), "hasDotgit"},
		".git::$INDEX":  {"an NTFS stream of .git", "envs/staging/apps", blobNamed(".git::$INDEX_ALLOCATION"), "hasDotgit"},
		"HFS .git":      {"HFS+ ignores zero-width joiners", "envs/staging/apps", blobNamed(".g\u200cit"), "hasDotgit"},
		"dotdot":        {"climbs out of the folder", "envs/staging/apps", blobNamed(".."), "hasDotdot"},
		"dot":           {"the folder itself", "envs/staging/apps", blobNamed("."), "hasDot"},
		"slash":         {"a path inside a name", "envs/staging/apps", blobNamed("prod/hello.yaml"), "fullPathname"},
		"duplicate":     {"one name twice: which one is kept?", "envs/staging/apps", blobNamed("kustomization.yaml"), "duplicateEntries"},
		"submodule":     {"a gitlink where files are expected", "envs/staging/apps", gitlinkNamed("other.yaml"), ""},
		"in app folder": {"the folder the render writes into", "envs/staging/hello", blobNamed(".GIT"), "hasDotgit"},
		"at the root":   {"every read starts at the root", "", treeNamed("GIT~1"), "hasDotgit"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			repo := initRepo(t, filepath.Join(root, "env.git"))
			blob := gittest.GitInput(t, repo, "hostile\n", "hash-object", "-w", "--stdin")
			tree := gittest.WriteTree(t, repo, []gittest.Entry{{Mode: "100644", Name: "config", Hash: blob}})
			entries := tc.entry(blob, tree, gittest.Git(t, repo, "rev-parse", "main"))
			head := gittest.Plant(t, repo, tc.dir, entries...)
			where := entries[0].Name
			if tc.dir != "" {
				where = tc.dir + "/" + where
			}
			out, _ := gittest.GitErr(repo, "fsck", "--no-dangling")
			if tc.fsck != "" {
				assert.Contains(t, out, tc.fsck, "git fsck flags it too")
			}
			srv := gittest.Serve(t, root, "", "")

			r, err := Open(context.Background(), srv.URL+"/env.git", WithAllowHTTP())
			require.NoError(t, err)
			_, err = r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/hello@"+digest), ApplyOptions{})
			require.Error(t, err, tc.reason)
			assert.ErrorIs(t, err, ErrUnsafeEntry)
			assert.Contains(t, err.Error(), strconv.Quote(where), "the error names the path")
			assert.Equal(t, head, gittest.Git(t, repo, "rev-parse", "main"), "the branch did not move")

			// Writing into the folder without reading it first is refused too.
			r, err = Open(context.Background(), srv.URL+"/env.git", WithAllowHTTP())
			require.NoError(t, err)
			_, err = r.Commit(generator.Files{filepath.Join(tc.dir, "notes.txt"): []byte("x\n")}, "write\n")
			assert.ErrorIs(t, err, ErrUnsafeEntry, "the entry is never carried into a new commit")
		})
	}
}

func blobNamed(name string) func(blob, tree, commit string) []gittest.Entry {
	return func(blob, _, _ string) []gittest.Entry {
		return []gittest.Entry{{Mode: "100644", Name: name, Hash: blob}}
	}
}

func treeNamed(name string) func(blob, tree, commit string) []gittest.Entry {
	return func(_, tree, _ string) []gittest.Entry {
		return []gittest.Entry{{Mode: "40000", Name: name, Hash: tree}}
	}
}

func gitlinkNamed(name string) func(blob, tree, commit string) []gittest.Entry {
	return func(_, _, commit string) []gittest.Entry {
		return []gittest.Entry{{Mode: "160000", Name: name, Hash: commit}}
	}
}

// Names close to .git that git accepts are accepted: the rule is git's, no wider.
func TestCheckName_GitAcceptsTheseToo(t *testing.T) {
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	blob := gittest.GitInput(t, repo, "x\n", "hash-object", "-w", "--stdin")
	for _, name := range []string{".github", ".gitignore", ".gitmodules", "git~2", ".gitx", "a.git", "..x", "...", "git"} {
		require.NoError(t, checkName(name, name), name)
		gittest.WriteTree(t, repo, []gittest.Entry{{Mode: "100644", Name: name, Hash: blob}})
	}
	out, err := gittest.GitErr(repo, "fsck", "--no-dangling")
	require.NoError(t, err, out)
	assert.NotContains(t, out, "warning", "git fsck finds nothing wrong with them")
	assert.NotContains(t, out, "error")
	for _, name := range []string{"GIT~1", ".Git", ".git ..", ".git:x", "\ufeff.git\u200d"} {
		assert.True(t, errors.Is(checkName(name, name), ErrUnsafeEntry), "%q", name)
	}
}
