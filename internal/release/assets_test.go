package release

import (
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/internal/ociimage"
)

// fakeBinaries are stand-ins for the operator's static binaries: an image holds
// whatever file it is given.
func fakeBinaries(t *testing.T) map[string]string {
	dir := t.TempDir()
	out := map[string]string{}
	for _, p := range Platforms {
		f := filepath.Join(dir, "plattr-operator-"+p.Architecture)
		require.NoError(t, os.WriteFile(f, []byte("#!binary for "+p.Architecture), 0o755))
		out[p.OS+"/"+p.Architecture] = f
	}
	return out
}

func buildAssets(t *testing.T, image string) *Assets {
	t.Helper()
	a, err := BuildAssets(repoRoot(t), t.TempDir(), "v1.2.3", image, fakeBinaries(t), "")
	require.NoError(t, err)
	return a
}

// The assets: a multi-arch index in an OCI layout (amd64 and arm64, non-root),
// install.yaml and the chart naming that index by digest; the same inputs give
// the same digest and the same chart bytes.
func TestBuildAssets(t *testing.T) {
	a := buildAssets(t, "ghcr.io/acme/plattr-operator")
	lp, err := layout.FromPath(a.Layout)
	require.NoError(t, err)
	outer, err := lp.ImageIndex()
	require.NoError(t, err)
	idx, err := outer.ImageIndex(mustHash(a.Digest))
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2)
	var platforms []string
	for _, m := range im.Manifests {
		platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
		img, err := idx.Image(m.Digest)
		require.NoError(t, err)
		cfg, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, ociimage.User, cfg.Config.User, "never root")
		assert.Equal(t, m.Platform.Architecture, cfg.Architecture)
		assert.Equal(t, []string{"/plattr-operator"}, cfg.Config.Entrypoint)
	}
	assert.ElementsMatch(t, []string{"linux/amd64", "linux/arm64"}, platforms)

	install, err := os.ReadFile(a.InstallYAML)
	require.NoError(t, err)
	assert.Contains(t, string(install), "image: ghcr.io/acme/plattr-operator@"+a.Digest)

	chart, err := os.ReadFile(a.Chart)
	require.NoError(t, err)
	assert.Equal(t, "plattr-operator-1.2.3.tgz", filepath.Base(a.Chart))
	files, err := untar(chart)
	require.NoError(t, err)
	var meta struct{ Name, Version, AppVersion string }
	require.NoError(t, yaml.Unmarshal(files["plattr-operator/Chart.yaml"], &meta))
	assert.Equal(t, "1.2.3", meta.Version)
	assert.Equal(t, "v1.2.3", meta.AppVersion)
	assert.Contains(t, string(files["plattr-operator/values.yaml"]), "  digest: "+a.Digest)
	assert.Contains(t, string(files["plattr-operator/values.yaml"]), "  repository: ghcr.io/acme/plattr-operator")
	assert.Contains(t, files, "plattr-operator/crds/plattr.dev_applications.yaml")
	assert.Contains(t, files, "plattr-operator/templates/deployment.yaml")

	again := buildAssets(t, "ghcr.io/acme/plattr-operator")
	assert.Equal(t, a.Digest, again.Digest, "reproducible image")
	chart2, err := os.ReadFile(again.Chart)
	require.NoError(t, err)
	assert.Equal(t, chart, chart2, "reproducible chart package")
}

// The push step of the release workflow, against an OCI registry on 127.0.0.1:
// the index arrives under the release's tag with the digest install.yaml
// names, and the chart arrives as Helm stores charts.
func TestAssets_Push(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	a := buildAssets(t, host+"/acme/plattr-operator")
	require.NoError(t, a.Push(host+"/acme/charts"))

	ref, err := name.ParseReference(host + "/acme/plattr-operator:v1.2.3")
	require.NoError(t, err)
	idx, err := remote.Index(ref)
	require.NoError(t, err)
	d, err := idx.Digest()
	require.NoError(t, err)
	assert.Equal(t, a.Digest, d.String(), "the digest install.yaml names is the one pushed")
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	assert.Len(t, im.Manifests, 2)

	chartRef, err := name.ParseReference(host + "/acme/charts/plattr-operator:1.2.3")
	require.NoError(t, err)
	desc, err := remote.Get(chartRef)
	require.NoError(t, err)
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	require.NoError(t, err)
	assert.Equal(t, ChartConfigMediaType, m.Config.MediaType)
	require.Len(t, m.Layers, 1)
	assert.Equal(t, ChartContentMediaType, m.Layers[0].MediaType)
	assert.Equal(t, "1.2.3", m.Annotations["org.opencontainers.image.version"])
	layer, err := remote.Layer(chartRef.Context().Digest(m.Layers[0].Digest.String()))
	require.NoError(t, err)
	rc, err := layer.Compressed()
	require.NoError(t, err)
	defer rc.Close()
	got := make([]byte, m.Layers[0].Size)
	_, err = io.ReadFull(rc, got)
	require.NoError(t, err)
	want, err := os.ReadFile(a.Chart)
	require.NoError(t, err)
	assert.Equal(t, want, got, "the chart package, byte for byte")
}
