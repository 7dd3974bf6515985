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
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/internal/cli/cmdgroup"
	"github.com/plattr/plattr/internal/version"
	"github.com/plattr/plattr/ops"
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

func usage(err error) error { return usageError{err} }

// IO are the streams and environment of one invocation.
type IO struct {
	Out, Err io.Writer
	Getenv   func(string) string
}

// Run is the process's entry point: Main, with SIGINT and SIGTERM ending the
// command (its context) wherever it is. A second signal ends the process at once.
func Run(args []string, io IO) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // from now on a signal has its default effect
	}()
	return Main(ctx, args, io)
}

// Main runs plattr-gen with args and returns the exit code. When ctx ends (a
// signal, see Run), the command stops.
func Main(ctx context.Context, args []string, io IO) int {
	if io.Getenv == nil {
		io.Getenv = os.Getenv
	}
	run := &invocation{}
	cmd := newRoot(io, run)
	cmd.SetArgs(args)
	cmd.SetOut(io.Out)
	cmd.SetErr(io.Err)
	err := cmd.ExecuteContext(ctx)
	run.stop()
	if err == nil {
		return ExitOK
	}
	var changes wouldChange
	if errors.As(err, &changes) {
		return ExitFailure // said on stdout: the diff and its summary
	}
	msg := run.explain(ctx, err)
	fmt.Fprintln(io.Err, "plattr-gen: "+msg)
	if io.Getenv("GITHUB_ACTIONS") == "true" {
		fmt.Fprintln(io.Out, annotation(err, msg))
	}
	var ue usageError
	var tr dryRunTrouble
	var ie ops.InputError
	if errors.As(err, &ue) || errors.As(err, &tr) || errors.As(err, &ie) {
		return ExitUsage
	}
	return ExitFailure
}

// annotation is the error as a GitHub Actions workflow command, so that the run
// shows it on the file and line of plattr.yaml it is about (when it is about
// one). Values are escaped as the runner unescapes them.
func annotation(err error, msg string) string {
	props := "title=plattr-gen"
	var me *manifest.Error
	if errors.As(err, &me) && me.File != "" {
		props = "file=" + escapeProperty(me.File)
		if me.Line > 0 {
			props += fmt.Sprintf(",line=%d", me.Line)
		}
		props += ",title=plattr-gen"
	}
	return "::error " + props + "::" + escapeData(msg)
}

func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// wouldChange ends a dry run that would change the env repo: exit code 1, as
// diff(1) and git diff --exit-code say "different".
type wouldChange struct{ files int }

func (w wouldChange) Error() string { return fmt.Sprintf("would change %d file(s)", w.files) }

// dryRunTrouble is any failure of a dry run: exit code 2, as diff(1) says
// "trouble", so that 1 always means "would change".
type dryRunTrouble struct{ error }

func (d dryRunTrouble) Unwrap() error { return d.error }

// Command is plattr-gen's command tree as its documentation shows it
// (docs/commands is generated from it); Main runs the same tree.
func Command(io IO) *cobra.Command { return newRoot(io, &invocation{}) }

func newRoot(io IO, run *invocation) *cobra.Command {
	root := cmdgroup.Of(&cobra.Command{
		Use:   "plattr-gen",
		Short: "Render Plattr releases into an environment repo",
		Long: "plattr-gen is the CI side of Plattr: it renders an app's plattr.yaml and a freshly built image\n" +
			"into the environment repo that Argo CD syncs, and initialises that repo.",
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: run.prepare,
	}, usage)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	root.AddCommand(newRenderCmd(io), newEnvCmd(io), newPromoteCmd(io), newGatesCmd(io), newStatusCmd(io), newMetricsCmd(io), newPlanCmd(io), newPreviewCmd(io), newRollbackCmd(io))
	version.AddTo(root)
	return root
}

// invocation is one run of a command: its --timeout deadline.
type invocation struct {
	ctx     context.Context // the command's, once prepared
	cancel  context.CancelFunc
	timeout time.Duration
}

// errTimeout is the cause of a command's context ended by --timeout.
var errTimeout = errors.New("--timeout passed")

// prepare checks, before the command runs, every value that reaches the
// network: the token of the environment, --repo and --github-api-url are refused
// before anything reads them (env init would otherwise print a --repo that lost
// its scheme as a local path) and before any connection; then it bounds the
// command by --timeout.
func (run *invocation) prepare(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	allowHTTP, _ := f.GetBool("allow-http") // false where there is no such flag
	if f.Lookup("repo") != nil || f.Lookup("github-api-url") != nil {
		if _, _, err := gitops.TokenSource(); err != nil {
			return usageError{err}
		}
	}
	if fl := f.Lookup("repo"); fl != nil && fl.Value.String() != "" {
		if _, err := gitops.CheckLocation(fl.Value.String(), allowHTTP); err != nil {
			return usageError{flagError("--repo", err, allowHTTP)}
		}
	}
	if fl := f.Lookup("github-api-url"); fl != nil && fl.Value.String() != "" {
		if _, err := gitops.CheckURL(fl.Value.String(), allowHTTP); err != nil {
			return usageError{flagError("--github-api-url", err, allowHTTP)}
		}
	}
	if fl := f.Lookup("branch"); fl != nil {
		if err := names.Branch(fl.Value.String()); err != nil {
			return usagef("--branch: %v", err)
		}
	}
	for _, name := range []string{"connect-timeout", "idle-timeout", "timeout"} {
		if d, err := f.GetDuration(name); err == nil && d < 0 {
			return usagef("--%s must not be negative (0 is no limit), is %s", name, d)
		}
	}
	if d, err := f.GetDuration("timeout"); err == nil && d > 0 {
		ctx, cancel := context.WithTimeoutCause(cmd.Context(), d, errTimeout)
		run.ctx, run.cancel, run.timeout = ctx, cancel, d
		cmd.SetContext(ctx)
	}
	return nil
}

