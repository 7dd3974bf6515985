package release

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Goreleaser is what a goreleaser run left in its dist folder that the assets
// are made from: the version (metadata.json) and the operator's binaries
// (artifacts.json).
type Goreleaser struct {
	Version  string
	Operator map[string]string // "linux/amd64" → path
}

// ReadGoreleaser reads dist's metadata.json and artifacts.json. The version is
// "v" + goreleaser's (which drops the tag's "v").
func ReadGoreleaser(dist string) (*Goreleaser, error) {
	dist, err := filepath.Abs(dist)
	if err != nil {
		return nil, err
	}
	var meta struct {
		Version string `json:"version"`
	}
	if err := readJSONFile(filepath.Join(dist, "metadata.json"), &meta); err != nil {
		return nil, err
	}
	var artifacts []struct {
		Name, Path, Goos, Goarch, Type string
	}
	if err := readJSONFile(filepath.Join(dist, "artifacts.json"), &artifacts); err != nil {
		return nil, err
	}
	g := &Goreleaser{Version: "v" + meta.Version, Operator: map[string]string{}}
	for _, a := range artifacts {
		if a.Type == "Binary" && a.Name == "plattr-operator" {
			p := a.Path
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(dist), p) // relative to where goreleaser ran
			}
			g.Operator[a.Goos+"/"+a.Goarch] = p
		}
	}
	for _, p := range Platforms {
		if _, ok := g.Operator[p.OS+"/"+p.Architecture]; !ok {
			return nil, fmt.Errorf("%s/artifacts.json has no plattr-operator binary for %s/%s: is .goreleaser.yaml's plattr-operator build there?", dist, p.OS, p.Architecture)
		}
	}
	return g, nil
}

func readJSONFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s (written by goreleaser): %w", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
