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
// kustomize, Argo CD); envfiles is a leaf.
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
	for _, d := range deps("./envfiles") {
		if strings.Contains(d, ".") {
			assert.Contains(t, []string{"github.com/plattr/plattr/envfiles", "github.com/plattr/plattr/generator/names"}, d, "envfiles depends on %s", d)
		}
	}
}
