package release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/ociimage"
	"github.com/plattr/plattr/internal/testenv"
)

// snapshotDist is the dist folder `make release-snapshot` filled; make test
// passes it (PLATTR_RELEASE_DIST). Without it the snapshot's tests are skipped.
func snapshotDist(t *testing.T) string {
	t.Helper()
	d := os.Getenv("PLATTR_RELEASE_DIST")
	if d == "" {
		t.Skip("PLATTR_RELEASE_DIST is not set: run make release-snapshot, or make test")
	}
	return d
}

// The release pipeline, run offline by make release-snapshot: every archive
// holds its program linked with the snapshot's version, the checksums match,
// each archive has a CycloneDX SBOM of its Go modules, the operator's image
// layout holds goreleaser's binaries for both platforms, non-root, and
// install.yaml and the chart name its digest and apply.
func TestReleaseSnapshot(t *testing.T) {
	dist := snapshotDist(t)
	g, err := ReadGoreleaser(dist)
	require.NoError(t, err)
	require.NoError(t, CheckVersion(g.Version), "the snapshot's version")

	archives, err := filepath.Glob(filepath.Join(dist, "*.tar.gz"))
	require.NoError(t, err)
	require.Len(t, archives, 8, "plattr and plattr-gen for linux and darwin on amd64 and arm64")
	for _, a := range archives {
		base := filepath.Base(a)
		program, rest, _ := strings.Cut(base, "_")
		platform := strings.TrimSuffix(strings.TrimPrefix(rest, strings.TrimPrefix(g.Version, "v")+"_"), ".tar.gz")
		t.Run(base, func(t *testing.T) {
			files := untarFile(t, a)
			for _, f := range []string{program, "LICENSE", "README.md", "CHANGELOG.md"} {
				require.Contains(t, files, f)
			}
			bin := filepath.Join(t.TempDir(), program)
			require.NoError(t, os.WriteFile(bin, files[program], 0o755))
			if platform == runtime.GOOS+"_"+runtime.GOARCH {
				out, err := exec.Command(bin, "version").CombinedOutput()
				require.NoError(t, err, "%s", out)
				assert.True(t, strings.HasPrefix(string(out), program+" "+g.Version+" ("), "%s", out)
				assert.Regexp(t, `\(commit [0-9a-f]{12}`, string(out), "the release says its commit")
				if program == "plattr" {
					// plattr init of a release pins the deploy workflow by the release's commit.
					app := t.TempDir()
					out, err := exec.Command(bin, "init", "--dir", app, "--name", "hello", "--env-repo", "acme/env").CombinedOutput()
					require.NoError(t, err, "%s", out)
					wf, err := os.ReadFile(filepath.Join(app, ".github", "workflows", "plattr-deploy.yml"))
					require.NoError(t, err)
					assert.Regexp(t, `uses: plattr/plattr/\.github/workflows/deploy\.yml@[0-9a-f]{40} # `+regexp.QuoteMeta(g.Version)+"\n", string(wf))
					assert.NotContains(t, string(out), "development build")
				}
			} else {
				// A binary of another platform: Go's build information says what
				// it is, and the version it was linked with is in its data (-trimpath
				// leaves -ldflags out of the build information).
				out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
				require.NoError(t, err, "%s", out)
				assert.Contains(t, string(out), "\tpath\tgithub.com/plattr/plattr/cmd/"+program+"\n")
				assert.True(t, bytes.Contains(files[program], []byte(g.Version)), "%s is linked with %s", base, g.Version)
			}
			var sbom struct {
				BOMFormat  string `json:"bomFormat"`
				Components []struct {
					Name string `json:"name"`
				} `json:"components"`
			}
			data, err := os.ReadFile(a + ".cdx.json")
			require.NoError(t, err, "an SBOM for each archive")
			require.NoError(t, json.Unmarshal(data, &sbom))
			assert.Equal(t, "CycloneDX", sbom.BOMFormat)
			var names []string
			for _, c := range sbom.Components {
				names = append(names, c.Name)
			}
			assert.Contains(t, names, "github.com/spf13/cobra", "the SBOM lists the program's modules")
		})
	}

	sums, err := os.Open(filepath.Join(dist, "checksums.txt"))
	require.NoError(t, err)
	defer sums.Close()
	n := 0
	for sc := bufio.NewScanner(sums); sc.Scan(); n++ {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		require.True(t, ok, sc.Text())
		data, err := os.ReadFile(filepath.Join(dist, file))
		require.NoError(t, err)
		got := sha256.Sum256(data)
		assert.Equal(t, sum, hex.EncodeToString(got[:]), file)
	}
	assert.GreaterOrEqual(t, n, 16, "archives and SBOMs are in checksums.txt")

	var a Assets
	data, err := os.ReadFile(filepath.Join(dist, "release-assets.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &a))
	assert.Equal(t, g.Version, a.Version)
	lp, err := layout.FromPath(a.Layout)
	require.NoError(t, err)
	outer, err := lp.ImageIndex()
	require.NoError(t, err)
	idx, err := outer.ImageIndex(mustHash(a.Digest))
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2)
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		require.NoError(t, err)
		cfg, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, ociimage.User, cfg.Config.User)
		key := m.Platform.OS + "/" + m.Platform.Architecture
		want, err := os.ReadFile(g.Operator[key])
		require.NoError(t, err)
		layers, err := img.Layers()
		require.NoError(t, err)
		require.Len(t, layers, 1)
		rc, err := layers[0].Uncompressed()
		require.NoError(t, err)
		got := fileInTar(t, rc, "plattr-operator")
		assert.Equal(t, want, got, "%s: the image holds goreleaser's binary", key)
	}

	install, err := os.ReadFile(a.InstallYAML)
	require.NoError(t, err)
	assert.Contains(t, string(install), "image: ghcr.io/plattr/plattr-operator@"+a.Digest)
	c := testenv.StartCluster(t)
	for _, o := range objects(t, install) {
		assert.NoError(t, c.ApplyObject(context.Background(), "plattr-release-test", o, client.DryRunAll), "%s %s", o.GetKind(), o.GetName())
	}
	assert.FileExists(t, a.Chart)
}

func untarFile(t *testing.T, path string) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	files, err := untar(data)
	require.NoError(t, err)
	return files
}

func fileInTar(t *testing.T, r io.ReadCloser, name string) []byte {
	t.Helper()
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		require.NoError(t, err, "%s is in the layer", name)
		if strings.TrimPrefix(hdr.Name, "/") == name {
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			return data
		}
	}
}
