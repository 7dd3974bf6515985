package shipped

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
)

// The layers keep to their own dependencies: gitops knows git (go-git) and the
// env repo's files (envfiles), never what the files mean (the generator,
// kustomize, Argo CD); envfiles is a leaf; the operations (ops) are pure, no
// git and no network; the commands (internal/cli) wire, and reach git only
// through gitops.
func TestLayers(t *testing.T) {
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	deps := func(pkg string) []string {
		cmd := exec.Command("go", "list", "-deps", pkg)
		cmd.Dir = root
		out, err := cmd.Output()
		require.NoError(t, err)
		return strings.Fields(string(out))
	}
	for _, d := range deps("./gitops") {
		for _, banned := range []string{"sigs.k8s.io/kustomize", "github.com/argoproj/", "github.com/plattr/plattr/generator", "k8s.io/"} {
			if strings.HasPrefix(d, banned) && d != "github.com/plattr/plattr/generator/names" {
				t.Errorf("gitops depends on %s", d)
			}
		}
	}
	// Argo CD's types (through the generator) bring go-git along: what ops
	// itself imports is what is checked, and that no Plattr package of git or
	// GitHub is among its dependencies.
	for _, d := range deps("./ops") {
		if strings.HasPrefix(d, "github.com/plattr/plattr/gitops") || strings.HasPrefix(d, "github.com/plattr/plattr/internal/cli") {
			t.Errorf("ops depends on %s", d)
		}
	}
	imports := func(pkgs string) map[string][]string {
		cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, pkgs)
		cmd.Dir = root
		out, err := cmd.Output()
		require.NoError(t, err)
		m := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			pkg, list, _ := strings.Cut(line, " ")
			m[pkg] = strings.Fields(list)
		}
		return m
	}
	for _, i := range imports("./ops")["github.com/plattr/plattr/ops"] {
		banned := i == "net" || strings.HasPrefix(i, "net/") || i == "os" || strings.HasPrefix(i, "os/") ||
			strings.HasPrefix(i, "github.com/go-git/") || strings.HasPrefix(i, "github.com/google/go-github")
		if banned {
			t.Errorf("ops imports %s: operations plan on trees, without git, network or files", i)
		}
	}
	for pkg, list := range imports("./internal/cli/...") {
		for _, i := range list {
			if strings.HasPrefix(i, "github.com/go-git/") {
				t.Errorf("%s imports %s: commands reach git through gitops", pkg, i)
			}
		}
	}
	for _, d := range deps("./envfiles") {
		if strings.Contains(d, ".") {
			assert.Contains(t, []string{"github.com/plattr/plattr/envfiles", "github.com/plattr/plattr/generator/names"}, d, "envfiles depends on %s", d)
		}
	}
}
