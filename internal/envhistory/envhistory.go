// Package envhistory turns an env repo file's history, as gitops reads it,
// into the versions ops plans with.
package envhistory

import (
	"strings"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/operator/plan"
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

// Releases is the history of an app's release.yaml as a plan reads it: each
// release's image and whether it had a release phase, newest first, one entry
// per image run in a row (a change of settings is not a release of its own).
// A content that is not a release is skipped.
func Releases(history []gitops.Version) []plan.Release {
	var out []plan.Release
	for _, v := range history {
		app, err := generator.ParseRelease(v.Content)
		if err != nil {
			continue
		}
		r := plan.Release{Image: app.Spec.Image, ReleasePhase: app.Spec.Release != nil}
		if n := len(out); n > 0 && out[n-1].Image == r.Image {
			out[n-1].ReleasePhase = out[n-1].ReleasePhase || r.ReleasePhase
			continue
		}
		out = append(out, r)
	}
	return out
}
