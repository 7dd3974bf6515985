package plattrgen

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

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
	bindOutput(f, &o.output)
	o.gh.bind(f, io, "GitHub repository of the env repo, for the pull request")
	return cmd
}

// maxDepth bounds --depth: each commit of history is fetched and read.
const maxDepth = 10000

// commitPrefix is what --to takes: an abbreviated or full commit id. Seven digits
// at least, as git abbreviates: fewer match too many commits to be meant.
var commitPrefix = regexp.MustCompile(`^[0-9a-fA-F]{7,40}$`)

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
	case o.to != "" && !commitPrefix.MatchString(o.to):
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
		if target, err = releaseAt(versions, o.to); err != nil {
			return err
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
			Trailers: [][2]string{{generator.TrailerApp, o.app}, {generator.TrailerEnvironment, o.env}, {generator.TrailerRollbackTo, target.Commit.Hash.String()}}}
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

// releaseAt is the release committed at the commit whose id starts with prefix
// (nil when none is), refusing a prefix that more than one release's commit
// starts with: picking one would roll back to a release nobody chose.
func releaseAt(versions []gitops.Version, prefix string) (*gitops.Version, error) {
	prefix = strings.ToLower(prefix)
	var found []*gitops.Version
	for i := range versions {
		if strings.HasPrefix(versions[i].Commit.Hash.String(), prefix) {
			found = append(found, &versions[i])
		}
	}
	if len(found) <= 1 {
		if len(found) == 0 {
			return nil, nil
		}
		return found[0], nil
	}
	var list []string
	for _, v := range found {
		list = append(list, fmt.Sprintf("%s (%s)", v.Commit.Hash, v.Commit.Committer.When.UTC().Format(time.DateOnly)))
	}
	return nil, usagef("--to %s is ambiguous: the commits of %d releases start with it: %s; give more digits", prefix, len(found), strings.Join(list, ", "))
}
