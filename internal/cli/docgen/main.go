// Command docgen writes the references made from the code (make generate): of
// plattr's and plattr-gen's commands into docs/commands, one Markdown file per
// command, from the commands themselves (their usage, flags and defaults as the
// programs have them); and plattr.yaml's JSON Schema into
// docs/plattr.schema.json, from the manifest's fields, rules and Go comments.
// A test fails when the committed files differ.
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/internal/cli/plattr"
	"github.com/plattr/plattr/internal/cli/plattrgen"
)

// Run from the repository's root.
func main() {
	err := write(filepath.Join("docs", "commands"))
	if err == nil {
		err = writeSchema(".", filepath.Join("docs", SchemaFile))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}

// SchemaFile is plattr.yaml's JSON Schema, in docs/.
const SchemaFile = "plattr.schema.json"

// writeSchema writes plattr.yaml's JSON Schema to file, with the Go comments
// of the manifest's fields (in root's generator/manifest) as descriptions.
func writeSchema(root, file string) error {
	docs, err := fieldDocs(filepath.Join(root, "generator", "manifest", "manifest.go"))
	if err != nil {
		return err
	}
	data, err := manifest.Schema(docs)
	if err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o644)
}

// fieldDocs reads the comments of the struct fields of a Go file: "Type.Field"
// to the comment's text on one line.
func fieldDocs(file string) (map[string]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	docs := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		for _, field := range st.Fields.List {
			if field.Doc == nil {
				continue
			}
			text := strings.Join(strings.Fields(field.Doc.Text()), " ")
			for _, name := range field.Names {
				docs[ts.Name.Name+"."+name.Name] = text
			}
		}
		return false
	})
	return docs, nil
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
