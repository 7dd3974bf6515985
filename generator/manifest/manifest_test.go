package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

func TestLoad_Example(t *testing.T) {
	m, err := Load(filepath.Join("..", "..", "examples", "hello", FileName))
	require.NoError(t, err)
	assert.Equal(t, "hello", m.Name)
	assert.Equal(t, int32(8080), m.Port)
	assert.Equal(t, "Hello from Plattr", m.Env["GREETING"])
	assert.Equal(t, "/healthz", m.HealthCheck.Path)
	assert.Equal(t, "128Mi", m.Resources.Requests.Memory)
	db, redis, search, auth := m.Enabled()
	assert.True(t, db)
	assert.True(t, redis)
	assert.False(t, search)
	assert.False(t, auth)
	require.Contains(t, m.Environments, "prod")
	assert.Equal(t, int32(3), *m.Environments["prod"].Replicas)
}

func TestParse_Errors(t *testing.T) {
	cases := map[string]struct {
		reason string
		yaml   string
		want   string // the whole error must contain this
	}{
		"unknown field": {"a typo is not ignored", "name: a\ndatabse:\n  enabled: true\n",
			`plattr.yaml:2: databse: unknown field (allowed here: auth, database, dev, env, environments, healthCheck, name, port, redis, release, replicas, resources, search, secrets)`},
		"unknown nested": {"nested typos name the full path", "name: a\ndatabase:\n  enable: true\n",
			`plattr.yaml:3: database.enable: unknown field (allowed here: enabled, extensions)`},
		"bad bool": {"a string where a bool goes", "name: a\nredis:\n  enabled: yes please\n",
			`plattr.yaml:3: redis.enabled: must be true or false, is "yes please"`},
		"bad int": {"a string where a number goes", "name: a\nport: http\n",
			`plattr.yaml:2: port: must be a whole number in decimal, such as 8080, is "http"`},
		"port range": {"ports are 1..65535", "name: a\nport: 70000\n",
			`plattr.yaml:2: port: must be between 1 and 65535, is 70000`},
		"missing name":     {"name is required", "port: 80\n", `plattr.yaml: name: is required`},
		"bad name":         {"names are DNS labels", "name: ../prod\n", `plattr.yaml:1: name: must be lower-case letters`},
		"long name":        {"64 characters", "name: " + strings.Repeat("a", 64) + "\n", `plattr.yaml:1: name: must be at most 40 characters, is 64`},
		"dup key":          {"duplicate keys are ambiguous", "name: a\nname: b\n", `plattr.yaml:2: name: appears twice`},
		"list for map":     {"env is a mapping", "name: a\nenv:\n  - A=1\n", `plattr.yaml:3: env: must be a mapping`},
		"env name":         {"variable names", "name: a\nenv:\n  1BAD: x\n", `plattr.yaml:3: env.1BAD: variable names are letters`},
		"injected":         {"Plattr owns DATABASE_URL", "name: a\nenv:\n  DATABASE_URL: x\n", `env.DATABASE_URL: is set by Plattr from the database service's Secret`},
		"quantity":         {"resource quantities parse", "name: a\nresources:\n  limits:\n    memory: lots\n", `plattr.yaml:4: resources.limits.memory: must be a Kubernetes quantity`},
		"env override":     {"environment names are checked", "name: a\nenvironments:\n  Prod:\n    replicas: 2\n", `plattr.yaml:3: environments.Prod: must be lower-case`},
		"redirect":         {"no wildcard redirects", "name: a\nauth:\n  enabled: true\n  redirectPaths: ['/*']\n", `plattr.yaml:4: auth.redirectPaths[0]: must be a URL path`},
		"not yaml":         {"syntax errors", "name: [a\n", `plattr.yaml: not valid YAML`},
		"empty":            {"an empty file", "", `plattr.yaml: is empty`},
		"dev command":      {"dev needs a command", "name: a\ndev:\n  command: []\n", `plattr.yaml:3: dev.command: is required in dev`},
		"dev program":      {"the program is named", "name: a\ndev:\n  command: ['', x]\n", `plattr.yaml:3: dev.command[0]: must name the program`},
		"release command":  {"a release phase runs something", "name: a\nrelease:\n  command: []\n", `plattr.yaml:3: release.command: is required in release`},
		"release program":  {"the program is named", "name: a\nrelease:\n  command: ['']\n", `plattr.yaml:3: release.command[0]: must name the program`},
		"release timeout":  {"a duration", "name: a\nrelease:\n  command: [x]\n  timeout: soon\n", `plattr.yaml:4: release.timeout: must be a duration such as 10m`},
		"release too long": {"the operator's bound", "name: a\nrelease:\n  command: [x]\n  timeout: 7h\n", `plattr.yaml:4: release.timeout: 7h0m0s is outside 1s..6h0m0s`},
		"replicas":         {"replicas bounded", "name: a\nreplicas: -1\n", `plattr.yaml:2: replicas: must be between 0 and 100, is -1`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("plattr.yaml", []byte(tc.yaml))
			require.Error(t, err, tc.reason)
			assert.Contains(t, err.Error(), tc.want, tc.reason)
		})
	}
}

