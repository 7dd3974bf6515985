package plattrgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/internal/gittest"
)

const image = "ghcr.io/acme/hello@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

type run struct {
	code     int
	out, err string
}

func plattrGen(t *testing.T, env map[string]string, args ...string) run {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := Main(context.Background(), args, IO{Out: &out, Err: &errb, Getenv: getenv})
	return run{code, out.String(), errb.String()}
}

func exampleDir() string { return filepath.Join("..", "..", "..", "examples", "hello") }

// newEnvRepo is a bare repo initialised by env init.
func newEnvRepo(t *testing.T) string {
	t.Helper()
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r := plattrGen(t, nil, "env", "init", "--repo", repo, "--domain", "apps.example.com", "--repo-url", "https://github.com/acme/env.git")
	require.Equal(t, 0, r.code, r.err)
	return repo
}

func TestEnvInit(t *testing.T) {
	repo := newEnvRepo(t)
	files := gittest.Files(t, repo)
	assert.Contains(t, files["plattr-env.yaml"], "- name: prod\n  namespace: prod\n  production: true")
	assert.Contains(t, files["bootstrap/uat.yaml"], "name: plattr-uat")
	assert.Contains(t, files, "envs/preview/apps/kustomization.yaml")

	r := plattrGen(t, nil, "env", "init", "--repo", repo, "--domain", "apps.example.com", "--repo-url", "https://github.com/acme/env.git")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.out, "already initialised: nothing to commit")
	assert.Equal(t, 1, gittest.CommitCount(t, repo))

	r = plattrGen(t, nil, "env", "init", "--repo", repo, "--domain", "other.example.com", "--repo-url", "https://github.com/acme/env.git")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "already initialised with other settings")
	assert.Equal(t, 1, gittest.CommitCount(t, repo))
}

// Without --repo-url, Argo CD's URL comes from --repo, never with its credentials.
func TestEnvInit_RepoURLWithoutCredentials(t *testing.T) {
	root := t.TempDir()
	repo := gittest.BareRepo(t, filepath.Join(root, "env.git"))
	srv := gittest.Serve(t, root, "x-access-token", "s3cret-token")
	withCreds := strings.Replace(srv.URL, "http://", "http://x-access-token:s3cret-token@", 1) + "/env.git"
	r := plattrGen(t, nil, "env", "init", "--repo", withCreds, "--domain", "apps.example.com", "--allow-http")
	require.Equal(t, 0, r.code, r.err)
	files := gittest.Files(t, repo)
	assert.Contains(t, files["plattr-env.yaml"], "repoURL: "+srv.URL+"/env.git\n")
	for path, content := range files {
		assert.NotContains(t, content, "s3cret-token", path)
	}
	assert.NotContains(t, r.out+r.err, "s3cret-token")

	// A local path is kept (tests and demos), with a warning that Argo CD cannot reach it.
	local := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r = plattrGen(t, nil, "env", "init", "--repo", local, "--domain", "apps.example.com")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.err, "warning: Argo CD will clone the env repo from the local path "+local+"; pass --repo-url")
}

