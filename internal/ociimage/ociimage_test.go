package ociimage

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tarball make image writes, read back: a non-root user, the operator as the
// entrypoint, the binary executable in the layer; the same input, the same digest.
func TestBuild_TarballHasNonRootUserAndEntrypoint(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "plattr-operator")
	require.NoError(t, os.WriteFile(bin, []byte("\x7fELF fake operator"), 0o755))
	o := Options{Binary: bin, Entrypoint: "/plattr-operator", OS: "linux", Arch: "amd64"}
	img, err := Build(o)
	require.NoError(t, err)
	out := filepath.Join(dir, "image.tar")
	require.NoError(t, Write(img, "ghcr.io/plattr/plattr-operator:test", out))

	read, err := tarball.ImageFromPath(out, nil)
	require.NoError(t, err)
	cfg, err := read.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "65532:65532", cfg.Config.User)
	assert.NotContains(t, []string{"", "0", "root", "0:0"}, cfg.Config.User)
	assert.Equal(t, []string{"/plattr-operator"}, cfg.Config.Entrypoint)
	assert.Equal(t, "linux", cfg.OS)
	assert.Equal(t, "amd64", cfg.Architecture)

	layers, err := read.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	found := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		found[h.Name] = h.Mode
	}
	assert.Equal(t, int64(0o755), found["plattr-operator"], "the binary is executable")
	assert.Contains(t, found, "etc/passwd")

	again, err := Build(o)
	require.NoError(t, err)
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	assert.Equal(t, d1, d2, "reproducible")
}
