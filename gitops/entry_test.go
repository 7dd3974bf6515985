package gitops

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/internal/gittest"
)

// Entries git's fsck flags, .gitmodules, submodules and symbolic links are
// refused when the env repo is read and never carried into a new commit, wherever
// they are in a folder Plattr reads or rewrites: in a folder a render rewrites
// (envs/staging/apps), in the app's own folder, at the root. The error names the
// entry; the branch does not move. Where git fsck flags the entry too, the test
// says with which message: the rule is git's own.
func TestRepo_UnsafeEntriesRefused(t *testing.T) {
	const submoduleURL = "[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwned\n"
	cases := map[string]struct {
		reason string
		dir    string
		entry  func(t *testing.T, repo, blob, tree, commit string) []gittest.Entry
		fsck   string // the message id git fsck reports, "" for none
		want   string // what the error says about the entry
	}{
		".GIT":          {"git's folder in another case", "envs/staging/apps", blobNamed(".GIT"), "hasDotgit", "is named like git's own folder"},
		".git":          {"git's folder itself, as a folder", "envs/staging/apps", treeNamed(".git"), "hasDotgit", "is named like git's own folder"},
		"git~1":         {"NTFS short name of .git", "envs/staging/apps", treeNamed("git~1"), "hasDotgit", "is named like git's own folder"},
		".git.":         {"NTFS drops trailing dots", "envs/staging/apps", blobNamed(".git."), "hasDotgit", "is named like git's own folder"},
		".git space":    {"NTFS drops trailing spaces", "envs/staging/apps", blobNamed(".git "), "hasDotgit", "is named like git's own folder"},
		".git::$INDEX":  {"an NTFS stream of .git", "envs/staging/apps", blobNamed(".git::$INDEX_ALLOCATION"), "hasDotgit", "is named like git's own folder"},
		"HFS .git":      {"HFS+ ignores zero-width joiners", "envs/staging/apps", blobNamed(".g\u200cit"), "hasDotgit", "is named like git's own folder"},
		`a\.git`:        {"Windows reads a backslash as a folder separator", "envs/staging/apps", blobNamed(`a\.git`), "hasDotgit", "is named like git's own folder"},
		"dotdot":        {"climbs out of the folder", "envs/staging/apps", blobNamed(".."), "hasDotdot", "is named .."},
		"dot":           {"the folder itself", "envs/staging/apps", blobNamed("."), "hasDot", "is named ."},
		"slash":         {"a path inside a name", "envs/staging/apps", blobNamed("prod/hello.yaml"), "fullPathname", "has a name holding '/'"},
		"duplicate":     {"one name twice: which one is kept?", "envs/staging/apps", blobNamed("kustomization.yaml"), "duplicateEntries", "appears twice"},
		"submodule":     {"a gitlink where files are expected", "envs/staging/apps", gitlinkNamed("other.yaml"), "", "is a submodule"},
		"in app folder": {"the folder the render writes into", "envs/staging/hello", blobNamed(".GIT"), "hasDotgit", "is named like git's own folder"},
		"at the root":   {"every read starts at the root", "", treeNamed("GIT~1"), "hasDotgit", "is named like git's own folder"},

		".gitmodules link":    {"git refuses to read a linked .gitmodules", "", symlinkNamed(".gitmodules"), "gitmodulesSymlink", "is named like .gitmodules"},
		"GITMOD~1 link":       {"its NTFS short name, another case", "", symlinkNamed("GITMOD~1"), "gitmodulesSymlink", "is named like .gitmodules"},
		"gi7eba~1 link":       {"its fall-back NTFS short name", "", symlinkNamed("gi7eba~1"), "gitmodulesSymlink", "is named like .gitmodules"},
		"HFS .gitmodules":     {"HFS+ ignores zero-width joiners", "", symlinkNamed(".gitmodu\u200dles"), "gitmodulesSymlink", "is named like .gitmodules"},
		".gitmodules in app":  {"a submodule whose URL is an option to git", "envs/staging/hello", gitmodulesBlob(submoduleURL), "gitmodulesUrl", "is named like .gitmodules"},
		".GitModules file":    {"a plain .gitmodules, another case", "envs/staging/apps", gitmodulesBlob("[submodule \"x\"]\n\tpath = x\n\turl = https://example.com/x\n"), "", "is named like .gitmodules"},
		".gitattributes link": {"git reads it without following links", "", symlinkNamed(".gitattributes"), "gitattributesSymlink", "is a symbolic link"},
		".gitignore link":     {"git reads it without following links", "envs/staging/hello", symlinkNamed(".gitignore"), "gitignoreSymlink", "is a symbolic link"},
		".mailmap link":       {"git reads it without following links", "", symlinkNamed(".mailmap"), "mailmapSymlink", "is a symbolic link"},
		"any link":            {"a link where no path runs through it", "envs/staging/hello", symlinkNamed("notes"), "", "is a symbolic link"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			repo := initRepo(t, filepath.Join(root, "env.git"))
			blob := gittest.GitInput(t, repo, "hostile\n", "hash-object", "-w", "--stdin")
			tree := gittest.WriteTree(t, repo, []gittest.Entry{{Mode: "100644", Name: "config", Hash: blob}})
			entries := tc.entry(t, repo, blob, tree, gittest.Git(t, repo, "rev-parse", "main"))
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

			r, err := Open(context.Background(), srv.URL+"/env.git", generator.Validate, WithAllowHTTP())
			require.NoError(t, err)
			_, err = r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/hello@"+digest), ApplyOptions{})
			require.Error(t, err, tc.reason)
			assert.ErrorIs(t, err, ErrUnsafeEntry)
			assert.Contains(t, err.Error(), "env repo entry "+strconv.Quote(where)+" "+tc.want, "the error names the path and why")
			assert.Contains(t, err.Error(), "remove it from the env repo", "the error says what to do")
			assert.Equal(t, head, gittest.Git(t, repo, "rev-parse", "main"), "the branch did not move")

			// Writing into the folder without reading it first is refused too.
			r, err = Open(context.Background(), srv.URL+"/env.git", generator.Validate, WithAllowHTTP())
			require.NoError(t, err)
			_, err = r.Commit(generator.Files{filepath.Join(tc.dir, "notes.txt"): []byte("x\n")}, "write\n")
			assert.ErrorIs(t, err, ErrUnsafeEntry, "the entry is never carried into a new commit")
		})
	}
}

