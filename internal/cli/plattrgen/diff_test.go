package plattrgen

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/gitops"
)

// What --dry-run prints is a patch git applies: new, changed and deleted
// files, lines without a final newline, empty files.
func TestUnifiedDiff_GitApplies(t *testing.T) {
	old := generator.Files{
		"keep.yaml":    []byte("a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\ng: 7\nh: 8\n"),
		"gone.yaml":    []byte("x: 1\n"),
		"noeol.yaml":   []byte("a: 1\nb: 2"),
		"d/empty.yaml": []byte(""),
	}
	res := gitops.Result{Old: old, New: generator.Files{
		"keep.yaml":    []byte("a: 1\nb: two\nc: 3\nd: 4\ne: 5\nf: 6\ng: 7\nh: eight\n"),
		"gone.yaml":    nil,
		"noeol.yaml":   []byte("a: 1\nb: 2\n"),
		"new/new.yaml": []byte("n: 1\nm: 2\n"),
		"d/empty.yaml": []byte("now: here\n"),
	}}
	for p := range res.New {
		res.Changed = append(res.Changed, p)
	}
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return string(out)
	}
	git("init", "-q")
	for p, data := range old {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), data, 0o644))
	}
	patch := filepath.Join(t.TempDir(), "p.diff")
	require.NoError(t, os.WriteFile(patch, []byte(unifiedDiff(res)), 0o644))
	git("apply", "--check", patch)
	git("apply", patch)
	for p, want := range res.New {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if want == nil {
			assert.True(t, os.IsNotExist(err), "%s is deleted", p)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), p)
	}
}
