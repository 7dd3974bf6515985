package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const chartDir = "../../charts/plattr-operator"

type object = map[string]any

func key(o object) string {
	meta, _ := o["metadata"].(map[string]any)
	return o["kind"].(string) + "/" + str(meta["namespace"]) + "/" + str(meta["name"])
}

func str(v any) string { s, _ := v.(string); return s }

func parse(t *testing.T, stream []byte) map[string]object {
	t.Helper()
	out := map[string]object{}
	for _, doc := range bytes.Split(stream, []byte("\n---")) {
		doc = bytes.TrimPrefix(bytes.TrimSpace(doc), []byte("---"))
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var o object
		require.NoError(t, yaml.Unmarshal(doc, &o), "%s", doc)
		if o == nil {
			continue // only comments
		}
		out[key(o)] = o
	}
	return out
}

// labelsOnlyOneSide are the labels Helm adds and the ones kustomize's
// bases/install adds to every object: what the two ways of installing may
// differ in. Everything else must be equal.
var labelsOnlyOneSide = []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance",
	"app.kubernetes.io/version", "app.kubernetes.io/part-of", "app.kubernetes.io/name"}

func normalize(o object) object {
	js, _ := json.Marshal(o)
	var c object
	_ = json.Unmarshal(js, &c) // numbers as float64 on both sides
	if meta, ok := c["metadata"].(map[string]any); ok {
		if labels, ok := meta["labels"].(map[string]any); ok {
			for _, k := range labelsOnlyOneSide {
				delete(labels, k)
			}
			if len(labels) == 0 {
				delete(meta, "labels")
			}
		}
	}
	return c
}

func kustomizeBuild(t *testing.T, dir string) []byte {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err)
	out, err := res.AsYaml()
	require.NoError(t, err)
	return out
}

// With its default values the chart renders, object by object, what `kustomize
// build bases/install` gives (but the Namespace, which `helm install
// --create-namespace` makes, and the labels each tool adds): the two ways of
// installing cannot drift apart.
func TestChart_EqualsKustomizeBuild(t *testing.T) {
	rendered, err := Render(chartDir, "plattr-system", nil)
	require.NoError(t, err)
	chart := parse(t, []byte(rendered))
	kust := parse(t, kustomizeBuild(t, "../../bases/install"))
	delete(kust, "Namespace//plattr-system")
	require.NotEmpty(t, kust)
	for k, want := range kust {
		got, ok := chart[k]
		if !assert.True(t, ok, "the chart renders %s", k) {
			continue
		}
		assert.Equal(t, normalize(want), normalize(got), k)
	}
	for k := range chart {
		_, ok := kust[k]
		assert.True(t, ok, "the chart renders %s, which bases/install does not", k)
	}
}

// The chart's CRD is bases/crds' byte for byte (make generate copies it).
func TestChart_CRDsAreTheBases(t *testing.T) {
	entries, err := os.ReadDir("../../bases/crds")
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") || e.Name() == "kustomization.yaml" {
			continue
		}
		n++
		want, err := os.ReadFile(filepath.Join("../../bases/crds", e.Name()))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(chartDir, "crds", e.Name()))
		require.NoError(t, err, "charts/plattr-operator/crds holds %s: run make generate", e.Name())
		assert.Equal(t, string(want), string(got), "%s is stale in the chart: run make generate", e.Name())
	}
	assert.Positive(t, n)
}

