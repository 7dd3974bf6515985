package gitops

import (
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
)

// CommitTime is the committer time of the commit checked out in the git
// working copy holding dir, when that commit's id starts with commit; false
// otherwise (no checkout, another commit).
func CommitTime(dir, commit string) (time.Time, bool) {
	if commit == "" {
		return time.Time{}, false
	}
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return time.Time{}, false
	}
	head, err := r.Head()
	if err != nil || !strings.HasPrefix(head.Hash().String(), commit) {
		return time.Time{}, false
	}
	c, err := r.CommitObject(head.Hash())
	if err != nil {
		return time.Time{}, false
	}
	return c.Committer.When, true
}
