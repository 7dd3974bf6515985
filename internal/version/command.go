package version

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

// AddTo gives a command line its `version` subcommand (text, or JSON with
// --output json) and a --version flag on the root, both printing String.
func AddTo(root *cobra.Command) {
	program := root.Name()
	root.Version = String(program)
	root.SetVersionTemplate("{{.Version}}\n")
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of " + program,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "text":
				_, err := fmt.Fprintln(cmd.OutOrStdout(), String(program))
				return err
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				return enc.Encode(Get())
			}
			return fmt.Errorf("--output must be text or json, is %q", output)
		},
	}
	cmd.Flags().StringVar(&output, "output", "text", "output format: text or json")
	root.AddCommand(cmd)
}
