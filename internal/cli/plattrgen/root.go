// Package plattrgen is the plattr-gen command line: it parses flags, wires the
// generator (what to write) to gitops (where to write it) and reports the result.
// It holds no rendering or git logic of its own.
package plattrgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/plattr/plattr/gitops"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// usageError marks a mistake in the command line: exit code 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// IO are the streams and environment of one invocation.
type IO struct {
	Out, Err io.Writer
	Getenv   func(string) string
}

// Main runs plattr-gen with args and returns the exit code.
func Main(ctx context.Context, args []string, io IO) int {
	if io.Getenv == nil {
		io.Getenv = os.Getenv
	}
	cmd := newRoot(io)
	cmd.SetArgs(args)
	cmd.SetOut(io.Out)
	cmd.SetErr(io.Err)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(io.Err, "plattr-gen: "+err.Error())
	var ue usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	return ExitFailure
}

func newRoot(io IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "plattr-gen",
		Short: "Render Plattr releases into an environment repo",
		Long: "plattr-gen is the CI side of Plattr: it renders an app's plattr.yaml and a freshly built image\n" +
			"into the environment repo that Argo CD syncs, and initialises that repo.",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	root.AddCommand(newRenderCmd(io), newEnvCmd(io), newPromoteCmd(io), newPreviewCmd(io), newRollbackCmd(io))
	return root
}

// noArgs refuses positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q (see '%s --help')", cmd.CommandPath(), args, cmd.CommandPath())
	}
	return nil
}

// repoFlags locate the env repo: every command that touches it has them.
type repoFlags struct {
	repo, branch string
}

func (r *repoFlags) bind(f *pflag.FlagSet, io IO, branchHelp string) {
	f.StringVar(&r.repo, "repo", io.Getenv("PLATTR_ENV_REPO"), "env repo: local path or https:// URL (default $PLATTR_ENV_REPO)")
	f.StringVar(&r.branch, "branch", "main", branchHelp)
}

// open clones the env repo's branch into memory, with the token from the environment.
func (r *repoFlags) open(ctx context.Context) (*gitops.Repo, error) {
	return gitops.Open(ctx, r.repo, gitops.WithBranch(r.branch), gitops.WithToken(gitops.TokenFromEnv()))
}