func TestRender_CommitsAndReports(t *testing.T) {
	repo := newEnvRepo(t)
	summary := filepath.Join(t.TempDir(), "summary.md")
	env := map[string]string{"GITHUB_REPOSITORY": "acme/hello", "GITHUB_SHA": "3f9c1a2b4d5e6f708192a3b4c5d6e7f809102132",
		"GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "77", "GITHUB_STEP_SUMMARY": summary}
	r := plattrGen(t, env, "render", "--app-dir", exampleDir(), "--env", "staging", "--image", image, "--repo", repo)
	require.Equal(t, 0, r.code, r.err)
	head := gittest.Git(t, repo, "rev-parse", "main")
	assert.Contains(t, r.out, "hello: deployed sha256:0123456789ab to staging in "+repo+" as commit "+head+" (", "one line, the commit labelled")
	assert.Equal(t, 1, strings.Count(r.out, "\n"))

	msg := gittest.Git(t, repo, "log", "-1", "--format=%B", "main")
	assert.Contains(t, msg, "hello: deploy sha256:0123456789ab (source 3f9c1a2b) to staging")
	assert.Contains(t, msg, "Plattr-Source-Repo: acme/hello")
	assert.Contains(t, msg, "Plattr-CI-Run: https://github.com/acme/hello/actions/runs/77")
	s, err := os.ReadFile(summary)
	require.NoError(t, err)
	assert.Contains(t, string(s), "### Plattr: hello → staging")
	assert.Contains(t, string(s), head[:12])

	delete(env, "GITHUB_STEP_SUMMARY")
	r = plattrGen(t, env, "render", "--app-dir", exampleDir(), "--env", "staging", "--image", image, "--repo", repo, "--output", "json")
	require.Equal(t, 0, r.code, r.err)
	var rep renderReport
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
	assert.Equal(t, "", rep.Commit, "nothing changed, so no commit")
	assert.Equal(t, "hello", rep.App)
	assert.Equal(t, "staging", rep.Environment)
	assert.Empty(t, rep.Changed)
}

func TestRender_PreviewAndDryRun(t *testing.T) {
	repo := newEnvRepo(t)
	r := plattrGen(t, nil, "render", "--app-dir", exampleDir(), "--pr", "7", "--image", image, "--repo", repo, "--dry-run")
	require.Equal(t, 1, r.code, "a dry run that would change something exits 1: %s", r.err)
	assert.Contains(t, r.out, "+++ b/envs/preview/hello-pr-7/release.yaml")
	assert.Contains(t, r.out, "+  deletionPolicy: Delete")
	assert.Contains(t, r.err, "would change 5 file(s); nothing committed")
	assert.NotContains(t, r.err, "plattr-gen:", "no error is reported")
	assert.Equal(t, 1, gittest.CommitCount(t, repo), "a dry run commits nothing")
	// stdout is a patch git applies to a checkout of the env repo.
	work := gittest.Clone(t, repo)
	patch := filepath.Join(t.TempDir(), "render.diff")
	require.NoError(t, os.WriteFile(patch, []byte(r.out), 0o644))
	gittest.Git(t, work, "apply", "--check", patch)

	r = plattrGen(t, nil, "render", "--app-dir", exampleDir(), "--pr", "7", "--image", image, "--repo", repo)
	require.Equal(t, 0, r.code, r.err)
	assert.Regexp(t, `^hello: deployed sha256:\S+ to preview of PR #7 in \S+ as commit [0-9a-f]{40} \(5 file\(s\) changed, 1 push\)\n$`, r.out)
	r = plattrGen(t, nil, "render", "--app-dir", exampleDir(), "--pr", "7", "--image", image, "--repo", repo, "--dry-run")
	assert.Equal(t, 0, r.code, "nothing would change: exit 0: %s", r.err)
	assert.Empty(t, r.out)
	r = plattrGen(t, nil, "render", "--app-dir", exampleDir(), "--pr", "7", "--image", image, "--repo", filepath.Join(t.TempDir(), "missing"), "--dry-run")
	assert.Equal(t, 2, r.code, "trouble in a dry run exits 2: %s", r.err)
	files := gittest.Files(t, repo)
	assert.Contains(t, files["envs/preview/hello-pr-7/env.yaml"], "host: hello-pr-7.preview.apps.example.com")
	assert.Contains(t, files["envs/preview/apps/hello-pr-7.yaml"], "namespace: preview")
}

// Bad input is refused with a message naming the flag, file or field, and
// nothing is written.
func TestRender_BadInputWritesNothing(t *testing.T) {
	repo := newEnvRepo(t)
	badApp := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(badApp, "plattr.yaml"), []byte("name: hello\nreplica: 2\n"), 0o644))
	longApp := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(longApp, "plattr.yaml"), []byte("name: "+strings.Repeat("a", 64)+"\n"), 0o644))
	climbApp := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(climbApp, "plattr.yaml"), []byte("name: ../prod\n"), 0o644))
	fifoApp := t.TempDir()
	require.NoError(t, syscall.Mkfifo(filepath.Join(fifoApp, "plattr.yaml"), 0o644))
	hugeApp := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(hugeApp, "plattr.yaml"), []byte("name: hello\n#"+strings.Repeat("x", 200<<10)+"\n"), 0o644))
	twoApp := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(twoApp, "plattr.yaml"), []byte("name: hello\n---\nname: other\n"), 0o644))
	varsApp := t.TempDir()
	var vars strings.Builder
	for i := 0; i < 201; i++ {
		fmt.Fprintf(&vars, "  V%03d: x\n", i)
	}
	require.NoError(t, os.WriteFile(filepath.Join(varsApp, "plattr.yaml"), []byte("name: hello\nenv:\n"+vars.String()), 0o644))
	cases := map[string]struct {
		reason string
		args   []string
		code   int
		want   string
	}{
		"tag image":    {"tags move", []string{"--env", "staging", "--image", "ghcr.io/acme/hello:v1"}, 2, "--image: image \"ghcr.io/acme/hello:v1\" is pinned by tag only"},
		"unknown env":  {"environments come from the repo", []string{"--env", "qa", "--image", image}, 1, `unknown environment "qa": plattr-env.yaml declares staging, uat, prod`},
		"climbing env": {"paths in names", []string{"--env", "../prod", "--image", image}, 1, `invalid environment name "../prod"`},
		"slash env":    {"paths in names", []string{"--env", "a/b", "--image", image}, 1, `invalid environment name "a/b"`},
		"git env":      {"git's folder", []string{"--env", ".git", "--image", image}, 1, `invalid environment name ".git"`},
		"absolute env": {"absolute paths", []string{"--env", "/etc", "--image", image}, 1, `invalid environment name "/etc"`},
		"env and pr":   {"one target", []string{"--env", "staging", "--pr", "3", "--image", image}, 2, "--env and --pr exclude each other"},
		"no target":    {"a target is needed", []string{"--image", image}, 2, "give --env ENV, or --pr N"},
		"no image":     {"an image is needed", []string{"--env", "staging"}, 2, "--image is required"},
		"bad pr":       {"PR numbers are positive", []string{"--pr", "-4", "--image", image}, 2, `invalid argument "-4" for "--pr" flag: a pull request number is written in decimal`},
		"octal pr":     {"010 was PR 8", []string{"--pr", "010", "--image", image}, 2, `invalid argument "010" for "--pr" flag: a pull request number is written in decimal, without sign or leading zeros`},
		"hex pr":       {"0x10 was PR 16", []string{"--pr", "0x10", "--image", image}, 2, `invalid argument "0x10" for "--pr" flag`},
		"zero pr":      {"--pr 0 said: give --env ENV, or --pr N", []string{"--pr", "0", "--image", image}, 2, `invalid pull request number "0": must be between 1 and 999999`},
		"huge pr":      {"at most six digits", []string{"--pr", "1000000", "--image", image}, 2, `invalid pull request number "1000000"`},
		"forged trailer": {"a newline in source metadata forged a trailer", []string{"--env", "staging", "--image", image, "--source-repo", "acme/hello\nPlattr-Environment: prod"}, 2,
			"--source-repo holds a control character (a newline would forge a commit trailer)"},
		"forged sign-off": {"a newline in the commit", []string{"--env", "staging", "--image", image, "--source-commit", "abc1234\nSigned-off-by: x"}, 2, "--source-commit"},
		"fifo manifest":   {"a FIFO blocked forever", []string{"--app-dir", fifoApp, "--env", "staging", "--image", image}, 1, "plattr.yaml: is a named pipe (FIFO), not a regular file"},
		"huge manifest":   {"a 50 MB plattr.yaml took minutes", []string{"--app-dir", hugeApp, "--env", "staging", "--image", image}, 1, "plattr.yaml: is 204814 bytes, more than the 131072 allowed"},
		"two documents":   {"the second was ignored", []string{"--app-dir", twoApp, "--env", "staging", "--image", image}, 1, "plattr.yaml:2: holds more than one YAML document"},
		"too many vars":   {"the CRD allows 200", []string{"--app-dir", varsApp, "--env", "staging", "--image", image}, 1, "plattr.yaml:2: env: Too many: 201: must have at most 200 items"},
		"unknown flag":    {"typos in flags", []string{"--envv", "staging"}, 2, "unknown flag: --envv"},
		"unknown field":   {"typos in plattr.yaml", []string{"--app-dir", badApp, "--env", "staging", "--image", image}, 1, "plattr.yaml:2: replica: unknown field"},
		"long name":       {"64-character app names", []string{"--app-dir", longApp, "--env", "staging", "--image", image}, 1, "name: must be at most 40 characters, is 64"},
		"climbing name":   {"app names are labels", []string{"--app-dir", climbApp, "--env", "staging", "--image", image}, 1, "name: must be lower-case letters"},
		"no manifest":     {"no plattr.yaml", []string{"--app-dir", t.TempDir(), "--env", "staging", "--image", image}, 1, "plattr.yaml: no such file"},
		"output":          {"output formats", []string{"--env", "staging", "--image", image, "--output", "xml"}, 2, "--output must be text or json"},
	}
	before := gittest.Git(t, repo, "rev-parse", "main")
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"render", "--repo", repo}, tc.args...)
			if !contains(tc.args, "--app-dir") {
				args = append(args, "--app-dir", exampleDir())
			}
			r := plattrGen(t, nil, args...)
			assert.Equal(t, tc.code, r.code, "%s: %s", tc.reason, r.err)
			assert.Contains(t, r.err, tc.want, tc.reason)
			assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"), "nothing is committed")
		})
	}
}

