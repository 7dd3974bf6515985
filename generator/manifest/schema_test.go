package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// compiledSchema is Schema compiled by a JSON Schema validator, as an editor's.
func compiledSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := Schema(nil)
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource(SchemaID, doc))
	s, err := c.Compile(SchemaID)
	require.NoError(t, err)
	return s
}

// asJSON reads YAML as yaml-language-server does (YAML 1.2) into JSON values.
func asJSON(t *testing.T, doc string) any {
	t.Helper()
	var v any
	require.NoError(t, yaml.Unmarshal([]byte(doc), &v))
	data, err := json.Marshal(v)
	require.NoError(t, err)
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	require.NoError(t, err)
	return out
}

// The schema and the loader agree: every document the loader accepts, the
// schema accepts (an editor never marks a valid plattr.yaml); every mistake the
// schema can state, both refuse. A few rules only the loader checks.
func TestSchema_AgreesWithTheLoader(t *testing.T) {
	s := compiledSchema(t)
	valid := []string{
		"name: hello\n",
		"name: hello\nport: 3000\nreplicas: 0\nenv:\n  LOG_LEVEL: debug\n  PORT_NUMBER: 8080\n  FLAG: true\n",
		"name: hello\nport: 0\nhealthCheck:\n  path: /healthz\n  initialDelaySeconds: 600\n  periodSeconds: 0\n",
		"name: hello\nresources:\n  requests: {cpu: 250m, memory: 512Mi}\n  limits: {cpu: 1, memory: 1Gi}\n",
		"name: hello\ndatabase:\n  enabled: true\n  extensions: [pg_trgm, postgis]\nredis: {enabled: true}\nsearch: {enabled: false}\nauth:\n  enabled: true\n  redirectPaths: [/callback]\n",
		"name: hello\nenvironments:\n  prod:\n    replicas: 3\n    resources: {limits: {memory: 2Gi}}\n  preview:\n    replicas: 1\n",
		"name: hello\ndev:\n  command: [npm, run, dev]\n",
		"name: hello\ndatabase:\nredis:\n",
		"name: hello\nsecrets:\n  STRIPE_API_KEY: stripe/api-key\n  SMTP_PASSWORD: mail.smtp@prod\n",
	}
	examples, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", FileName))
	require.NoError(t, err)
	require.NotEmpty(t, examples)
	for _, e := range examples {
		data, err := os.ReadFile(e)
		require.NoError(t, err)
		valid = append(valid, string(data))
	}
	for _, doc := range valid {
		_, err := Parse(FileName, []byte(doc))
		require.NoError(t, err, doc)
		assert.NoError(t, s.Validate(asJSON(t, doc)), doc)
	}
	invalid := map[string]string{
		"no name":             "port: 80\n",
		"name pattern":        "name: Hello\n",
		"name too long":       "name: " + strings.Repeat("a", 41) + "\n",
		"unknown field":       "name: hello\nimage: nginx\n",
		"unknown nested":      "name: hello\ndatabase:\n  enabled: true\n  size: 10\n",
		"port range":          "name: hello\nport: 70000\n",
		"negative port":       "name: hello\nport: -1\n",
		"port as string":      "name: hello\nport: \"8080\"\n",
		"replicas range":      "name: hello\nreplicas: 101\n",
		"env name":            "name: hello\nenv:\n  1BAD: x\n",
		"env reserved":        "name: hello\nenv:\n  DATABASE_URL: postgres://x\n",
		"env list":            "name: hello\nenv: [A, B]\n",
		"bool as string":      "name: hello\nredis:\n  enabled: \"true\"\n",
		"bool yes":            "name: hello\nredis:\n  enabled: yes\n",
		"extension":           "name: hello\ndatabase:\n  extensions: [Bad-Name]\n",
		"redirect path":       "name: hello\nauth:\n  redirectPaths: [callback]\n",
		"probe path":          "name: hello\nhealthCheck:\n  path: healthz\n",
		"probe delay":         "name: hello\nhealthCheck:\n  initialDelaySeconds: 601\n",
		"period":              "name: hello\nhealthCheck:\n  periodSeconds: 301\n",
		"environment name":    "name: hello\nenvironments:\n  Prod: {}\n",
		"environment field":   "name: hello\nenvironments:\n  prod:\n    port: 80\n",
		"environment replica": "name: hello\nenvironments:\n  prod:\n    replicas: 1000\n",
		"dev command empty":   "name: hello\ndev:\n  command: []\n",
		"not a mapping":       "- name: hello\n",
		"secret name":         "name: hello\nsecrets:\n  1KEY: a\n",
		"secret reserved":     "name: hello\nsecrets:\n  REDIS_URL: a\n",
		"secret climbs":       "name: hello\nsecrets:\n  K: ../billing/stripe\n",
		"secret absolute":     "name: hello\nsecrets:\n  K: /plattr/prod/billing/k\n",
		"secret list":         "name: hello\nsecrets: [a]\n",
	}
	for reason, doc := range invalid {
		_, err := Parse(FileName, []byte(doc))
		assert.Error(t, err, "the loader: %s", reason)
		assert.Error(t, s.Validate(asJSON(t, doc)), "the schema: %s", reason)
	}
	// What only the loader checks: the schema lets these through, never the reverse.
	for reason, doc := range map[string]string{
		"quantity":      "name: hello\nresources:\n  limits: {cpu: lots}\n",
		"dev program":   "name: hello\ndev:\n  command: [\" \"]\n",
		"apps reserved": "name: apps\n",
		"secret in env": "name: hello\nenv:\n  K: v\nsecrets:\n  K: k\n",
	} {
		_, err := Parse(FileName, []byte(doc))
		assert.Error(t, err, "the loader: %s", reason)
		assert.NoError(t, s.Validate(asJSON(t, doc)), "the schema: %s", reason)
	}
}

// Every field the loader reads is in the schema, with no other.
func TestSchema_HasEveryField(t *testing.T) {
	data, err := Schema(nil)
	require.NoError(t, err)
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(data, &s))
	var keys []string
	for k := range s.Properties {
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, []string{"name", "port", "replicas", "env", "healthCheck", "resources", "database", "redis", "search", "auth", "environments", "dev", "secrets", "release"}, keys)
}