func (run *invocation) stop() {
	if run.cancel != nil {
		run.cancel()
	}
}

// explain words a failed command's error, saying which limit or signal ended it.
func (run *invocation) explain(ctx context.Context, err error) string {
	msg := err.Error()
	switch {
	case ctx.Err() != nil:
		return "interrupted: " + msg
	case run.ctx != nil && errors.Is(context.Cause(run.ctx), errTimeout):
		return fmt.Sprintf("stopped after --timeout %s: %s", run.timeout, msg)
	case errors.Is(err, gitops.ErrIdleTimeout):
		return msg + " (--idle-timeout: raise it for a server this slow)"
	case errors.Is(err, gitops.ErrConnectTimeout):
		return msg + " (--connect-timeout: check --repo, or raise it)"
	}
	return msg
}

// flagError names the flag whose value gitops refused.
func flagError(flag string, err error, allowHTTP bool) error {
	if errors.Is(err, gitops.ErrPlainHTTP) && !allowHTTP {
		return fmt.Errorf("%s %w (--allow-http allows it to a test server on a loopback address)", flag, err)
	}
	return fmt.Errorf("%s %w", flag, err)
}

// noArgs refuses positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q (see '%s --help')", cmd.CommandPath(), args, cmd.CommandPath())
	}
	return nil
}

// errNoRepo is the error of a command that needs --repo without it.
func errNoRepo() error {
	return usagef("--repo is required (or $PLATTR_ENV_REPO): the env repo's local path or https:// URL")
}

// repoFlags locate the env repo and bound the time spent talking to it: every
// command that touches it has them.
type repoFlags struct {
	repo, branch                string
	allowHTTP                   bool
	connectTimeout, idleTimeout time.Duration
	io                          IO
}

// defaultTimeout bounds a whole command (--timeout).
const defaultTimeout = 10 * time.Minute

// bind registers the flags; a command that names its branches otherwise
// (plan's --base and --head) gives no branchHelp and has no --branch.
func (r *repoFlags) bind(f *pflag.FlagSet, io IO, branchHelp string) {
	r.io = io
	f.StringVar(&r.repo, "repo", io.Getenv("PLATTR_ENV_REPO"), "env repo: local path or https:// URL (default $PLATTR_ENV_REPO)")
	r.branch = "main"
	if branchHelp != "" {
		f.StringVar(&r.branch, "branch", "main", branchHelp)
	}
	f.BoolVar(&r.allowHTTP, "allow-http", false, "allow plain http:// for --repo and --github-api-url, to a loopback address only (a test server)")
	f.DurationVar(&r.connectTimeout, "connect-timeout", gitops.DefaultConnectTimeout, "longest wait for a connection (TCP and TLS) to the env repo's server; 0 is no limit")
	f.DurationVar(&r.idleTimeout, "idle-timeout", gitops.DefaultIdleTimeout, "longest time no data moves to or from the env repo's server during a fetch or push; 0 is no limit")
	f.Duration("timeout", defaultTimeout, "longest time the whole command may take, GitHub included; 0 is no limit") // applied by prepare
}

// open clones the env repo's branch into memory, with the token from the
// environment. Credentials in --repo's URL win over the token, and the command
// says so when both are there.
func (r *repoFlags) open(ctx context.Context) (*gitops.Repo, error) {
	return r.openBranch(ctx, "--branch", r.branch)
}

// openBranch is open for another branch of the env repo, given by flag (in
// the message when the branch does not exist).
func (r *repoFlags) openBranch(ctx context.Context, flag, branch string) (*gitops.Repo, error) {
	token, tokenVar, err := gitops.TokenSource()
	if err != nil {
		return nil, usageError{err}
	}
	loc, err := gitops.CheckLocation(r.repo, r.allowHTTP)
	if err != nil {
		return nil, usageError{flagError("--repo", err, r.allowHTTP)}
	}
	if loc.URLCredentials && token != "" && r.io.Err != nil {
		fmt.Fprintf(r.io.Err, "plattr-gen: --repo's URL carries credentials: they are used, and the token in $%s is not sent\n", tokenVar)
	}
	opts := []gitops.Option{gitops.WithBranch(branch), gitops.WithToken(token), gitops.WithTimeouts(r.connectTimeout, r.idleTimeout)}
	if r.allowHTTP {
		opts = append(opts, gitops.WithAllowHTTP())
	}
	repo, err := gitops.Open(ctx, r.repo, generator.Validate, opts...)
	if errors.Is(err, gitops.ErrNoBranch) {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return repo, err
}
