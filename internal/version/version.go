// Package version is the one place Plattr's programs learn which version they
// are. A release sets it at link time (-ldflags "-X
// github.com/plattr/plattr/internal/version.version=v1.2.3"); without that, Go's
// build information answers: the module's version for `go install …@v1.2.3`,
// else "devel" with the commit a checkout was built from.
package version

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
)

// version and commit are set by the release's linker flags (goreleaser's
// builds carry no VCS information of Go's own).
var version, commit string

// Info is what a binary says about itself.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the running binary's version information.
func Get() Info {
	c := commit
	if c == "none" { // goreleaser's word for a commit it does not know
		c = ""
	}
	info := Info{Version: version, Commit: c, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if info.Version == "" {
			info.Version = "devel"
		}
		return info
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" { // the linker's, when given, is the release's
				info.Commit = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	if info.Version == "" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" || info.Version == "(devel)" {
		info.Version = "devel"
	}
	return info
}

// Version is the version alone: "v1.2.3", or "devel".
func Version() string { return Get().Version }

// String is the one-line form programs print: "plattr-gen v1.2.3 (commit
// 3f9c1a2b4d5e, go1.26.8, linux/amd64)".
func String(program string) string {
	i := Get()
	commit := ""
	if i.Commit != "" {
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if i.Modified {
			c += "+modified"
		}
		commit = "commit " + c + ", "
	}
	return fmt.Sprintf("%s %s (%s%s, %s)", program, i.Version, commit, i.GoVersion, i.Platform)
}

// UserAgent is what program sends to the servers it calls: "plattr-operator/v1.2.3
// (linux/amd64)".
func UserAgent(program string) string {
	i := Get()
	return fmt.Sprintf("%s/%s (%s)", program, i.Version, i.Platform)
}

// release is the form of a release's version: v1.2.3 or v1.2.3-rc.1 (semantic
// versioning with the leading v that Go modules and tags use).
var release = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// IsRelease says whether v is a release's version (not "devel").
func IsRelease(v string) bool { return release.MatchString(v) }

// fullCommit is a commit id as a workflow pins it.
var fullCommit = regexp.MustCompile(`^[0-9a-f]{40}$`)

// WorkflowRef is what a workflow Plattr writes names in its uses: of
// workflow (owner/repo/.github/workflows/<file>): a release pins the commit
// it was built from, with its version in a comment as Dependabot reads it; a
// development build, which has no release to pin, names the main branch.
func WorkflowRef(v Info, workflow string) (uses string, released bool) {
	if IsRelease(v.Version) && fullCommit.MatchString(v.Commit) && !v.Modified {
		return workflow + "@" + v.Commit + " # " + v.Version, true
	}
	return workflow + "@main", false
}