// An env entry named like a variable the operator injects from a service's
// Secret would override it in the container (env wins over envFrom): the app
// would talk to another database, or log in as someone else.
func TestParse_RefusesInjectedVariables(t *testing.T) {
	for name, svc := range map[string]string{
		"REDIS_USERNAME": "redis", "REDIS_PASSWORD": "redis", "REDIS_URL": "redis",
		"PGPASSWORD": "database", "DATABASE_URL": "database",
		"OPENSEARCH_PASSWORD": "search", "OIDC_CLIENT_SECRET": "auth",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("plattr.yaml", []byte("name: a\nenv:\n  "+name+": x\n"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "plattr.yaml:3: env."+name+": is set by Plattr from the "+svc+" service's Secret")
		})
	}
	for name, svc := range plattrv1.InjectedEnv {
		_, err := Parse("plattr.yaml", []byte("name: a\nenv:\n  "+name+": x\n"))
		assert.ErrorContains(t, err, "the "+svc+" service's Secret", "every injected variable: %s", name)
	}
	// Variable names are case-sensitive in a Linux process: another spelling
	// overrides nothing. PORT is the app's to set (the operator's is a default).
	m, err := Parse("plattr.yaml", []byte("name: a\nenv:\n  redis_password: x\n  Redis_Url: y\n  PORT: \"9000\"\n"))
	require.NoError(t, err)
	assert.Len(t, m.Env, 3)
}

func TestParse_ScalarsIntoStrings(t *testing.T) {
	m, err := Parse("plattr.yaml", []byte("name: a\nenv:\n  PORT: 8080\n  DEBUG: true\n  EMPTY:\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"PORT": "8080", "DEBUG": "true", "EMPTY": ""}, m.Env)
}

func TestManifest_Errorf(t *testing.T) {
	m, err := Parse("app/plattr.yaml", []byte("name: a\nenvironments:\n  prdo:\n    replicas: 2\n"))
	require.NoError(t, err)
	assert.EqualError(t, m.Errorf("environments.prdo", "no such environment"), "app/plattr.yaml:3: environments.prdo: no such environment")
}

func TestLoad_MissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), FileName))
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestParse_DevCommand(t *testing.T) {
	m, err := Parse("plattr.yaml", []byte("name: a\ndev:\n  command: [npm, run, dev]\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"npm", "run", "dev"}, m.Dev.Command)

	m, err = Parse("plattr.yaml", []byte("name: a\n"))
	require.NoError(t, err)
	assert.Nil(t, m.Dev, "dev is optional")
}

// Hostile files: what is not one small regular YAML document is refused at
// once, naming the file (before, a FIFO blocked forever, a 50 MB file took
// minutes, and a second document was silently ignored).
func TestLoad_HostileFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, []byte("name: shop\nenv:\n  X: \""+strings.Repeat("a", MaxFileSize)+"\"\n"), 0o600))
	device := filepath.Join(dir, "device.yaml")
	require.NoError(t, os.Symlink("/dev/zero", device))
	two := filepath.Join(dir, "two.yaml")
	require.NoError(t, os.WriteFile(two, []byte("name: shop\n---\nname: other\nenv: {DATABASE_URL: x}\n"), 0o600))
	folder := filepath.Join(dir, "folder.yaml")
	require.NoError(t, os.Mkdir(folder, 0o700))
	for path, want := range map[string]string{
		fifo:   "fifo.yaml: is a named pipe (FIFO), not a regular file",
		device: "device.yaml: is a symbolic link: plattr.yaml must be a regular file in the app's repository",
		folder: "folder.yaml: is a folder, not a regular file",
		big:    "big.yaml: is 131" + "", // its size, more than the limit
		two:    "two.yaml:2: holds more than one YAML document",
	} {
		_, err := Load(path)
		require.Error(t, err, path)
		assert.Contains(t, err.Error(), want, path)
	}
	_, err := Load(big)
	assert.Contains(t, err.Error(), "more than the 131072 allowed")
}

func TestParse_OneDocument(t *testing.T) {
	for _, ok := range []string{"name: shop\n", "---\nname: shop\n", "name: shop\n---\n", "name: shop\n...\n"} {
		_, err := Parse("plattr.yaml", []byte(ok))
		assert.NoError(t, err, "%q", ok)
	}
	_, err := Parse("plattr.yaml", []byte("name: shop\n---\n---\nname: x\n"))
	assert.ErrorContains(t, err, "holds more than one YAML document")
}

// Values YAML readers disagree on, or that look like what they are not.
func TestParse_AmbiguousScalars(t *testing.T) {
	for yaml, want := range map[string]string{
		"name: shop\nport: 010\n":                   "plattr.yaml:2: port: must be written without leading zeros",
		"name: shop\nredis:\n  enabled: \"true\"\n": `plattr.yaml:3: redis.enabled: must be true or false without quotes (a quoted value is a string), is "true"`,
		"name: shop\nport: 0x1F90\n":                "port: must be a whole number in decimal",
	} {
		_, err := Parse("plattr.yaml", []byte(yaml))
		require.Error(t, err, yaml)
		assert.Contains(t, err.Error(), want, yaml)
	}
}
