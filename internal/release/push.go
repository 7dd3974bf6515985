package release

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"
)

// Helm's media types for a chart stored in an OCI registry.
const (
	ChartConfigMediaType  types.MediaType = "application/vnd.cncf.helm.config.v1+json"
	ChartContentMediaType types.MediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// Push copies the release's image index from its layout to Image:Version, and
// its chart to chartRepo/plattr-operator:<chart version> as Helm stores charts
// in registries. The index keeps the digest install.yaml names. opts carry the
// registry's authentication.
func (a *Assets) Push(chartRepo string, opts ...remote.Option) error {
	lp, err := layout.FromPath(a.Layout)
	if err != nil {
		return fmt.Errorf("read the image layout %s: %w", a.Layout, err)
	}
	outer, err := lp.ImageIndex()
	if err != nil {
		return err
	}
	idx, err := outer.ImageIndex(mustHash(a.Digest))
	if err != nil {
		return fmt.Errorf("the layout has no index %s: %w", a.Digest, err)
	}
	tag, err := name.NewTag(a.Image+":"+a.Version, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("image %q: %w", a.Image, err)
	}
	if err := remote.WriteIndex(tag, idx, opts...); err != nil {
		return fmt.Errorf("push the image to %s: %w", tag, err)
	}
	chart, err := os.ReadFile(a.Chart)
	if err != nil {
		return err
	}
	return pushChart(chartRepo+"/plattr-operator:"+ChartVersion(a.Version), chart, opts...)
}

func mustHash(digest string) v1.Hash {
	h, _ := v1.NewHash(digest)
	return h
}

// pushChart stores a packaged chart at ref: its Chart.yaml as the config, the
// package as the one layer, as `helm push` does.
func pushChart(ref string, tgz []byte, opts ...remote.Option) error {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("chart reference %q: %w", ref, err)
	}
	meta, err := chartMetadata(tgz)
	if err != nil {
		return err
	}
	config := static.NewLayer(meta, ChartConfigMediaType)
	content := static.NewLayer(tgz, ChartContentMediaType)
	for _, l := range []v1.Layer{config, content} {
		if err := remote.WriteLayer(tag.Context(), l, opts...); err != nil {
			return fmt.Errorf("push the chart to %s: %w", tag, err)
		}
	}
	m := manifest{SchemaVersion: 2, Type: types.OCIManifestSchema1,
		Config: descriptor(config, ChartConfigMediaType, len(meta)), Layers: []v1.Descriptor{descriptor(content, ChartContentMediaType, len(tgz))}}
	var chart struct{ Name, Version string }
	_ = json.Unmarshal(meta, &chart)
	m.Annotations = map[string]string{"org.opencontainers.image.title": chart.Name, "org.opencontainers.image.version": chart.Version}
	if err := remote.Put(tag, m, opts...); err != nil {
		return fmt.Errorf("push the chart to %s: %w", tag, err)
	}
	return nil
}

// manifest is an OCI image manifest pushed as it is (remote.Taggable).
type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	Type          types.MediaType   `json:"mediaType"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

func (m manifest) RawManifest() ([]byte, error)        { return json.Marshal(m) }
func (m manifest) MediaType() (types.MediaType, error) { return m.Type, nil }

func descriptor(l v1.Layer, mt types.MediaType, size int) v1.Descriptor {
	d, _ := l.Digest()
	return v1.Descriptor{MediaType: mt, Digest: d, Size: int64(size)}
}

// chartMetadata is the packaged chart's Chart.yaml as JSON: the config Helm
// stores with a chart.
func chartMetadata(tgz []byte) ([]byte, error) {
	files, err := untar(tgz)
	if err != nil {
		return nil, err
	}
	for p, data := range files {
		if pathDepth(p) == 2 && baseName(p) == "Chart.yaml" {
			return yaml.YAMLToJSON(data)
		}
	}
	return nil, fmt.Errorf("the chart package has no Chart.yaml")
}
