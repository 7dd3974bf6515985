package plattr

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/internal/version"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, IO{Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

// lint runs actionlint (the library) over a workflow and returns its findings.
func lint(t *testing.T, path string) []*actionlint.Error {
	t.Helper()
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	require.NoError(t, err)
	errs, err := l.LintFile(path, nil)
	require.NoError(t, err)
	return errs
}

func TestInit_WritesFilesThatLoadAndLint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "My_Shop.v2")
	require.NoError(t, os.Mkdir(dir, 0o755))
	code, out, errOut := run(t, "init", "--dir", dir, "--env-repo", "acme/env")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "wrote   plattr.yaml")
	assert.Contains(t, out, "PLATTR_ENV_REPO_TOKEN")

	m, err := manifest.Load(filepath.Join(dir, "plattr.yaml"))
	require.NoError(t, err, "the written plattr.yaml loads")
	assert.Equal(t, "my-shop-v2", m.Name, "the name comes from the folder")

	wf := filepath.Join(dir, ".github", "workflows", "plattr-deploy.yml")
	for _, e := range lint(t, wf) {
		t.Errorf("actionlint: %s", e.Error())
	}
	data, err := os.ReadFile(wf)
	require.NoError(t, err)
	for _, want := range []string{"uses: plattr/plattr/.github/workflows/deploy.yml@main", "packages: write", "pull-requests: read",
		"app: my-shop-v2", "env-repo: ${{ vars.PLATTR_ENV_REPO || 'acme/env' }}", "env-repo-token: ${{ secrets.PLATTR_ENV_REPO_TOKEN }}"} {
		assert.Contains(t, string(data), want)
	}
	assert.NotContains(t, string(data), "id-token", "ghcr.io needs no OIDC token")
	assert.NotContains(t, string(data), "go install", "nothing compiles Plattr")
	assert.Contains(t, out, "development build", "a development build says it pins no release")
	dependabot, err := os.ReadFile(filepath.Join(dir, ".github", "dependabot.yml"))
	require.NoError(t, err)
	assert.Contains(t, string(dependabot), "package-ecosystem: github-actions")

	before := string(data)
	code, out, _ = run(t, "init", "--dir", dir, "--registry", "ghcr.io/other")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "nothing to do: every file exists")
	after, _ := os.ReadFile(wf)
	assert.Equal(t, before, string(after), "nothing is overwritten without --force")

	code, _, _ = run(t, "init", "--dir", dir, "--registry", "ghcr.io/other", "--force")
	require.Equal(t, 0, code)
	after, _ = os.ReadFile(wf)
	assert.Contains(t, string(after), "ghcr.io/other")
	assert.Empty(t, lint(t, wf))

	// An ECR registry: the OIDC token instead of packages, and the role to assume.
	code, out, _ = run(t, "init", "--dir", dir, "--registry", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme", "--force")
	require.Equal(t, 0, code)
	after, _ = os.ReadFile(wf)
	assert.Contains(t, string(after), "id-token: write")
	assert.NotContains(t, string(after), "packages: write")
	assert.Contains(t, string(after), "aws-role-arn: ${{ vars.PLATTR_AWS_ROLE_ARN }}")
	assert.Contains(t, out, "PLATTR_AWS_ROLE_ARN")
	assert.Empty(t, lint(t, wf))
}

// A release of plattr pins the deploy workflow by the commit it was built from,
// with the version in a comment as Dependabot reads it; anything else names main.
func TestWorkflowRef(t *testing.T) {
	commit := strings.Repeat("ab", 20)
	uses, released := workflowRef(version.Info{Version: "v1.2.3", Commit: commit})
	assert.True(t, released)
	assert.Equal(t, "plattr/plattr/.github/workflows/deploy.yml@"+commit+" # v1.2.3", uses)
	for _, v := range []version.Info{
		{Version: "devel", Commit: commit},
		{Version: "v1.2.3", Commit: commit, Modified: true},
		{Version: "v1.2.3", Commit: "abc"},
		{Version: "v1.2.3"},
		{Version: "1.2.3", Commit: commit},
	} {
		uses, released := workflowRef(v)
		assert.False(t, released, "%+v", v)
		assert.Equal(t, "plattr/plattr/.github/workflows/deploy.yml@main", uses)
	}
}

func TestInit_BadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"init", "--dir", dir, "--name", "Bad_Name"}, "invalid application name"},
		{[]string{"init", "--dir", dir, "--name", "ok", "--env-repo", "no-slash"}, "--env-repo must be owner/name"},
		{[]string{"init", "--dir", filepath.Join(dir, "missing")}, "is not a folder"},
		{[]string{"init", "--dir", dir, "--name", "ok", "--registry", "x'; rm -rf /"}, "--registry must be"},
		{[]string{"init", "extra"}, "takes no arguments"},
	} {
		code, _, errOut := run(t, tc.args...)
		assert.Equal(t, 2, code, tc.args)
		assert.Contains(t, errOut, tc.want)
	}
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries, "bad input writes nothing")
}

func TestNameFrom(t *testing.T) {
	assert.Equal(t, "shop", nameFrom("/src/shop"))
	assert.Equal(t, "my-shop-v2", nameFrom("/src/My_Shop.v2"))
	assert.Equal(t, "app", nameFrom("/src/123-app"))
	assert.Len(t, nameFrom("/src/"+strings.Repeat("a", 80)), 40)
}

// The lint check can fail: a broken workflow has findings.
func TestLint_FindsMistakes(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yml")
	require.NoError(t, os.WriteFile(bad, []byte("on: push\njobs:\n  a:\n    needs: missing\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"${{ github.event.head_commit.message }}\"\n"), 0o644))
	errs := lint(t, bad)
	require.NotEmpty(t, errs)
	var kinds []string
	for _, e := range errs {
		kinds = append(kinds, e.Kind)
	}
	assert.Contains(t, kinds, "job-needs")
	assert.Contains(t, kinds, "expression", "script injection through an untrusted input")
}

// Every workflow of this repository passes actionlint too.
func TestRepositoryWorkflowsLint(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", ".github", "workflows", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		for _, e := range lint(t, f) {
			t.Errorf("%s: %s", filepath.Base(f), e.Error())
		}
	}
}

// An unknown command is a usage error (exit code 2).
func TestUnknownCommand(t *testing.T) {
	code, _, errOut := run(t, "bogus")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "bogus" for "plattr"`)
}

// The deploy workflow's settings job checks the app's name and the registry with
// the rules plattr and plattr-gen use, written as the same patterns.
func TestDeployWorkflow_SharesTheNameRules(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", ".github", "workflows", "deploy.yml"))
	require.NoError(t, err)
	assert.Contains(t, string(data), `[[ "$APP" =~ `+names.DNS1035+` ]]`)
	assert.Contains(t, string(data), `[[ "$host" =~ ^`+ECRHostPattern+`$ ]]`)
}
