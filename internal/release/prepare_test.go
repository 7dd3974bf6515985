package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/plattr/plattr/internal/testenv"
)

// The repository's install files name one version: the kustomize remote base at
// a tag installs the image the chart and install.yaml of that tag name.
func TestRepoVersion_Agrees(t *testing.T) {
	v, err := RepoVersion(repoRoot(t))
	require.NoError(t, err)
	assert.NoError(t, CheckVersion(v))
}

func TestPrepare(t *testing.T) {
	root := t.TempDir()
	src := repoRoot(t)
	for _, f := range []string{operatorKustomization, rollbacksKustomization, awsKustomization, deployWorkflowFile, envWorkflowFile, chartFile, changelogFile} {
		data, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, f), data, 0o644))
	}
	day := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	require.NoError(t, Prepare(root, "v0.9.0", day))
	v, err := RepoVersion(root)
	require.NoError(t, err)
	assert.Equal(t, "v0.9.0", v)
	log, err := os.ReadFile(filepath.Join(root, changelogFile))
	require.NoError(t, err)
	assert.Contains(t, string(log), "## Unreleased\n\n## v0.9.0 (2027-01-15)\n", "the notes become the release's, under a new Unreleased")
	wf, err := os.ReadFile(filepath.Join(root, deployWorkflowFile))
	require.NoError(t, err)
	assert.Contains(t, string(wf), "        default: v0.9.0\n", "the deploy workflow installs the release's plattr-gen")
	_, versions, err := OwnActionPins(root)
	require.NoError(t, err)
	for _, v := range versions {
		assert.Equal(t, "v0.9.0", v, "the pins of its own actions say the release")
	}
	err = Prepare(root, "v0.9.0", day)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already has a section for v0.9.0")
	assert.ErrorContains(t, Prepare(root, "0.9.1", day), "is not a release version")

	rb, err := os.ReadFile(filepath.Join(root, rollbacksKustomization))
	require.NoError(t, err)
	assert.Contains(t, string(rb), "  newTag: v0.9.0\n", "the rollback controller's image moves with the operator's")
	require.NoError(t, os.WriteFile(filepath.Join(root, rollbacksKustomization), []byte(strings.Replace(string(rb), "v0.9.0", "v0.8.0", 1)), 0o644))
	_, err = RepoVersion(root)
	assert.ErrorContains(t, err, "the versions disagree")
	require.NoError(t, os.WriteFile(filepath.Join(root, rollbacksKustomization), rb, 0o644))

	k, err := os.ReadFile(filepath.Join(root, operatorKustomization))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, operatorKustomization), []byte(strings.Replace(string(k), "v0.9.0", "v0.9.1", 1)), 0o644))
	_, err = RepoVersion(root)
	assert.ErrorContains(t, err, "the versions disagree")
}

// After a release the workflow pins overlays/aws to the pushed image by digest;
// what kustomize builds from it runs exactly that image. A pin of another
// version, a tag for a repository or a digest that is not one is refused and
// changes nothing.
func TestPin(t *testing.T) {
	root := t.TempDir()
	src := repoRoot(t)
	for _, dir := range []string{"bases", "overlays/aws", ".github/workflows"} {
		require.NoError(t, os.CopyFS(filepath.Join(root, dir), os.DirFS(filepath.Join(src, dir))))
	}
	version, err := RepoVersion(src)
	require.NoError(t, err)
	image := func() string {
		for _, o := range testenv.Kustomize(t, filesys.MakeFsOnDisk(), filepath.Join(root, "overlays/aws")) {
			if o.GetKind() == "Deployment" && o.GetName() == "plattr-operator" {
				containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
				return containers[0].(map[string]any)["image"].(string)
			}
		}
		t.Fatal("overlays/aws has no operator Deployment")
		return ""
	}
	assert.Equal(t, "ghcr.io/plattr/plattr-operator:"+version, image(), "before a pin: the version's tag")

	digest := "sha256:" + strings.Repeat("ab", 32)
	require.NoError(t, Pin(root, version, "ghcr.io/acme/plattr-operator", digest))
	assert.Equal(t, "ghcr.io/acme/plattr-operator:"+version+"@"+digest, image())
	again := "sha256:" + strings.Repeat("cd", 32)
	require.NoError(t, Pin(root, version, "ghcr.io/acme/plattr-operator", again), "a second pin replaces the first")
	assert.Equal(t, "ghcr.io/acme/plattr-operator:"+version+"@"+again, image())

	before, err := os.ReadFile(filepath.Join(root, awsKustomization))
	require.NoError(t, err)
	for _, c := range []struct{ version, image, digest, err string }{
		{"v99.0.0", "ghcr.io/acme/plattr-operator", digest, "is at " + version + ", not v99.0.0"},
		{"99", "ghcr.io/acme/plattr-operator", digest, "is not a release version"},
		{version, "ghcr.io/acme/plattr-operator:latest", digest, "is not an image repository"},
		{version, "plattr-operator", digest, "is not an image repository"},
		{version, "ghcr.io/acme/plattr-operator\n  digest: x", digest, "is not an image repository"},
		{version, "ghcr.io/acme/plattr-operator", "sha256:000", "is not an image digest"},
		{version, "ghcr.io/acme/plattr-operator", "md5:" + strings.Repeat("0", 32), "is not an image digest"},
	} {
		assert.ErrorContains(t, Pin(root, c.version, c.image, c.digest), c.err, "%+v", c)
	}
	after, err := os.ReadFile(filepath.Join(root, awsKustomization))
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "refused pins write nothing")

	// The next release's prepare drops the old digest: the tag is the new version's until its own pin.
	require.NoError(t, os.MkdirAll(filepath.Join(root, "charts/plattr-operator"), 0o755))
	for _, f := range []string{chartFile, changelogFile} {
		data, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(root, f), data, 0o644))
	}
	require.NoError(t, Prepare(root, "v99.1.0", time.Now()))
	assert.Equal(t, "ghcr.io/acme/plattr-operator:v99.1.0", image())
}

// The deploy workflow uses Plattr's own actions by commit: that commit's
// actions are the working tree's, so a release's workflow runs the actions it
// was released with.
func TestOwnActionsPinned(t *testing.T) {
	root := repoRoot(t)
	commits, _, err := OwnActionPins(root)
	require.NoError(t, err)
	for _, c := range commits {
		if err := exec.Command("git", "-C", root, "cat-file", "-e", c+"^{commit}").Run(); err != nil {
			if shallow, _ := exec.Command("git", "-C", root, "rev-parse", "--is-shallow-repository").Output(); strings.TrimSpace(string(shallow)) == "true" {
				t.Skipf("%s pins %s, which this shallow clone does not have", deployWorkflowFile, c)
			}
			t.Fatalf("%s pins %s, which is no commit of this repository: run make pin-actions", deployWorkflowFile, c)
		}
		out, err := exec.Command("git", "-C", root, "diff", "--stat", c, "--", ownActionsDir).CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Empty(t, string(out), "%s pins %s, whose %s differ from the working tree's: commit them, then run make pin-actions", deployWorkflowFile, c, ownActionsDir)
	}
}
