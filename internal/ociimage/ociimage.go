// Package ociimage builds the operator's container image without a Docker daemon
// (go-containerregistry): one layer with the static binary, CA certificates and a
// non-root user, on no base image at all (distroless in the strictest sense). It
// writes a tarball `docker load` and registries' tooling accept.
package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// User is the image's user: "nonroot" of distroless, never root.
const User = "65532:65532"

// Options describe the image.
type Options struct {
	Binary     string // path of the static binary
	Entrypoint string // where it goes in the image, e.g. /plattr-operator
	CACerts    string // CA bundle to include ("" for none)
	OS, Arch   string
}

// Build returns the image.
func Build(o Options) (v1.Image, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("read the binary: %w", err)
	}
	files := []file{
		{"etc/passwd", []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"), 0o644},
		{"etc/group", []byte("root:x:0:\nnonroot:x:65532:\n"), 0o644},
		{o.Entrypoint[1:], bin, 0o755},
	}
	if o.CACerts != "" {
		certs, err := os.ReadFile(o.CACerts)
		if err != nil {
			return nil, fmt.Errorf("read the CA certificates: %w", err)
		}
		files = append(files, file{"etc/ssl/certs/ca-certificates.crt", certs, 0o644})
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return tarOf(files) })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = o.OS, o.Arch
	cfg.Config.User = User
	cfg.Config.Entrypoint = []string{o.Entrypoint}
	cfg.Config.Env = []string{"PATH=/", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cfg.Config.Labels = map[string]string{"org.opencontainers.image.source": "https://github.com/plattr/plattr"}
	return mutate.ConfigFile(img, cfg)
}

type file struct {
	name string
	data []byte
	mode int64
}

// tarOf writes files with fixed times and owners, so that the same binary gives
// the same layer digest.
func tarOf(files []file) (io.ReadCloser, error) {
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, d := range []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "home/", "home/nonroot/"} {
		if err := w.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := w.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return io.NopCloser(&b), nil
}

// Write saves img as a tarball tagged ref.
func Write(img v1.Image, ref, path string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	return tarball.WriteToFile(path, tag, img)
}
