package plattrgen

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/internal/envhistory"
	planpkg "github.com/plattr/plattr/operator/plan"
	"github.com/plattr/plattr/ops"
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
	f.IntVar(&o.depth, "depth", historyDepth, "how many commits of history to look through")
	o.bind(f, io, "base branch of the env repo")
	bindOutput(f, &o.output)
	o.gh.bind(f, io, "GitHub repository of the env repo, for the pull request")
	return cmd
}

// maxDepth bounds --depth: each commit of history is fetched and read.
const maxDepth = 10000

func (o *rollbackOptions) run(cmd *cobra.Command, io IO) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	switch {
	case o.app == "" || o.env == "" || o.repo == "":
		return usagef("--app, --env and --repo are required")
	case o.steps < 1:
		return usagef("--steps must be 1 or more")
	case o.depth < 1 || o.depth > maxDepth:
		return usagef("--depth must be between 1 and %d commits, is %d", maxDepth, o.depth)
	case o.to != "" && !ops.CommitPrefix.MatchString(o.to):
		return usagef("--to must be an env repo commit id, full or abbreviated to at least 7 hex digits (git log --format=%%h), is %q", o.to)
	}
	if err := checkNames(flagName{"--app", o.app, names.App}, flagName{"--env", o.env, names.Env}); err != nil {
		return err
	}
	gh, err := o.gh.client(o.repo)
	if err != nil {
		return usageError{err}
	}
	repo, err := o.open(cmd.Context())
	if err != nil {
		return err
	}
	op := ops.Rollback{App: o.app, Env: o.env, Steps: o.steps, To: o.to}
	history, err := repo.History(cmd.Context(), op.File(), o.depth)
	if err != nil {
		return err
	}
	plan, err := op.Plan(envhistory.Versions(history), o.depth)
	if err != nil {
		return err
	}
	if len(plan.Files) == 0 {
		fmt.Fprintf(io.Out, "%s in %s already runs that release: nothing to roll back\n", o.app, o.env)
		return nil
	}
	// The plan comes from the history, not from the branch's tree.
	prop, err := repo.Propose(cmd.Context(), op.Branch(), func(envfiles.Tree) (envfiles.Files, string, error) {
		return plan.Files, plan.Message.String(), nil
	})
	if err != nil {
		return err
	}
	report := proposalReport{Kind: "rollback", Apps: []string{o.app}, Environment: o.env, Repo: repo.URL(), Base: o.branch,
		Branch: prop.Branch, Commit: prop.Commit.String(),
		Images: []imageRow{{App: o.app, From: generator.ImageDigest(ops.ReleaseImageRef(plan.Current.Content)), To: generator.ImageDigest(ops.ReleaseImageRef(plan.Target.Content))}}}
	if plan.DatabaseChanged && o.output != "json" {
		fmt.Fprintf(io.Err, "warning: the database block of %s differs between the running release and the one restored\n", o.app)
	}
	proposal := op.Proposal(plan)
	if base, err := repo.Tree(); err == nil {
		var items []planpkg.Item
		proposal.Body, items = withPlan(proposal.Body, base, plan.Files, repoHistory(cmd.Context(), repo))
		for _, it := range items {
			if it.Part == planpkg.PartRelease && it.Action == "rollback" && o.output != "json" {
				fmt.Fprintf(io.Err, "warning: %s %s\n", o.app, it.Reason)
			}
		}
	}
	return finishProposal(cmd, io, gh, report, proposal, o.output)
}
