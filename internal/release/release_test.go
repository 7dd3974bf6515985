package release

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const digest = "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	return root
}

func objects(t *testing.T, stream []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range bytes.Split(stream, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(doc)
		require.NoError(t, err)
		if string(js) == "null" {
			continue // comments only
		}
		u := &unstructured.Unstructured{}
		require.NoError(t, u.UnmarshalJSON(js))
		out = append(out, u)
	}
	return out
}

// install.yaml holds the CRDs and the operator, the image by digest, and says on
// every object which version it belongs to.
func TestInstallYAML(t *testing.T) {
	image := "ghcr.io/acme/plattr-operator@" + digest
	out, err := InstallYAML(repoRoot(t), "v1.2.3", image)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out), "# Plattr v1.2.3: "))
	kinds := map[string]bool{}
	for _, o := range objects(t, out) {
		kinds[o.GetKind()] = true
		assert.Equal(t, "v1.2.3", o.GetLabels()[LabelVersion], "%s %s says its version", o.GetKind(), o.GetName())
		assert.Equal(t, "plattr", o.GetLabels()["app.kubernetes.io/part-of"], "%s %s", o.GetKind(), o.GetName())
		if o.GetKind() == "Deployment" {
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			require.Len(t, containers, 1)
			assert.Equal(t, image, containers[0].(map[string]any)["image"], "the operator by digest")
			selector, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
			assert.NotContains(t, selector, LabelVersion, "an upgrade must not change the Deployment's immutable selector")
		}
	}
	for _, k := range []string{"CustomResourceDefinition", "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment"} {
		assert.True(t, kinds[k], "install.yaml holds a %s", k)
	}
	assert.NotContains(t, string(out), "v0.1.0", "no tag of the base is left")
}

// What a user applies is what the API server accepts: a server-side dry run of
// every object, as `kubectl apply --server-side` sends it.
func TestInstallYAML_Applies(t *testing.T) {
	c := testenv.StartCluster(t)
	out, err := InstallYAML(repoRoot(t), "v1.2.3", "ghcr.io/acme/plattr-operator@"+digest)
	require.NoError(t, err)
	for _, o := range objects(t, out) {
		err := c.ApplyObject(context.Background(), "plattr-release-test", o, client.DryRunAll)
		assert.NoError(t, err, "%s %s", o.GetKind(), o.GetName())
	}
}

func TestInstallYAML_Refusals(t *testing.T) {
	root := repoRoot(t)
	for name, tc := range map[string]struct{ version, image, want string }{
		"a tag":          {"v1.2.3", "ghcr.io/acme/plattr-operator:v1.2.3", "is not pinned by digest"},
		"not a version":  {"1.2.3", "ghcr.io/acme/plattr-operator@" + digest, `version "1.2.3" is not a release version`},
		"a branch":       {"main", "ghcr.io/acme/plattr-operator@" + digest, "is not a release version"},
		"a short digest": {"v1.2.3", "ghcr.io/acme/plattr-operator@sha256:abc", "is not pinned by digest"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := InstallYAML(root, tc.version, tc.image)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	assert.NoError(t, CheckVersion("v0.2.0-rc.1"))
}

// The Helm chart, rendered by Helm's own code (tools/chartcheck, a module of its
// own) with its defaults and with a digest, applies to the API server as
// install.yaml does: a server-side dry run of every object.
func TestChart_Applies(t *testing.T) {
	if testing.Short() {
		t.Skip("renders the chart with Helm's module and needs an API server")
	}
	c := testenv.StartCluster(t)
	root := repoRoot(t)
	dir := filepath.Join(root, "charts", "plattr-operator")
	packaged := buildAssets(t, "ghcr.io/acme/plattr-operator")
	for name, args := range map[string][]string{
		"defaults":              {"-chart", dir},
		"by digest":             {"-chart", dir, "-set-json", `image.digest="` + digest + `"`, "-set-json", "podDisruptionBudget.enabled=true", "-set-json", "metrics.service=true"},
		"the release's package": {"-chart", packaged.Chart},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command("go", append([]string{"run", "."}, args...)...)
			cmd.Dir = filepath.Join(root, "tools", "chartcheck")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, "%s", stderr.String())
			objs := objects(t, out)
			require.GreaterOrEqual(t, len(objs), 8)
			if name == "the release's package" {
				assert.Contains(t, string(out), "image: ghcr.io/acme/plattr-operator@"+packaged.Digest, "the package pins the release's image")
			}
			for _, o := range objs {
				err := c.ApplyObject(context.Background(), "plattr-release-test", o, client.DryRunAll)
				assert.NoError(t, err, "%s %s", o.GetKind(), o.GetName())
			}
		})
	}
}