func TestRender_RepoWithoutConfig(t *testing.T) {
	repo := gittest.BareRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r := plattrGen(t, nil, "render", "--app-dir", exampleDir(), "--env", "staging", "--image", image, "--repo", repo)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "run 'plattr-gen env init' on it first")
	assert.Equal(t, 0, gittest.CommitCount(t, repo))

	r = plattrGen(t, nil, "render", "--app-dir", exampleDir(), "--env", "staging", "--image", image, "--repo", filepath.Join(t.TempDir(), "missing"))
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "does not exist: create it with 'git init --bare")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// An unknown command is a usage error (exit code 2), at every level.
func TestUnknownCommand(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"preview", "bogus"}, {"env", "bogus"}} {
		r := plattrGen(t, nil, args...)
		assert.Equal(t, ExitUsage, r.code, args)
		assert.Contains(t, r.err, `unknown command "bogus"`)
	}
}

// Under GitHub Actions an error is also a workflow command, on plattr.yaml's
// file and line when it is about one, escaped as the runner reads it.
func TestErrorAnnotations(t *testing.T) {
	repo := newEnvRepo(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plattr.yaml"), []byte("name: hello\ndatabse:\n  enabled: true\n"), 0o644))
	gha := map[string]string{"GITHUB_ACTIONS": "true"}
	r := plattrGen(t, gha, "render", "--app-dir", dir, "--env", "staging", "--image", image, "--repo", repo)
	assert.Equal(t, 1, r.code, r.err)
	assert.Contains(t, r.out, "::error file="+filepath.Join(dir, "plattr.yaml")+",line=2,title=plattr-gen::")
	assert.Contains(t, r.out, "databse: unknown field")

	r = plattrGen(t, gha, "render", "--app-dir", dir, "--env", "staging", "--image", "not an image", "--repo", repo)
	assert.Contains(t, r.out, "::error title=plattr-gen::--image")

	r = plattrGen(t, nil, "render", "--app-dir", dir, "--env", "staging", "--image", image, "--repo", repo)
	assert.NotContains(t, r.out, "::error", "outside Actions, no workflow commands")

	assert.Equal(t, "::error title=plattr-gen::a%25b%0Ac", annotation(errors.New("x"), "a%b\nc"))
	assert.Equal(t, "::error file=a%3Ab%2Cc,line=3,title=plattr-gen::m", annotation(&manifest.Error{File: "a:b,c", Line: 3}, "m"))
}
