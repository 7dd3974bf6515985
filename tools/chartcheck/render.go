package main

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
)

// Render renders the chart in dir for a release "plattr" in namespace with
// values over the chart's defaults, and returns every object as one YAML
// stream (the CRDs of crds/ first, as Helm installs them), templates in name
// order.
func Render(dir, namespace string, values map[string]any) (string, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return "", fmt.Errorf("load the chart: %w", err)
	}
	vals, err := util.ToRenderValues(chrt, values, common.ReleaseOptions{Name: "plattr", Namespace: namespace, IsInstall: true}, nil)
	if err != nil {
		return "", fmt.Errorf("values: %w", err)
	}
	files, err := engine.Render(chrt, vals)
	if err != nil {
		return "", fmt.Errorf("render: %w", err)
	}
	var b strings.Builder
	for _, crd := range chrt.CRDObjects() {
		b.WriteString("---\n")
		b.Write(crd.File.Data)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if path.Ext(name) == ".yaml" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.TrimSpace(files[name]) == "" {
			continue
		}
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", name, strings.TrimSpace(files[name]))
	}
	return b.String(), nil
}

// valuesFrom turns dotted keys with JSON values into nested values.
func valuesFrom(sets map[string]string) (map[string]any, error) {
	out := map[string]any{}
	for key, raw := range sets {
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return nil, fmt.Errorf("-set-json %s: %w", key, err)
		}
		parts := strings.Split(key, ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	return out, nil
}