// What a user sets reaches the objects.
func TestChart_Values(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	rendered, err := Render(chartDir, "platform", map[string]any{
		"image":               map[string]any{"digest": digest},
		"replicas":            3,
		"settings":            map[string]any{"baseDomain": "apps.acme.io", "clusterIssuer": "letsencrypt"},
		"adminSecrets":        map[string]any{"postgres": "aurora-admin"},
		"extraArgs":           []any{"--resync=2m"},
		"extraEnv":            []any{map[string]any{"name": "DB_APP_CA", "value": "/etc/ssl/rds.pem"}},
		"nodeSelector":        map[string]any{"kubernetes.io/os": "linux"},
		"podDisruptionBudget": map[string]any{"enabled": true},
		"metrics":             map[string]any{"serviceMonitor": true},
	})
	require.NoError(t, err)
	objs := parse(t, []byte(rendered))
	dep := objs["Deployment/platform/plattr-operator"]
	require.NotNil(t, dep)
	js, _ := json.Marshal(dep)
	s := string(js)
	assert.Contains(t, s, `"image":"ghcr.io/plattr/plattr-operator@`+digest+`"`, "the digest wins over the tag")
	assert.Contains(t, s, `"replicas":3`)
	assert.Contains(t, s, `"name":"aurora-admin"`)
	assert.Contains(t, s, `"--resync=2m"`)
	assert.Contains(t, s, `"DB_APP_CA"`)
	assert.Contains(t, s, `"kubernetes.io/os":"linux"`)
	cm, _ := json.Marshal(objs["ConfigMap/platform/plattr-operator"])
	assert.Contains(t, string(cm), `"PLATTR_BASE_DOMAIN":"apps.acme.io"`)
	assert.Contains(t, string(cm), `"PLATTR_CLUSTER_ISSUER":"letsencrypt"`)
	assert.NotNil(t, objs["PodDisruptionBudget/platform/plattr-operator"])
	assert.NotNil(t, objs["Service/platform/plattr-operator-metrics"])
	assert.NotNil(t, objs["ServiceMonitor/platform/plattr-operator"])
	binding, _ := json.Marshal(objs["ClusterRoleBinding//plattr-operator"])
	assert.Contains(t, string(binding), `"namespace":"platform"`, "the binding names the release's namespace")
}

// With rollbacks.enabled the chart renders the rollback controller as
// bases/rollbacks does, in Argo CD's namespace; without it, nothing of it.
func TestChart_RollbacksEqualKustomizeBuild(t *testing.T) {
	rendered, err := Render(chartDir, "plattr-system", map[string]any{"rollbacks": map[string]any{"enabled": true}})
	require.NoError(t, err)
	chart := parse(t, []byte(rendered))
	kust := parse(t, kustomizeBuild(t, "../../bases/rollbacks"))
	require.Len(t, kust, 7)
	for k, want := range kust {
		got, ok := chart[k]
		if assert.True(t, ok, "the chart renders %s", k) {
			assert.Equal(t, normalize(want), normalize(got), k)
		}
	}
	rendered, err = Render(chartDir, "plattr-system", map[string]any{"rollbacks": map[string]any{"enabled": true,
		"envRepo": "https://github.com/acme/env.git", "githubRepo": "acme/env", "namespace": "gitops"}})
	require.NoError(t, err)
	chart = parse(t, []byte(rendered))
	cm := chart["ConfigMap/gitops/plattr-rollbacks"]
	require.NotNil(t, cm, "in Argo CD's namespace, as given")
	assert.Equal(t, "https://github.com/acme/env.git", cm["data"].(map[string]any)["PLATTR_ENV_REPO"])
	binding, _ := json.Marshal(chart["ClusterRoleBinding//plattr-rollbacks-metrics-auth"])
	assert.Contains(t, string(binding), `"namespace":"gitops"`, "the metrics' token reviews are granted to the account in Argo CD's namespace")
}

// With metrics.serviceMonitor the chart renders bases/prometheus's
// ServiceMonitor, in the release's namespace.
func TestChart_ServiceMonitorIsTheBases(t *testing.T) {
	rendered, err := Render(chartDir, "plattr-system", map[string]any{"metrics": map[string]any{"serviceMonitor": true}})
	require.NoError(t, err)
	chart := parse(t, []byte(rendered))
	kust := parse(t, kustomizeBuild(t, "../../bases/prometheus"))
	want := kust["ServiceMonitor/plattr-system/plattr-operator"]
	require.NotNil(t, want)
	assert.Equal(t, normalize(want), normalize(chart["ServiceMonitor/plattr-system/plattr-operator"]))
	assert.NotNil(t, kust["ConfigMap/plattr-system/plattr-operator-dashboard"], "bases/prometheus holds the dashboard for Grafana's sidecar")
}
