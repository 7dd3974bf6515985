package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docs/commands is what the commands say of themselves: regenerate it (make
// generate) when a command, flag or help text changes.
func TestCommandsReferenceIsCurrent(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, write(dir))
	want, err := os.ReadDir(dir)
	require.NoError(t, err)
	committed := filepath.Join("..", "..", "..", "docs", "commands")
	have, err := os.ReadDir(committed)
	require.NoError(t, err, "run make generate")
	var names []string
	for _, e := range have {
		names = append(names, e.Name())
	}
	for _, e := range want {
		gen, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(committed, e.Name()))
		if !assert.NoError(t, err, "%s is missing: run make generate", e.Name()) {
			continue
		}
		assert.Equal(t, string(gen), string(got), "docs/commands/%s is stale: run make generate", e.Name())
	}
	assert.Len(t, names, len(want), "docs/commands has files no command makes: run make generate")
}

// docs/plattr.schema.json is what the manifest's fields, rules and comments say.
func TestSchemaIsCurrent(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	file := filepath.Join(t.TempDir(), SchemaFile)
	require.NoError(t, writeSchema(root, file))
	gen, err := os.ReadFile(file)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(root, "docs", SchemaFile))
	require.NoError(t, err, "run make generate")
	assert.Equal(t, string(gen), string(got), "docs/%s is stale: run make generate", SchemaFile)
	assert.Contains(t, string(gen), `"description": "CPU as a Kubernetes quantity: 250m, 1."`, "the Go comments are the descriptions")
}