func blobNamed(name string) func(*testing.T, string, string, string, string) []gittest.Entry {
	return func(_ *testing.T, _, blob, _, _ string) []gittest.Entry {
		return []gittest.Entry{{Mode: "100644", Name: name, Hash: blob}}
	}
}

func treeNamed(name string) func(*testing.T, string, string, string, string) []gittest.Entry {
	return func(_ *testing.T, _, _, tree, _ string) []gittest.Entry {
		return []gittest.Entry{{Mode: "40000", Name: name, Hash: tree}}
	}
}

func gitlinkNamed(name string) func(*testing.T, string, string, string, string) []gittest.Entry {
	return func(_ *testing.T, _, _, _, commit string) []gittest.Entry {
		return []gittest.Entry{{Mode: "160000", Name: name, Hash: commit}}
	}
}

// symlinkNamed is a symbolic link to ../../prod, as git writes one (the target
// is the blob's content).
func symlinkNamed(name string) func(*testing.T, string, string, string, string) []gittest.Entry {
	return func(t *testing.T, repo, _, _, _ string) []gittest.Entry {
		target := gittest.GitInput(t, repo, "../../prod", "hash-object", "-w", "--stdin")
		return []gittest.Entry{{Mode: "120000", Name: name, Hash: target}}
	}
}

// gitmodulesBlob is a file named .gitmodules (.GitModules when the content is
// harmless: the case makes no difference to git) holding content.
func gitmodulesBlob(content string) func(*testing.T, string, string, string, string) []gittest.Entry {
	return func(t *testing.T, repo, _, _, _ string) []gittest.Entry {
		name := ".gitmodules"
		if !strings.Contains(content, "--") {
			name = ".GitModules"
		}
		blob := gittest.GitInput(t, repo, content, "hash-object", "-w", "--stdin")
		return []gittest.Entry{{Mode: "100644", Name: name, Hash: blob}}
	}
}

