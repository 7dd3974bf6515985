// Package names owns the rules for the names Plattr turns into paths, Kubernetes
// object names and backing-service identifiers: application names, environment
// names and preview (pull request) names.
//
// Every name that reaches a path in the env repo passes through here first, so a
// name can never climb out of its folder ("../prod", "a/b", ".git"). It must not
// know about files, git or the cluster.
package names

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

const (
	// MaxAppLen leaves room in a 63-character DNS label for "preview-", "-pr-" and a
	// six-digit pull request number (the Argo CD child Application's name).
	MaxAppLen = 40
	// MaxEnvLen keeps "<env>_<app>" PostgreSQL identifiers and "<env>-<app>" names
	// well inside 63 bytes.
	MaxEnvLen = 16
	// MaxPR is the largest pull request number a preview can have.
	MaxPR = 999999

	// PreviewEnv is the environment that holds every preview.
	PreviewEnv = "preview"
	// AppsDir is the folder of an environment that holds the Argo CD child Applications;
	// no application may take its name.
	AppsDir = "apps"
)

// dns1035 is a DNS-1035 label: it starts with a letter, so the name is also a valid
// Service name.
var dns1035 = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// Error is a name that is not allowed. It says which name, what kind and why.
type Error struct {
	Kind   string // "application name", "environment name", ...
	Name   string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Kind, e.Name, e.Reason)
}

func check(kind, name string, max int) error {
	switch {
	case name == "":
		return &Error{kind, name, "must not be empty"}
	case len(name) > max:
		return &Error{kind, name, fmt.Sprintf("must be at most %d characters, is %d", max, len(name))}
	case !dns1035.MatchString(name):
		return &Error{kind, name, "must be lower-case letters, digits and '-', start with a letter and end with a letter or digit"}
	}
	return nil
}

// App checks an application name.
func App(name string) error {
	if err := check("application name", name, MaxAppLen); err != nil {
		return err
	}
	if name == AppsDir {
		return &Error{"application name", name, fmt.Sprintf("%q is reserved for the folder of Argo CD Applications", AppsDir)}
	}
	return nil
}

// Env checks the name of a regular (promotable) environment. "preview" is reserved.
func Env(name string) error {
	if err := check("environment name", name, MaxEnvLen); err != nil {
		return err
	}
	if name == PreviewEnv {
		return &Error{"environment name", name, "\"preview\" is reserved for pull request previews (use --pr)"}
	}
	return nil
}

// PR checks a pull request number.
func PR(n int) error {
	if n < 1 || n > MaxPR {
		return &Error{"pull request number", strconv.Itoa(n), fmt.Sprintf("must be between 1 and %d", MaxPR)}
	}
	return nil
}

// Preview is the name of the preview of app for pull request n: "<app>-pr-<n>".
// Callers validate app and n first.
func Preview(app string, n int) string {
	return app + "-pr-" + strconv.Itoa(n)
}

// MaxBranchLen bounds a branch name (git itself allows longer ones; no env repo
// needs them).
const MaxBranchLen = 200

// Branch checks a branch name as `git check-ref-format --branch` does: no
// control characters, spaces or any of ~^:?*[\, no "..", "@{" or "//", no part
// starting with '.' or ending with ".lock", not "@", and not starting with '-'
// or '/' nor ending with '/' or '.'. A name that passes is also safe in a URL
// path and on a command line.
func Branch(name string) error {
	bad := func(reason string) error { return &Error{"branch name", name, reason} }
	switch {
	case name == "":
		return bad("must not be empty")
	case len(name) > MaxBranchLen:
		return bad(fmt.Sprintf("must be at most %d characters, is %d", MaxBranchLen, len(name)))
	case name == "@":
		return bad(`"@" is not a branch name`)
	case strings.HasPrefix(name, "-"):
		return bad("must not start with '-'")
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.HasSuffix(name, "."):
		return bad("must not start or end with '/' nor end with '.'")
	case strings.Contains(name, "..") || strings.Contains(name, "@{") || strings.Contains(name, "//"):
		return bad(`must not contain "..", "@{" or "//"`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == ' ' || strings.ContainsRune("~^:?*[\\", r) {
			return bad(fmt.Sprintf("must not contain %q (nor spaces, control characters or any of ~^:?*[\\)", r))
		}
	}
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return bad(fmt.Sprintf("part %q must not start with '.' nor end with \".lock\"", part))
		}
	}
	return nil
}

// PathElement says why a name is not a safe element of a path in a git tree,
// as git's fsck judges it (fsck.c, fsck_tree: hasDot, hasDotdot, hasDotgit,
// emptyName, fullPathname; NUL ends a name in a tree), or "" when it is one. The
// generator refuses such a name in a path it writes, and gitops in a tree it
// reads or commits.
func PathElement(name string) string {
	switch {
	case name == "":
		return "has an empty name"
	case name == "." || name == "..":
		return "is named " + name
	case strings.ContainsAny(name, "/\x00"):
		return "has a name holding '/' or NUL"
	case isNTFSDotGit(name) || isHFSDotGit(name):
		return "is named like git's own folder (.git in another case or in a spelling NTFS or HFS+ reads as .git)"
	}
	return ""
}

// isNTFSDotGit is git's is_ntfs_dotgit (path.c): ".git" or its 8.3 short name
// "git~1", in any case, followed only by spaces and periods (which NTFS drops), or
// by an alternate data stream (":stream").
func isNTFSDotGit(name string) bool {
	var i int
	switch {
	case len(name) >= 4 && name[0] == '.' && strings.EqualFold(name[1:4], "git"):
		i = 4
	case len(name) >= 5 && strings.EqualFold(name[:5], "git~1"):
		i = 5
	default:
		return false
	}
	for ; i < len(name); i++ {
		switch name[i] {
		case ':':
			return true
		case ' ', '.':
		default:
			return false
		}
	}
	return true
}

// hfsIgnored are the code points HFS+ ignores in a name (git's utf8.c,
// next_hfs_char): ".g\u200cit" is ".git" there.
var hfsIgnored = map[rune]bool{
	0x200c: true, 0x200d: true, 0x200e: true, 0x200f: true,
	0x202a: true, 0x202b: true, 0x202c: true, 0x202d: true, 0x202e: true,
	0x206a: true, 0x206b: true, 0x206c: true, 0x206d: true, 0x206e: true, 0x206f: true,
	0xfeff: true,
}

// isHFSDotGit is git's is_hfs_dotgit (utf8.c): ".git" in any ASCII case once the
// code points HFS+ ignores are dropped.
func isHFSDotGit(name string) bool {
	var b strings.Builder
	for _, r := range name {
		if hfsIgnored[r] {
			continue
		}
		if r > 0x7f {
			return false
		}
		b.WriteRune(r)
	}
	return strings.EqualFold(b.String(), ".git")
}
