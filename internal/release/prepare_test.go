package release

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The repository's install files name one version: the kustomize remote base at
// a tag installs the image the chart and install.yaml of that tag name.
func TestRepoVersion_Agrees(t *testing.T) {
	v, err := RepoVersion(repoRoot(t))
	require.NoError(t, err)
	assert.NoError(t, CheckVersion(v))
}

func TestPrepare(t *testing.T) {
	root := t.TempDir()
	src := repoRoot(t)
	for _, f := range []string{operatorKustomization, chartFile, changelogFile} {
		data, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, f), data, 0o644))
	}
	day := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	require.NoError(t, Prepare(root, "v0.9.0", day))
	v, err := RepoVersion(root)
	require.NoError(t, err)
	assert.Equal(t, "v0.9.0", v)
	log, err := os.ReadFile(filepath.Join(root, changelogFile))
	require.NoError(t, err)
	assert.Contains(t, string(log), "## Unreleased\n\n## v0.9.0 (2027-01-15)\n", "the notes become the release's, under a new Unreleased")
	err = Prepare(root, "v0.9.0", day)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already has a section for v0.9.0")
	assert.ErrorContains(t, Prepare(root, "0.9.1", day), "is not a release version")

	k, err := os.ReadFile(filepath.Join(root, operatorKustomization))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, operatorKustomization), []byte(strings.Replace(string(k), "v0.9.0", "v0.9.1", 1)), 0o644))
	_, err = RepoVersion(root)
	assert.ErrorContains(t, err, "the versions disagree")
}
