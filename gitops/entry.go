package gitops

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/plattr/plattr/generator/names"
)

// ErrUnsafeEntry is matched by the error for an entry of the env repo's tree that
// Plattr refuses to read or to carry into a commit: a name git's fsck flags
// (empty, ".", "..", containing '/' or NUL, ".git" in any case or in a spelling
// NTFS or HFS+ takes for it), ".gitmodules" in any spelling git takes for it, a
// name twice in one folder, a submodule (a gitlink) or a symbolic link. An env
// repo needs none of them: it holds files and folders only.
//
// Every folder Plattr decodes is checked whole (the folders on the path of every
// file it reads or writes, and every folder it lists), so such an entry is
// never read, followed or carried into a new commit from one of them. Folders
// Plattr neither reads nor rewrites are carried into a new commit by hash,
// unread: checking them would cost a read of the whole repo on every commit.
var ErrUnsafeEntry = errors.New("an entry Plattr refuses in the env repo")

// entryError names the refused entry by its path, quoted: the name may hold
// anything.
type entryError struct {
	path, reason string
}

func (e *entryError) Error() string {
	return fmt.Sprintf("env repo entry %q %s: Plattr neither reads nor commits it; remove it from the env repo", e.path, e.reason)
}

func (e *entryError) Is(target error) bool { return target == ErrUnsafeEntry }

// checkEntries refuses a tree (found at dir) holding an entry Plattr refuses.
func checkEntries(dir string, tr *object.Tree) error {
	seen := make(map[string]bool, len(tr.Entries))
	for _, e := range tr.Entries {
		full := dir + "/" + e.Name
		if dir == "" {
			full = e.Name
		}
		if err := checkName(full, e.Name); err != nil {
			return err
		}
		if seen[e.Name] {
			return &entryError{full, "appears twice in its folder"}
		}
		seen[e.Name] = true
		switch e.Mode {
		case filemode.Dir, filemode.Regular, filemode.Executable, filemode.Deprecated:
		case filemode.Symlink:
			// Refused wherever it is, not only where a path would run through
			// it: git itself reads some links (.gitattributes, .gitignore,
			// .mailmap), and a checkout of the env repo follows every one.
			return &entryError{full, "is a symbolic link, where files and folders are expected"}
		case filemode.Submodule:
			return &entryError{full, "is a submodule (a gitlink), where files and folders are expected"}
		default:
			return &entryError{full, fmt.Sprintf("has mode %o, which is neither a file nor a folder", uint32(e.Mode))}
		}
	}
	return nil
}

// checkName refuses an entry name git's fsck flags, or .gitmodules
// (names.PathElement).
func checkName(full, name string) error {
	if reason := names.PathElement(name); reason != "" {
		return &entryError{full, reason}
	}
	return nil
}
