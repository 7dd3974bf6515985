// Package cmdgroup is the one rule both command-line programs follow for a
// command that only groups others (plattr, plattr-gen, plattr-gen env, …): run
// alone it prints its help; an argument that names none of its commands is a
// usage error (exit code 2), named, not a help page with exit code 0.
package cmdgroup

import (
	"fmt"

	"github.com/spf13/cobra"
)

// Of makes c a group. usage wraps an error as the program's usage error.
func Of(c *cobra.Command, usage func(error) error) *cobra.Command {
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		var names []string
		for _, s := range cmd.Commands() {
			if s.IsAvailableCommand() {
				names = append(names, s.Name())
			}
		}
		return usage(fmt.Errorf("unknown command %q for %q: its commands are %v (see '%s --help')", args[0], cmd.CommandPath(), names, cmd.CommandPath()))
	}
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return c
}
