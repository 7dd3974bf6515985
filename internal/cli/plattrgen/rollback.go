package plattrgen

import (
	"fmt"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/gitops"
)

type rollbackOptions struct {
	repoFlags
	app, env, to, output string
	steps, depth         int
	gh                   githubFlags
}

func newRollbackCmd(io IO) *cobra.Command {
	o := &rollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback --app APP --env ENV --repo REPO [--steps 1 | --to COMMIT]",
		Short: "Open a pull request that restores an earlier release",
		Long: "rollback finds the earlier contents of envs/<env>/<app>/release.yaml in the env repo's history and\n" +
			"opens a pull request (branch plattr/rollback-<env>-<app>) that restores one: by default the release\n" +
			"before the current one (--steps 1), or the one at --to COMMIT. The pull request warns when the\n" +
			"database block differs. Without GitHub the branch is pushed, as with promote.",
		Example: "  plattr-gen rollback --app hello --env prod --repo https://github.com/acme/env\n" +
			"  plattr-gen rollback --app hello --env prod --to 3f9c1a2 --repo ./env.git",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, io) },
	}
	f := cmd.Flags()
	f.StringVar(&o.app, "app", "", "app to roll back")
	f.StringVar(&o.env, "env", "", "environment to roll back")
	f.IntVar(&o.steps, "steps", 1, "how many releases back")
	f.StringVar(&o.to, "to", "", "restore the release as it was at this env repo commit (full or abbreviated id)")
	f.IntVar(&o.depth, "depth", 200, "how many commits of history to look through")
	o.bind(f, io, "base branch of the env repo")
	f.StringVar(&o.output, "output", "text", "output format: text or json")
	o.gh.bind(f, io, "GitHub repository of the env repo, for the pull request")
	return cmd
}

func (o *rollbackOptions) run(cmd *cobra.Command, io IO) error {
	switch {
	case o.app == "" || o.env == "" || o.repo == "":
		return usagef("--app, --env and --repo are required")
	case o.steps < 1:
		return usagef("--steps must be 1 or more")
	case o.output != "text" && o.output != "json":
		return usagef("--output must be text or json, is %q", o.output)
	}
	if err := names.App(o.app); err != nil {
		return usageError{err}
	}
	if err := names.Env(o.env); err != nil {
		return usageError{err}
	}
	gh, err := o.gh.client(o.repo)
	if err != nil {
		return usageError{err}
	}
	repo, err := o.open(cmd.Context())
	if err != nil {
		return err
	}
	file := path.Join(generator.EnvsDir, o.env, o.app, generator.ReleaseFile)
	versions, err := repo.History(cmd.Context(), file, o.depth)
	if err != nil {
		return err
	}
	if len(versions) == 0 {
		return fmt.Errorf("%s has no release in %s (no %s)", o.app, o.env, file)
	}
	current := versions[0]
	var target *gitops.Version
	switch {
	case o.to != "":
		for i := range versions {
			if strings.HasPrefix(versions[i].Commit.Hash.String(), o.to) {
				target = &versions[i]
			}
		}
		if target == nil {
			return fmt.Errorf("no release of %s in %s was committed at %q within the last %d commits (see git log -- %s)", o.app, o.env, o.to, o.depth, file)
		}
	case o.steps < len(versions):
		target = &versions[o.steps]
	default:
		return fmt.Errorf("%s in %s has only %d earlier release(s) within the last %d commits: cannot go back %d", o.app, o.env, len(versions)-1, o.depth, o.steps)
	}
	if string(target.Content) == string(current.Content) {
		fmt.Fprintf(io.Out, "%s in %s already runs that release: nothing to roll back\n", o.app, o.env)
		return nil
	}
	branch := "plattr/rollback-" + o.env + "-" + o.app
	change := generator.ReleaseChange{App: o.app, Old: current.Content, New: target.Content}
	prop, err := repo.Propose(cmd.Context(), branch, func(tree generator.Tree) (generator.Files, string, error) {
		msg := generator.Message{Subject: fmt.Sprintf("%s: roll back %s to %s (as of %.8s)", o.app, o.env, imageOf(target.Content), target.Commit.Hash),
			Trailers: [][2]string{{"Plattr-App", o.app}, {"Plattr-Environment", o.env}, {"Plattr-Rollback-To", target.Commit.Hash.String()}}}
		return generator.Files{file: target.Content}, msg.String(), nil
	})
	if err != nil {
		return err
	}
	report := proposalReport{Kind: "rollback", Apps: []string{o.app}, Environment: o.env, Repo: repo.URL(), Base: o.branch,
		Branch: branch, Commit: prop.Commit.String(), Images: []imageRow{{App: o.app, From: imageOf(current.Content), To: imageOf(target.Content)}}}
	intro := fmt.Sprintf("Rolls **%s** in **%s** back to the release committed in %.12s (%s).",
		o.app, o.env, target.Commit.Hash, strings.SplitN(target.Commit.Message, "\n", 2)[0])
	if generator.DatabaseChanged(current.Content, target.Content) {
		intro += "\n\n> [!WARNING]\n> The database block differs between the running release and this one: check that the older release works with the current schema before merging."
		if o.output != "json" {
			fmt.Fprintf(io.Err, "warning: the database block of %s differs between the running release and the one restored\n", o.app)
		}
	}
	return finishProposal(cmd, io, gh, report, fmt.Sprintf("Roll back %s in %s", o.app, o.env),
		generator.Describe(intro, []generator.ReleaseChange{change}), o.output, []string{"plattr/rollback", "env/" + o.env})
}
