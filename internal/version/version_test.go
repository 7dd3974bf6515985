package version

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestString_DevelWithoutLinkerFlags(t *testing.T) {
	s := String("plattr-gen")
	assert.True(t, strings.HasPrefix(s, "plattr-gen "), s)
	assert.Contains(t, s, runtime.Version())
	assert.Equal(t, "plattr-operator/"+Version()+" ("+runtime.GOOS+"/"+runtime.GOARCH+")", UserAgent("plattr-operator"))
}

// Each program, linked with the release's flag, reports that version through
// `version` or --version (the operator: --version), from this one package.
func TestVersion_EveryProgramFromLinkerFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the programs")
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/", "-ldflags", "-X github.com/plattr/plattr/internal/version.version=v9.8.7 -X github.com/plattr/plattr/internal/version.commit=0123456789abcdef0123456789abcdef01234567",
		"../../cmd/plattr", "../../cmd/plattr-gen", "../../cmd/plattr-operator")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, run := range [][]string{{"plattr", "version"}, {"plattr", "--version"}, {"plattr-gen", "version"}, {"plattr-gen", "--version"}, {"plattr-operator", "--version"}} {
		got, err := exec.Command(filepath.Join(dir, run[0]), run[1:]...).CombinedOutput()
		require.NoError(t, err, "%v: %s", run, got)
		assert.True(t, strings.HasPrefix(string(got), run[0]+" v9.8.7 (commit 0123456789ab"), "%v: %s", run, got)
	}
	got, err := exec.Command(filepath.Join(dir, "plattr"), "version", "--output", "json").Output()
	require.NoError(t, err)
	assert.Contains(t, string(got), `"version":"v9.8.7"`)
	assert.Contains(t, string(got), `"commit":"0123456789abcdef0123456789abcdef01234567"`, "the linker's commit wins over the checkout's")
}
