package aws

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// overlays/aws/outputs (and the spoke's, overlays/spoke/outputs) is what
// `plattr-aws overlay` makes of the example outputs: the committed component is
// generated, never edited.
func TestOverlayComponent_IsGenerated(t *testing.T) {
	o, err := ReadOutputs(filepath.Join("testdata", "outputs.example.json"))
	require.NoError(t, err)
	got, err := OverlayComponent(o)
	require.NoError(t, err)
	for _, overlay := range []string{"aws", "spoke"} {
		committed, err := os.ReadFile(filepath.Join("..", "..", "overlays", overlay, "outputs", "kustomization.yaml"))
		require.NoError(t, err)
		assert.Equal(t, string(committed), string(got), "run: go run ./cmd/plattr-aws overlay -outputs testdata/outputs.example.json -out ../../overlays/%s/outputs", overlay)
	}
	assert.Contains(t, string(got), "path: /data/ELASTICACHE_USER_GROUP\n      value: \""+CacheUserGroupID+"\"")
}

func TestOverlayComponent_Refuses(t *testing.T) {
	_, err := OverlayComponent(Outputs{"PlattrDelivery": {}})
	assert.EqualError(t, err, "outputs: PlattrData has no DatabaseEndpoint: deploy the Data stack (cdk deploy --outputs-file) first")
	_, err = OverlayComponent(Outputs{"PlattrData": {"DatabaseEndpoint": "db.example.com\n    - op: remove"}})
	assert.ErrorContains(t, err, "not a host name")
	noCache, err := OverlayComponent(Outputs{"PlattrData": {"DatabaseEndpoint": "db.example.com"}})
	require.NoError(t, err)
	assert.NotContains(t, string(noCache), "ELASTICACHE")

	p := filepath.Join(t.TempDir(), "o.json")
	require.NoError(t, os.WriteFile(p, []byte("not json"), 0o644))
	_, err = ReadOutputs(p)
	assert.ErrorContains(t, err, "not the JSON cdk deploy --outputs-file writes")
}
