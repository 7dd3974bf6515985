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
	"unicode/utf8"
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

// DNS1035 is the pattern of app and environment names: a DNS-1035 label, which
// starts with a letter, so the name is also a valid Service name.
const DNS1035 = `^[a-z]([-a-z0-9]*[a-z0-9])?$`

var dns1035 = regexp.MustCompile(DNS1035)

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
	return app + previewInfix + strconv.Itoa(n)
}

const previewInfix = "-pr-"

// ParsePreview reads a preview's name back: the app and the pull request number,
// ok only when name is exactly what Preview makes of a valid app and number.
func ParsePreview(name string) (app string, n int, ok bool) {
	i := strings.LastIndex(name, previewInfix)
	if i < 0 {
		return "", 0, false
	}
	app, num := name[:i], name[i+len(previewInfix):]
	n, err := strconv.Atoi(num)
	if err != nil || App(app) != nil || PR(n) != nil || Preview(app, n) != name {
		return "", 0, false
	}
	return app, n, true
}

// Limits of a repository name "owner/name", GitHub's own.
const (
	MaxOwnerLen = 39
	MaxRepoLen  = 100
)

var repoPart = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Repo checks a repository name "owner/name" (--github-repo, --app-repo): each
// part letters, digits, '-', '.' and '_', neither "." nor holding "..". It is
// put into API paths (/repos/owner/name/pulls): a '/', '?', '#' or dot segment
// would reach another endpoint or forge a query.
func Repo(ownerName string) error {
	bad := func(reason string) error { return &Error{"repository name", ownerName, reason} }
	owner, name, ok := strings.Cut(ownerName, "/")
	switch {
	case !ok || owner == "" || name == "":
		return bad("must be owner/name")
	case len(owner) > MaxOwnerLen || len(name) > MaxRepoLen:
		return bad(fmt.Sprintf("the owner must be at most %d characters and the name at most %d", MaxOwnerLen, MaxRepoLen))
	case !repoPart.MatchString(owner) || !repoPart.MatchString(name):
		return bad("must be owner/name, each of letters, digits, '-', '.' and '_'")
	case owner == "." || name == "." || strings.Contains(ownerName, ".."):
		return bad(`must not be "." nor contain ".."`)
	}
	return nil
}

// MaxBranchLen bounds a branch name (git itself allows longer ones; no env repo
// needs them).
const MaxBranchLen = 200

// Branch checks a branch name as `git check-ref-format --branch` does: no
// control characters, spaces or any of ~^:?*[\, no "..", "@{" or "//", no part
// starting with '.' or ending with ".lock", not "@" nor "HEAD", and not starting
// with '-' or '/' nor ending with '/' or '.'. A name that passes is also safe in
// a URL path and on a command line.
func Branch(name string) error {
	bad := func(reason string) error { return &Error{"branch name", name, reason} }
	switch {
	case name == "":
		return bad("must not be empty")
	case len(name) > MaxBranchLen:
		return bad(fmt.Sprintf("must be at most %d characters, is %d", MaxBranchLen, len(name)))
	case name == "@" || name == "HEAD":
		// git refuses refs/heads/HEAD: "HEAD" would name it and the current branch.
		return bad(fmt.Sprintf("%q is not a branch name (git reads it as the current commit)", name))
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
// emptyName, fullPathname; NUL ends a name in a tree), or "" when it is one.
// ".gitmodules", in every spelling git's fsck takes for it, is refused too: an
// env repo has no submodules, and git reads that file to clone them. The
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
	case isDotGit(name):
		return "is named like git's own folder (.git in another case or in a spelling NTFS or HFS+ reads as .git)"
	case isDotGitmodules(name):
		return "is named like .gitmodules (in some case or in a spelling NTFS or HFS+ reads as .gitmodules): env repos have no submodules"
	}
	return ""
}

// isDotGit is fsck's hasDotgit: is_hfs_dotgit or is_ntfs_dotgit of the name, or
// is_ntfs_dotgit of what follows any backslash in it (Windows reads a backslash
// as a folder separator).
func isDotGit(name string) bool {
	if isHFSDot(name, "git") || isNTFSDotGit(name) {
		return true
	}
	for _, rest := range afterBackslashes(name) {
		if isNTFSDotGit(rest) {
			return true
		}
	}
	return false
}

// isDotGitmodules is fsck's test for a .gitmodules entry: is_hfs_dotgitmodules
// or is_ntfs_dotgitmodules of the name, or is_ntfs_dotgitmodules of what follows
// any backslash in it.
func isDotGitmodules(name string) bool {
	const needle, shortPrefix = "gitmodules", "gi7eba" // git's path.c, is_ntfs_dotgitmodules
	if isHFSDot(name, needle) || isNTFSDot(name, needle, shortPrefix) {
		return true
	}
	for _, rest := range afterBackslashes(name) {
		if isNTFSDot(rest, needle, shortPrefix) {
			return true
		}
	}
	return false
}

