package aws

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What docs/aws.md tells you to run writes the templates, with no AWS
// credentials: the program itself, on the example settings.
func TestPlattrAWS_SynthesisesTheExample(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./cmd/plattr-aws", "-config", "plattr-aws.example.json", "-out", out)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=none-here")
	stdout, err := cmd.Output()
	require.NoError(t, err, "%s", stdout)
	path := filepath.Join(out, "PlattrDelivery.template.json")
	assert.ElementsMatch(t, []string{path, filepath.Join(out, "PlattrData.template.json"), filepath.Join(out, "PlattrCluster.template.json")},
		strings.Fields(string(stdout)))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var tpl map[string]any
	require.NoError(t, json.Unmarshal(data, &tpl))
	assert.Contains(t, tpl["Resources"], "AppRepositories")
}

func TestReadConfig_Refuses(t *testing.T) {
	for body, want := range map[string]string{
		`{"account": "1234", "region": "eu-west-1"}`:                     "account must be a 12-digit",
		`{"account": "123456789012", "region": "Europe"}`:                "region must be an AWS region",
		`{"account": "123456789012", "region": "eu-west-1", "extra": 1}`: `unknown field "extra"`,
	} {
		p := filepath.Join(t.TempDir(), "c.json")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		_, err := ReadConfig(p)
		assert.ErrorContains(t, err, want)
	}
	_, err := SynthFile(filepath.Join("testdata", "missing.json"), t.TempDir())
	assert.Error(t, err)
}
