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

// A spoke's account (prod in a cluster of its own) has no Delivery stack: its
// settings leave the section out.
func TestSynthFile_Spoke(t *testing.T) {
	example, err := os.ReadFile("plattr-aws.example.json")
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(example, &c))
	delete(c, "delivery")
	spoke, err := json.Marshal(c)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "plattr-aws.json")
	require.NoError(t, os.WriteFile(p, spoke, 0o644))
	out := t.TempDir()
	paths, err := SynthFile(p, out)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{filepath.Join(out, "PlattrData.template.json"), filepath.Join(out, "PlattrCluster.template.json")}, paths)
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

// The runbook's plattr-aws commands (docs/aws.md) run as written, offline: with
// the example settings and outputs in place of yours.
func TestRunbook_CommandsRun(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "aws.md"))
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		i := strings.Index(line, "go run ./cmd/plattr-aws")
		if i < 0 || strings.Contains(line, "--app '") {
			continue
		}
		cmdline := strings.TrimSpace(strings.SplitN(line[i:], "`", 2)[0])
		cmdline = strings.SplitN(cmdline, "  #", 2)[0]
		if seen[cmdline] {
			continue
		}
		seen[cmdline] = true
		out := t.TempDir()
		r := strings.NewReplacer("plattr-aws.json", "plattr-aws.example.json", "cdk-outputs.json", filepath.Join("testdata", "outputs.example.json"),
			"spoke-outputs.json", filepath.Join("testdata", "outputs.example.json"),
			"-out cdk.out", "-out "+out, "-out ../../overlays/aws/outputs", "-out "+out, "-out ../../overlays/spoke/outputs", "-out "+out)
		args := strings.Fields(r.Replace(cmdline))
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=none-here")
		stdout, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", cmdline, stdout)
		entries, err := os.ReadDir(out)
		require.NoError(t, err)
		assert.NotEmpty(t, entries, cmdline)
	}
	assert.Len(t, seen, 4, "the runbook's synth, overlay (the hub's and a spoke's) and check commands: %v", seen)
}