// afterBackslashes is what follows each backslash of name.
func afterBackslashes(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == '\\' {
			out = append(out, name[i+1:])
		}
	}
	return out
}

// at is name[i], or 0 past its end (the NUL that ends a C string: git's
// functions below read names that way).
func at(name string, i int) byte {
	if i < len(name) {
		return name[i]
	}
	return 0
}

// lower folds ASCII letters only, as C's tolower does in git.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasPrefixFold is strncasecmp(name, prefix, len(prefix)) == 0: ASCII case only
// (strings.EqualFold also folds 'ſ' to 's', which git does not).
func hasPrefixFold(name, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lower(name[i]) != lower(prefix[i]) {
			return false
		}
	}
	return true
}

// onlySpacesAndPeriods is the tail of git's NTFS tests: from i, nothing but
// spaces and periods (which NTFS drops) up to the end, or an alternate data
// stream (":stream"). is_ntfs_dotgit also ends a name at a folder separator.
func onlySpacesAndPeriods(name string, i int, separators bool) bool {
	for ; ; i++ {
		switch c := at(name, i); {
		case c == 0 || c == ':' || (separators && (c == '\\' || c == '/')):
			return true
		case c != ' ' && c != '.':
			return false
		}
	}
}

// isNTFSDotGit is git's is_ntfs_dotgit (path.c): ".git" or its 8.3 short name
// "git~1", in any case, followed only by spaces and periods, a folder separator
// or an alternate data stream.
func isNTFSDotGit(name string) bool {
	switch {
	case at(name, 0) == '.' && hasPrefixFold(name[1:], "git"):
		return onlySpacesAndPeriods(name, 4, true)
	case hasPrefixFold(name, "git~1"):
		return onlySpacesAndPeriods(name, 5, true)
	}
	return false
}

// isNTFSDot is git's is_ntfs_dot_generic (path.c): "."+dotName in any case; or
// its regular 8.3 short name, the first six characters of dotName and "~1" to
// "~4"; or a fall-back short name, up to six characters of shortPrefix (git's
// hash of the name) and "~" with a number; each followed only by spaces and
// periods, or an alternate data stream.
func isNTFSDot(name, dotName, shortPrefix string) bool {
	if at(name, 0) == '.' && hasPrefixFold(name[1:], dotName) {
		return onlySpacesAndPeriods(name, len(dotName)+1, false)
	}
	if hasPrefixFold(name, dotName[:6]) && at(name, 6) == '~' && '1' <= at(name, 7) && at(name, 7) <= '4' {
		return onlySpacesAndPeriods(name, 8, false)
	}
	sawTilde := false
	for i := 0; i < 8; i++ {
		c := at(name, i)
		switch {
		case c == 0:
			return false
		case sawTilde:
			if c < '0' || c > '9' {
				return false
			}
		case c == '~':
			i++
			if d := at(name, i); d < '1' || d > '9' {
				return false
			}
			sawTilde = true
		case i >= 6, c&0x80 != 0, lower(c) != shortPrefix[i]:
			return false
		}
	}
	return onlySpacesAndPeriods(name, 8, false)
}

// hfsIgnored are the code points HFS+ ignores in a name (git's utf8.c,
// next_hfs_char): ".g\u200cit" is ".git" there.
var hfsIgnored = map[rune]bool{
	0x200c: true, 0x200d: true, 0x200e: true, 0x200f: true,
	0x202a: true, 0x202b: true, 0x202c: true, 0x202d: true, 0x202e: true,
	0x206a: true, 0x206b: true, 0x206c: true, 0x206d: true, 0x206e: true, 0x206f: true,
	0xfeff: true,
}

// nextHFSChar is git's next_hfs_char: the next code point of name that HFS+
// does not ignore, and the rest. The end of the name, and a malformed UTF-8
// sequence (git's pick_one_utf8_char also refuses U+FFFE and U+FFFF), are 0.
func nextHFSChar(name string) (rune, string) {
	for {
		if name == "" {
			return 0, ""
		}
		r, size := utf8.DecodeRuneInString(name)
		if (r == utf8.RuneError && size == 1) || r == 0xfffe || r == 0xffff {
			return 0, ""
		}
		name = name[size:]
		if !hfsIgnored[r] {
			return r, name
		}
	}
}

// isHFSDot is git's is_hfs_dot_generic (utf8.c): "."+needle in any ASCII case
// once the code points HFS+ ignores are dropped, up to the end of the name (or
// a malformed sequence, which git takes for one).
func isHFSDot(name, needle string) bool {
	c, rest := nextHFSChar(name)
	if c != '.' {
		return false
	}
	for i := 0; i < len(needle); i++ {
		c, rest = nextHFSChar(rest)
		if c > 0x7f || lower(byte(c)) != needle[i] {
			return false
		}
	}
	c, _ = nextHFSChar(rest)
	return c == 0
}
