// Package envhistory turns an env repo file's history, as gitops reads it,
// into the versions ops plans with.
package envhistory

import (
	"strings"

	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/ops"
)

// Versions is a file's history as ops reads it, newest first.
func Versions(history []gitops.Version) []ops.Version {
	versions := make([]ops.Version, len(history))
	for i, v := range history {
		versions[i] = ops.Version{Commit: v.Commit.Hash.String(), When: v.Commit.Committer.When, Content: v.Content,
			Subject: strings.SplitN(v.Commit.Message, "\n", 2)[0], Message: v.Commit.Message, Author: v.Commit.Author.Name}
	}
	return versions
}
