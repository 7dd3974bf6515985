package cmdgroup

import (
	"bytes"
	"errors"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type usageError struct{ error }

func tree() *cobra.Command {
	usage := func(err error) error { return usageError{err} }
	root := Of(&cobra.Command{Use: "tool", SilenceErrors: true, SilenceUsage: true}, usage)
	group := Of(&cobra.Command{Use: "group"}, usage)
	group.AddCommand(&cobra.Command{Use: "leaf", RunE: func(*cobra.Command, []string) error { return nil }})
	root.AddCommand(group)
	return root
}

func run(args ...string) (string, error) {
	root := tree()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestGroup(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"group", "bogus"}, {"group", "leaf-typo", "x"}} {
		_, err := run(args...)
		var ue usageError
		require.True(t, errors.As(err, &ue), "%v: %v is a usage error", args, err)
		assert.Contains(t, err.Error(), "unknown command")
	}
	_, err := run("group", "bogus")
	assert.ErrorContains(t, err, `unknown command "bogus" for "tool group": its commands are [leaf]`)

	out, err := run("group")
	require.NoError(t, err, "a group alone prints its help")
	assert.Contains(t, out, "leaf")
	_, err = run("group", "leaf")
	assert.NoError(t, err)
}
