package shipped

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
)

// maxTrackedFile is the largest file the repository may hold: build output,
// binaries and data belong in releases and caches, not in every clone.
const maxTrackedFile = 1 << 20

// binaryMagic starts executables and archives that must never be committed.
var binaryMagic = map[string][]byte{
	"an ELF executable": []byte("\x7fELF"), "a Mach-O executable": {0xcf, 0xfa, 0xed, 0xfe},
	"a fat Mach-O executable": {0xca, 0xfe, 0xba, 0xbe}, "a Windows executable": []byte("MZ"),
	"a gzip archive": {0x1f, 0x8b}, "a zip archive": []byte("PK\x03\x04"),
}

// Every tracked file is at most 1 MiB and text: no executable, archive or other
// binary is committed (the first session committed a 117 MiB build by mistake).
// Executable text files must start with "#!".
func TestRepository_NoLargeOrBinaryFiles(t *testing.T) {
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--stage").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	var n int
	for _, rec := range bytes.Split(bytes.TrimSuffix(out, []byte{0}), []byte{0}) {
		meta, name, ok := strings.Cut(string(rec), "\t")
		if !ok {
			continue
		}
		mode := strings.Fields(meta)[0]
		if mode == "160000" || mode == "120000" {
			t.Errorf("%s: a submodule or symbolic link; the repository holds regular files only", name)
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted in the working tree, not yet committed
		}
		require.NoError(t, err)
		n++
		assert.LessOrEqual(t, len(data), maxTrackedFile, "%s is %d bytes: files over 1 MiB are not committed", name, len(data))
		for what, magic := range binaryMagic {
			if bytes.HasPrefix(data, magic) && !(what == "a Windows executable" && isText(data)) {
				t.Errorf("%s is %s: binaries are never committed", name, what)
			}
		}
		if !isText(data) {
			t.Errorf("%s is not text (it holds a NUL byte)", name)
		}
		if mode == "100755" && !bytes.HasPrefix(data, []byte("#!")) {
			t.Errorf("%s is executable but not a script", name)
		}
	}
	assert.Greater(t, n, 100, "the check saw the repository's files")
}

func isText(data []byte) bool {
	head := data
	if len(head) > 8000 {
		head = head[:8000]
	}
	return !bytes.Contains(head, []byte{0})
}
