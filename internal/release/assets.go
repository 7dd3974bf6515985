package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/internal/ociimage"
)

// Assets are what a release publishes besides the CLI archives, as files in
// its dist folder: the operator's multi-arch image as an OCI image layout (the
// registry push copies it unchanged, so its digest is known before the push),
// install.yaml naming that digest, and the chart package with the same image.
type Assets struct {
	Version string
	// Image is the repository the image is pushed to (ghcr.io/<owner>/plattr-operator).
	Image string
	// Digest is the image index's digest (sha256:…), which install.yaml and the chart name.
	Digest string
	// Layout, InstallYAML and Chart are the files written.
	Layout, InstallYAML, Chart string
}

// Platforms are the operator image's.
var Platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// BuildAssets writes the assets of version into dist, from the repository at
// root and the operator's static binaries, one per platform
// (binaries["linux/amd64"]).
func BuildAssets(root, dist, version, image string, binaries map[string]string, caCerts string) (*Assets, error) {
	if err := CheckVersion(version); err != nil {
		return nil, err
	}
	idx, err := imageIndex(binaries, caCerts)
	if err != nil {
		return nil, err
	}
	digest, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	if dist, err = filepath.Abs(dist); err != nil {
		return nil, err
	}
	a := &Assets{Version: version, Image: image, Digest: digest.String(),
		Layout:      filepath.Join(dist, "plattr-operator-oci"),
		InstallYAML: filepath.Join(dist, "install.yaml"),
		Chart:       filepath.Join(dist, "plattr-operator-"+ChartVersion(version)+".tgz")}
	if err := os.RemoveAll(a.Layout); err != nil {
		return nil, err
	}
	lp, err := layout.Write(a.Layout, empty.Index)
	if err != nil {
		return nil, fmt.Errorf("write the image layout: %w", err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": version})); err != nil {
		return nil, fmt.Errorf("write the image layout: %w", err)
	}
	install, err := InstallYAML(root, version, image+"@"+a.Digest)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(a.InstallYAML, install, 0o644); err != nil {
		return nil, err
	}
	chart, err := PackageChart(filepath.Join(root, "charts", "plattr-operator"), version, image, a.Digest)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(a.Chart, chart, 0o644); err != nil {
		return nil, err
	}
	return a, nil
}

// imageIndex builds the operator's image for each platform and their index.
func imageIndex(binaries map[string]string, caCerts string) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range Platforms {
		key := p.OS + "/" + p.Architecture
		bin, ok := binaries[key]
		if !ok {
			return nil, fmt.Errorf("no operator binary for %s", key)
		}
		img, err := ociimage.Build(ociimage.Options{Binary: bin, Entrypoint: "/plattr-operator", CACerts: caCerts, OS: p.OS, Arch: p.Architecture})
		if err != nil {
			return nil, fmt.Errorf("build the image for %s: %w", key, err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		platform := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &platform}})
	}
	return idx, nil
}

// ChartVersion is a release's chart version: its version without the "v"
// (charts use plain semantic versions).
func ChartVersion(version string) string { return strings.TrimPrefix(version, "v") }

// PackageChart packages the chart in dir as `helm package` does (a gzipped tar of
// the folder under the chart's name), with version and appVersion set to the
// release and the image pinned by digest in its values, files in name order and
// fixed times so that the same inputs give the same bytes.
func PackageChart(dir, version, image, digest string) ([]byte, error) {
	meta, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read the chart: %w", err)
	}
	var chart map[string]any
	if err := yaml.Unmarshal(meta, &chart); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	name, _ := chart["name"].(string)
	if name == "" {
		return nil, fmt.Errorf("Chart.yaml has no name")
	}
	chart["version"], chart["appVersion"] = ChartVersion(version), version
	meta, err = yaml.Marshal(chart)
	if err != nil {
		return nil, err
	}
	values, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	values, err = pinImage(values, image, digest)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"Chart.yaml": meta, "values.yaml": values}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if _, set := files[rel]; set {
			return nil
		}
		data, err := os.ReadFile(p)
		files[rel] = data
		return err
	})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		hdr := &tar.Header{Name: path.Join(name, n), Mode: 0o644, Size: int64(len(files[n])), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pinImage sets image.repository and image.digest in values.yaml, keeping its
// comments: the two lines are replaced in place.
func pinImage(values []byte, image, digest string) ([]byte, error) {
	lines := strings.Split(string(values), "\n")
	var repo, dig bool
	inImage := false
	for i, l := range lines {
		switch {
		case l == "image:":
			inImage = true
		case inImage && strings.HasPrefix(l, "  repository:"):
			lines[i], repo = "  repository: "+image, true
		case inImage && strings.HasPrefix(l, "  digest:"):
			lines[i], dig = "  digest: "+digest, true
		case inImage && l != "" && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "#"):
			inImage = false
		}
	}
	if !repo || !dig {
		return nil, fmt.Errorf("values.yaml: image.repository and image.digest must be lines of their own under image:")
	}
	return []byte(strings.Join(lines, "\n")), nil
}

// untar reads a gzipped tar's regular files, by name.
func untar(tgz []byte) (map[string][]byte, error) {
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, 512<<20)) // a program, at most
		if err != nil {
			return nil, err
		}
		out[hdr.Name] = data
	}
}

func pathDepth(p string) int { return len(strings.Split(path.Clean(p), "/")) }

func baseName(p string) string { return path.Base(p) }