// names.PathElement refuses a name as .git or .gitmodules exactly when git fsck
// takes it for one: each name is a symbolic link in a tree of its own, for which
// fsck reports hasDotgit (.git) or gitmodulesSymlink (.gitmodules, the one
// message git gives for any spelling of it). Names one character away from a
// match are in the list, so that a rule wider or narrower than git's fails.
func TestPathElement_AgreesWithGitFsck(t *testing.T) {
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	target := gittest.GitInput(t, repo, "x", "hash-object", "-w", "--stdin")
	candidates := []string{
		// .git
		".git", ".GIT", "git~1", "GiT~1", ".git.", ".git. .", ".git::$INDEX_ALLOCATION", ".g\u200cit", "\ufeff.git\u200d",
		`.git\x`, `a\.git`, `a\b\GIT~1 `, ".git\xff", ".git\uffff",
		".github", ".gitx", "git~2", "git~1x", "a.git", "git", "..git", ".git\u00e9", `a\.gitx`, ".gi\u200ct\u00e9",
		// .gitmodules
		".gitmodules", ".GitModules", ".gitmodules.", ".gitmodules ", ".gitmodules:$DATA", "gitmod~1", "GITMOD~4",
		"gi7eba~1", "GI7EBA~9", "gi7eb~12", "gi7e~123", "~1234567", ".g\u200citmodules", ".gitmodules\ufeff",
		`x\.gitmodules`, `x\GITMOD~1`, ".gitmodules\xff",
		"gitmod~5", "gitmod~1x", "gi7eba~0", "gi7eba~1a", ".gitmodule", ".gitmodulesx", "gitmodules", "~123456",
		".gitmodules\u00e9", "gi8eba~1", `x\.gitmodulesx`,
		// other files git reads; only links to them are flagged, and Plattr refuses every link
		".gitattributes", ".gitignore", ".mailmap",
	}
	trees := map[string]string{}
	for _, name := range candidates {
		trees[gittest.WriteTree(t, repo, []gittest.Entry{{Mode: "120000", Name: name, Hash: target}})] = name
	}
	out, _ := gittest.GitErr(repo, "fsck", "--no-dangling", "--strict")
	flagged := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		for tree, name := range trees {
			if strings.Contains(line, tree) && (strings.Contains(line, "hasDotgit") || strings.Contains(line, "gitmodulesSymlink")) {
				flagged[name] = true
			}
		}
	}
	require.NotEmpty(t, flagged, "git fsck ran and flagged names:\n%s", out)
	for _, name := range candidates {
		assert.Equal(t, flagged[name], names.PathElement(name) != "", "%q: git fsck flags it: %v; PathElement: %q", name, flagged[name], names.PathElement(name))
	}
}

// Names close to .git that git accepts are accepted: the rule is git's, no wider
// (.gitmodules aside: env repos have no submodules).
func TestCheckName_GitAcceptsTheseToo(t *testing.T) {
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	blob := gittest.GitInput(t, repo, "x\n", "hash-object", "-w", "--stdin")
	for _, name := range []string{".github", ".gitignore", ".gitattributes", "gitmod~5", "git~2", ".gitx", "a.git", "..x", "...", "git"} {
		require.NoError(t, checkName(name, name), name)
		gittest.WriteTree(t, repo, []gittest.Entry{{Mode: "100644", Name: name, Hash: blob}})
	}
	out, err := gittest.GitErr(repo, "fsck", "--no-dangling")
	require.NoError(t, err, out)
	assert.NotContains(t, out, "warning", "git fsck finds nothing wrong with them")
	assert.NotContains(t, out, "error")
	for _, name := range []string{"GIT~1", ".Git", ".git ..", ".git:x", "\ufeff.git\u200d", ".gitmodules", "GITMOD~1"} {
		assert.True(t, errors.Is(checkName(name, name), ErrUnsafeEntry), "%q", name)
	}
}
