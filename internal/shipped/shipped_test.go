// Package shipped checks every manifest the project ships and every file the
// generator writes for the example apps against the real API server: each
// kustomization builds in process and each object passes a server-side dry run.
package shipped

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// kustomizations lists the folders under root that hold a kustomization.yaml.
func kustomizations(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return filepath.SkipDir
			}
			return err
		}
		if !d.IsDir() && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(dirs)
	return dirs
}

// dryRun applies each object in a server-side dry run (namespaces they need are
// created for real first) and fails the test with the object's name on refusal.
func dryRun(t *testing.T, c *testenv.Cluster, where string, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		// Server-side apply: works for objects that exist (the CRDs) and new ones.
		err := c.ApplyObject(context.Background(), "plattr-shipped-test", o, client.DryRunAll)
		assert.NoError(t, err, "%s: %s %s/%s refused by the API server", where, o.GetKind(), o.GetNamespace(), o.GetName())
	}
}

func repoRoot(t *testing.T) string {
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	return root
}

// Every kustomization under bases/, overlays/ and envs/ builds and every object
// it yields is accepted by the API server (with the CRDs installed).
func TestShippedManifests(t *testing.T) {
	c := testenv.StartCluster(t)
	root := repoRoot(t)
	var dirs []string
	for _, top := range []string{"bases", "overlays", "envs"} {
		dirs = append(dirs, kustomizations(t, filepath.Join(root, top))...)
	}
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		rel, _ := filepath.Rel(root, dir)
		t.Run(rel, func(t *testing.T) {
			objs := testenv.Kustomize(t, filesys.MakeFsOnDisk(), dir)
			dryRun(t, c, rel, objs)
		})
	}
	// The env repo skeleton's root Applications are plain files applied with kubectl.
	boots, err := filepath.Glob(filepath.Join(root, "envs", "skeleton", "bootstrap", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, boots)
	kinds := map[string]int{}
	for _, f := range boots {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, doc := range strings.Split(string(data), "\n---\n") {
			js, err := yaml.YAMLToJSON([]byte(doc))
			require.NoError(t, err)
			u := &unstructured.Unstructured{}
			require.NoError(t, u.UnmarshalJSON(js))
			dryRun(t, c, f, []*unstructured.Unstructured{u})
			kinds[u.GetKind()]++
		}
	}
	assert.Equal(t, map[string]int{"Application": 4, "AppProject": 5}, kinds, "the roots of staging, uat, prod and preview, and their projects")
}

// Every file the generator writes for the example apps, in every environment and
// a preview, builds and passes a server-side dry run.
func TestGeneratedReleases(t *testing.T) {
	c := testenv.StartCluster(t)
	root := repoRoot(t)
	apps, err := filepath.Glob(filepath.Join(root, "examples", "*", manifest.FileName))
	require.NoError(t, err)
	require.NotEmpty(t, apps)
	cfg := generator.DefaultConfig("https://github.com/acme/env.git", "apps.example.com", []string{"staging", "uat", "prod"})
	skeleton, err := generator.InitRepo(cfg)
	require.NoError(t, err)
	tree := generator.MapTree(skeleton)
	img, err := generator.ParseImage("ghcr.io/acme/app@sha256:"+strings.Repeat("ab", 32), false)
	require.NoError(t, err)
	for _, f := range apps {
		m, err := manifest.Load(f)
		require.NoError(t, err)
		targets := []generator.Release{{Env: "staging"}, {Env: "uat"}, {Env: "prod"}, {PR: 3}}
		for _, rel := range targets {
			rel.Manifest, rel.Image = m, img
			files, _, err := generator.Render(cfg, rel, tree)
			require.NoError(t, err)
			for p, d := range files {
				tree[p] = d
			}
		}
	}
	mem := filesys.MakeFsInMemory()
	for p, d := range tree {
		require.NoError(t, mem.WriteFile("/"+p, d))
	}
	var dirs []string
	for p := range tree {
		if path.Base(p) == "kustomization.yaml" {
			dirs = append(dirs, "/"+path.Dir(p))
		}
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		objs := testenv.Kustomize(t, mem, dir)
		// The child Applications name their namespace; the app overlays get it
		// from Argo CD, as the destination of their child Application.
		env := strings.Split(dir, "/")[2]
		ns := env
		for _, o := range objs {
			if o.GetNamespace() == "" {
				o.SetNamespace(ns)
			}
		}
		dryRun(t, c, fmt.Sprintf("generated %s", dir), objs)
	}
	assert.GreaterOrEqual(t, len(dirs), 4*(1+len(apps)), "every environment's apps folder and every app overlay was checked")
}

// The operator reads its credentials from Secrets by reference (the first version's
// missing KEYCLOAK_ADMIN_PASSWORD wiring), never from literal values.
func TestOperatorDeploymentCredentialsByReference(t *testing.T) {
	root := repoRoot(t)
	for _, dir := range []string{"bases/operator", "overlays/local", "overlays/aws"} {
		objs := testenv.Kustomize(t, filesys.MakeFsOnDisk(), filepath.Join(root, dir))
		var found bool
		for _, o := range objs {
			if o.GetKind() != "Deployment" || o.GetName() != "plattr-operator" {
				continue
			}
			found = true
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			require.Len(t, containers, 1)
			env, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "env")
			refs := map[string]string{}
			for _, e := range env {
				m := e.(map[string]any)
				assert.NotContains(t, m, "value", "%s: %s must not be a literal", dir, m["name"])
				name, _, _ := unstructured.NestedString(m, "valueFrom", "secretKeyRef", "name")
				refs[m["name"].(string)] = name
			}
			assert.Equal(t, "plattr-postgres-admin", refs["DB_ADMIN_URL"], dir)
			assert.Equal(t, "plattr-redis-admin", refs["REDIS_ADMIN_URL"], dir)
			assert.Equal(t, "plattr-opensearch-admin", refs["OPENSEARCH_PASSWORD"], dir)
			assert.Equal(t, "keycloak-admin", refs["KEYCLOAK_ADMIN_PASSWORD"], dir)
			for _, v := range []string{"GITHUB_TOKEN", "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY"} {
				assert.Equal(t, "plattr-github", refs[v], dir)
			}
		}
		assert.True(t, found, "%s has the operator's Deployment", dir)
	}
}
