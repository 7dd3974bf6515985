package plattrgen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/gittest"
)

// preview delete never reports a preview removed while any of its files stays:
// a subfolder of envs/preview/<app>-pr-<n>/ was left behind while the output said
// "removed … (5 file(s))". Either every file of the preview goes, and the count
// says how many files the commit changed, or the command fails naming the
// subfolder and commits nothing. (Which one depends on generator.RemoveApp
// listing files in subfolders too; gitops refuses to skip a folder.)
func TestPreviewDelete_SubfolderNeverLeftBehind(t *testing.T) {
	repo := newEnvRepo(t)
	r := plattrGen(t, nil, "render", "--app-dir", exampleDir(), "--pr", "7", "--image", image, "--repo", repo)
	require.Equal(t, ExitOK, r.code, r.err)
	work := gittest.Clone(t, repo)
	extra := filepath.Join(work, "envs/preview/hello-pr-7/extra")
	require.NoError(t, os.MkdirAll(filepath.Join(extra, "deeper"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(extra, "notes.yaml"), []byte("a: 1\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(extra, "deeper", "more.yaml"), []byte("b: 2\n"), 0o644))
	gittest.Git(t, work, "add", "-A")
	gittest.Git(t, work, "commit", "-qm", "a person adds files to the preview")
	gittest.Git(t, work, "push", "-q", "origin", "main")
	before := gittest.Git(t, repo, "rev-parse", "main")
	var previewFiles int
	for p := range gittest.Files(t, repo) {
		if strings.HasPrefix(p, "envs/preview/hello-pr-7/") {
			previewFiles++
		}
	}
	require.Equal(t, 5, previewFiles, "three rendered files and two a person added")

	r = plattrGen(t, nil, "preview", "delete", "--app", "hello", "--pr", "7", "--repo", repo)
	if r.code == ExitOK {
		for p := range gittest.Files(t, repo) {
			assert.False(t, strings.HasPrefix(p, "envs/preview/hello-pr-7/"), "%s was left behind", p)
		}
		// The preview's files, its child Application, and the list of children.
		assert.Contains(t, r.out, fmt.Sprintf("removed preview hello-pr-7 (%d file(s))", previewFiles+2))
		return
	}
	assert.Equal(t, ExitFailure, r.code, r.err)
	assert.Contains(t, r.err, "cannot delete envs/preview/hello-pr-7/extra as a file: it is a folder in the env repo")
	assert.NotContains(t, r.out, "removed")
	assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"), "nothing was committed")
}
