package names

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestApp(t *testing.T) {
	cases := map[string]struct {
		reason string
		name   string
		ok     bool
	}{
		"simple":        {"a plain label", "hello", true},
		"dashes":        {"dashes inside are fine", "my-shop-2", true},
		"max":           {"40 characters is the limit", strings.Repeat("a", 40), true},
		"too long":      {"41 characters leave no room for -pr-<n>", strings.Repeat("a", 41), false},
		"64":            {"a 64-character name", strings.Repeat("a", 64), false},
		"dotdot":        {"climbs out of the folder", "../prod", false},
		"slash":         {"nests folders", "a/b", false},
		"git":           {"the git folder", ".git", false},
		"absolute":      {"absolute path", "/etc/passwd", false},
		"upper":         {"upper case", "Hello", false},
		"digit first":   {"not a DNS-1035 label (Service names)", "1app", false},
		"trailing dash": {"ends with a dash", "app-", false},
		"apps":          {"collides with envs/<env>/apps", "apps", false},
		"empty":         {"nothing", "", false},
		"unicode":       {"non-ASCII", "café", false},
		"dot":           {"dots make sub-domains", "a.b", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := App(tc.name)
			if tc.ok {
				assert.NoError(t, err, tc.reason)
				return
			}
			assert.Error(t, err, tc.reason)
			if err != nil {
				assert.Contains(t, err.Error(), "application name", "the error names what was wrong")
			}
		})
	}
}

func TestEnv(t *testing.T) {
	assert.NoError(t, Env("staging"))
	assert.NoError(t, Env("prod"))
	assert.ErrorContains(t, Env("preview"), "reserved")
	assert.ErrorContains(t, Env("../prod"), "environment name")
	assert.ErrorContains(t, Env(strings.Repeat("e", 17)), "at most 16")
}

func TestPR(t *testing.T) {
	assert.NoError(t, PR(1))
	assert.NoError(t, PR(MaxPR))
	assert.Error(t, PR(0))
	assert.Error(t, PR(-3))
	assert.Error(t, PR(MaxPR+1))
	assert.Equal(t, "hello-pr-7", Preview("hello", 7))
	assert.LessOrEqual(t, len("preview-"+Preview(strings.Repeat("a", MaxAppLen), MaxPR)), 63,
		"the longest preview child Application name is a DNS label")
}

func TestBranch(t *testing.T) {
	for _, ok := range []string{"main", "envs", "release/2026-12", "feature/a.b", "v1.2.3", "plattr/promote-staging-uat", "head", "a/HEAD", "HEAD/a"} {
		assert.NoError(t, Branch(ok), ok)
	}
	bad := map[string]string{
		"":                       "must not be empty",
		"-main":                  "must not start with '-'",
		"a..b":                   `".."`,
		"a b":                    "must not contain ' '",
		"main\n":                 `must not contain '\n'`,
		"main\x7f":               `must not contain '\x7f'`,
		"ref:x":                  "must not contain ':'",
		"a~1":                    "must not contain '~'",
		"a^":                     "must not contain '^'",
		"a?":                     "must not contain '?'",
		"a*":                     "must not contain '*'",
		"a[b":                    "must not contain '['",
		`a\b`:                    `must not contain '\\'`,
		"a@{1}":                  `"@{"`,
		"@":                      `"@" is not a branch name`,
		"HEAD":                   `"HEAD" is not a branch name (git reads it as the current commit)`,
		"/main":                  "must not start or end with '/'",
		"main/":                  "must not start or end with '/'",
		"main.":                  "end with '.'",
		"a//b":                   `"//"`,
		".hidden":                `part ".hidden" must not start with '.'`,
		"x/.git":                 `part ".git"`,
		"main.lock":              `".lock"`,
		"a/b.lock/c":             `part "b.lock"`,
		strings.Repeat("b", 201): "at most 200",
	}
	for name, want := range bad {
		err := Branch(name)
		if assert.Error(t, err, "%q", name) {
			assert.Contains(t, err.Error(), want, "%q", name)
			assert.Contains(t, err.Error(), "invalid branch name")
		}
	}
}

func TestPathElement(t *testing.T) {
	for _, ok := range []string{"envs", "release.yaml", ".github", "git", ".gitignore", ".gitattributes", ".mailmap", "a.git", "...",
		"gitmodules", ".gitmodulesx", "gitmod~5", "gi7eba~0", "~123456"} {
		assert.Empty(t, PathElement(ok), ok)
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a\x00b", ".git", ".GIT", ".Git", "git~1", "GIT~1", ".git.", ".git ", ".git::$INDEX_ALLOCATION", ".g\u200cit", "\ufeff.git", `a\.git`} {
		assert.NotEmpty(t, PathElement(bad), "%q", bad)
	}
	// Every spelling git's fsck takes for .gitmodules (gitops checks the list
	// against git fsck itself).
	for _, bad := range []string{".gitmodules", ".GITMODULES", ".gitmodules.", ".gitmodules :x", "GITMOD~1", "gitmod~4", "gi7eba~1", "GI7EB~12",
		"~1234567", ".gitmod\u200cules", ".gitmodules\xff", `x\GitMod~2`} {
		assert.Contains(t, PathElement(bad), "is named like .gitmodules", "%q", bad)
	}
}

func TestRepo(t *testing.T) {
	for _, ok := range []string{"acme/env", "acme/env.git", "Acme-Corp/my_env.v2", "a/.github", strings.Repeat("o", 39) + "/" + strings.Repeat("n", 100)} {
		assert.NoError(t, Repo(ok), ok)
	}
	bad := map[string]string{
		"acme/..":                        `must not be "." nor contain ".."`,
		"acme/.":                         `must not be "." nor contain ".."`,
		"../env":                         `must not be "." nor contain ".."`,
		"acme/a..b":                      `must not be "." nor contain ".."`,
		"acme?x=/y":                      "must be owner/name, each of letters, digits, '-', '.' and '_'",
		"acme/env?per=1":                 "must be owner/name, each of letters, digits, '-', '.' and '_'",
		"acme/env#x":                     "must be owner/name, each of letters, digits, '-', '.' and '_'",
		"acme/env/pulls":                 "must be owner/name, each of letters, digits, '-', '.' and '_'",
		"acme/env%2f..":                  "must be owner/name, each of letters, digits, '-', '.' and '_'",
		"acme/env\n":                     "must be owner/name, each of letters, digits, '-', '.' and '_'",
		"acme/ env":                      "must be owner/name, each of letters, digits, '-', '.' and '_'",
		"acme":                           "must be owner/name",
		"/env":                           "must be owner/name",
		"acme/":                          "must be owner/name",
		"":                               "must be owner/name",
		strings.Repeat("o", 40) + "/env": "the owner must be at most 39 characters",
	}
	for name, want := range bad {
		err := Repo(name)
		if assert.Error(t, err, "%q", name) {
			assert.Contains(t, err.Error(), "invalid repository name "+strconv.Quote(name)+": "+want)
		}
	}
}

// ParsePreview reads back exactly what Preview makes, and nothing else: gc
// removes what it parses.
func TestParsePreview(t *testing.T) {
	app, n, ok := ParsePreview(Preview("my-pr-app", 42))
	assert.True(t, ok)
	assert.Equal(t, "my-pr-app", app)
	assert.Equal(t, 42, n)
	for _, bad := range []string{"hello", "hello-pr-", "hello-pr-042", "hello-pr-0", "hello-pr-+4", "-pr-4", "Hello-pr-4", "hello-pr-4x", "hello-pr-99999999"} {
		_, _, ok := ParsePreview(bad)
		assert.False(t, ok, bad)
	}
}
