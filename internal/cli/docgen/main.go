// Command docgen writes the reference of plattr's and plattr-gen's commands
// into docs/commands (make generate), one Markdown file per command, from the
// commands themselves: their usage, flags and defaults as the programs have
// them. A test fails when the committed files differ.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/plattr/plattr/internal/cli/plattr"
	"github.com/plattr/plattr/internal/cli/plattrgen"
)

func main() {
	dir := "docs/commands"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := write(dir); err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}

// write generates the reference into dir, replacing what is there. Flag
// defaults that come from the environment are shown as without one.
func write(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	noEnv := func(string) string { return "" }
	roots := []*cobra.Command{
		plattr.Command(plattr.IO{Out: io.Discard, Err: io.Discard}),
		plattrgen.Command(plattrgen.IO{Out: io.Discard, Err: io.Discard, Getenv: noEnv}),
	}
	for _, root := range roots {
		root.DisableAutoGenTag = true
		if err := doc.GenMarkdownTree(root, dir); err != nil {
			return err
		}
	}
	index := "# Commands\n\nGenerated from the programs by `make generate` (internal/cli/docgen): do not edit.\n\n" +
		"- [plattr](plattr.md): the developer's command\n- [plattr-gen](plattr-gen.md): what CI runs\n"
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(index), 0o644)
}
