package plattrgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/gitops/pulls"
	"github.com/plattr/plattr/operator/ghdeploy"
	"github.com/plattr/plattr/ops"
)

type promoteOptions struct {
	repoFlags
	app, from, to, output string
	all, force, pending   bool
	gh                    githubFlags
}

func newPromoteCmd(io IO) *cobra.Command {
	o := &promoteOptions{}
	cmd := &cobra.Command{
		Use:   "promote --app APP | --all --from ENV --to ENV --repo REPO",
		Short: "Open a pull request that promotes releases to the next environment",
		Long: "promote copies envs/<from>/<app>/release.yaml verbatim to envs/<to>/<app>/ on the branch\n" +
			"plattr/promote-<to>-<app> (--all: every app whose release differs, on plattr/promote-<from>-to-<to>)\n" +
			"and opens a pull request; merging it is the promotion. env.yaml of the target is never touched.\n" +
			"Running it again updates the same branch and pull request. Without GitHub (a local env repo and no\n" +
			"--github-repo) the branch is pushed and the command prints how to merge it.",
		Example: "  plattr-gen promote --app hello --from staging --to uat --repo https://github.com/acme/env\n" +
			"  plattr-gen promote --all --from uat --to prod --repo ./env.git",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, io) },
	}
	f := cmd.Flags()
	f.StringVar(&o.app, "app", "", "app to promote")
	f.BoolVar(&o.all, "all", false, "promote every app whose release differs, in one pull request")
	f.StringVar(&o.from, "from", "", "environment to promote from")
	f.StringVar(&o.to, "to", "", "environment to promote to: the next one in promotion order")
	f.BoolVar(&o.force, "force", false, "allow skipping environments and pass the target's gates (recorded in the pull request and the commit)")
	f.BoolVar(&o.pending, "pending", false, "open the pull request even when the target's gates do not hold yet: its "+ops.StatusContext+" status stays pending until 'plattr-gen gates' finds they hold")
	o.bind(f, io, "base branch of the env repo")
	bindOutput(f, &o.output)
	o.gh.bind(f, io, "GitHub repository of the env repo, for the pull request")
	return cmd
}

// proposalReport is the --output json form of promote and rollback.
type proposalReport struct {
	Kind        string     `json:"kind"`
	Apps        []string   `json:"apps"`
	From        string     `json:"from,omitempty"`
	Environment string     `json:"environment"`
	Repo        string     `json:"repo"`
	Branch      string     `json:"branch,omitempty"`
	Base        string     `json:"base"`
	Commit      string     `json:"commit,omitempty"`
	PullRequest *pulls.PR  `json:"pullRequest,omitempty"`
	Images      []imageRow `json:"images,omitempty"`
}

type imageRow struct {
	App  string `json:"app"`
	From string `json:"from,omitempty"`
	To   string `json:"to"`
}

func (o *promoteOptions) run(cmd *cobra.Command, io IO) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	switch {
	case o.app == "" && !o.all:
		return usagef("give --app APP, or --all")
	case o.app != "" && o.all:
		return usagef("--app and --all exclude each other")
	case o.from == "" || o.to == "":
		return usagef("--from and --to are required: environments from plattr-env.yaml")
	case o.repo == "":
		return errNoRepo()
	}
	// Names first: they make the branch name, and "--app ../prod" is about the
	// app, not about a branch.
	if err := checkNames(flagName{"--app", o.app, names.App}, flagName{"--from", o.from, names.Env}, flagName{"--to", o.to, names.Env}); err != nil {
		return err
	}
	gh, err := o.gh.client(o.repo)
	if err != nil {
		return usageError{err}
	}
	deploys, err := o.gh.deployments(o.repo)
	if err != nil {
		return usageError{err}
	}
	repo, err := o.open(cmd.Context())
	if err != nil {
		return err
	}
	op := ops.Promote{App: o.app, All: o.all, From: o.from, To: o.to, Force: o.force, Pending: o.pending}
	op.Gates = func(cfg *generator.Config, changes []ops.ReleaseChange) (ops.GateCheck, error) {
		ev := gatherEvidence(cmd.Context(), cfg, repo, deploys, o.from, o.to, changes)
		return ops.CheckGates(cfg, o.from, o.to, ev, time.Now(), o.force)
	}
	var plan ops.PromotePlan
	prop, err := repo.Propose(cmd.Context(), op.Branch(), ops.Change(op.Plan, &plan))
	if err != nil {
		return err
	}
	report := proposalReport{Kind: "promotion", From: o.from, Environment: o.to, Repo: repo.URL(), Base: o.branch}
	for _, c := range plan.Changes {
		report.Apps = append(report.Apps, c.App)
		report.Images = append(report.Images, imageRow{App: c.App, From: generator.ImageDigest(ops.ReleaseImageRef(c.Old)), To: generator.ImageDigest(ops.ReleaseImageRef(c.New))})
	}
	if prop.Commit.IsZero() {
		if o.output == "json" {
			return writeJSON(io, report)
		}
		fmt.Fprintf(io.Out, "nothing to promote: %s already runs what %s runs\n", o.to, o.from)
		return nil
	}
	report.Branch, report.Commit = prop.Branch, prop.Commit.String()
	proposal := op.Proposal(plan)
	if base, err := repo.Tree(); err == nil {
		proposal.Body, _ = withPlan(proposal.Body, base, plan.Files, repoHistory(cmd.Context(), repo))
	}
	if gh != nil && plan.Gates != nil {
		state, desc := plan.Gates.Status(o.force)
		if err := gh.SetStatus(cmd.Context(), report.Commit, pulls.Status{Context: ops.StatusContext, State: state, Description: desc}); err != nil {
			return fmt.Errorf("branch %s is pushed, but its %s status failed: %w", report.Branch, ops.StatusContext, err)
		}
	}
	return finishProposal(cmd, io, gh, report, proposal, o.output)
}

// evidenceDepth is how many commits of the environment promoted from are read
// back for the CI run that rendered a release.
const evidenceDepth = 50

// gatherEvidence reads what GitHub recorded of each release in from (only
// when to has gates: the reads go to the apps' repositories) and the CI run
// that rendered it (its commit's trailer).
func gatherEvidence(ctx context.Context, cfg *generator.Config, repo *gitops.Repo, deploys *ghdeploy.Client, from, to string, changes []ops.ReleaseChange) []ops.Evidence {
	if e, err := cfg.Env(to); err != nil || e.Gates == nil {
		return nil
	}
	source, _ := cfg.Env(from)
	var out []ops.Evidence
	for _, c := range changes {
		e := ops.EvidenceOf(c.App, c.New)
		if versions, err := repo.History(ctx, generator.ReleasePath(from, c.App), evidenceDepth); err == nil {
			for _, v := range versions {
				if bytes.Equal(v.Content, c.New) {
					e.CIRun = ops.ParseTrailers(v.Commit.Message)[ops.TrailerCIRun]
					break
				}
			}
		}
		switch {
		case e.Problem != "":
		case deploys == nil:
			e.Problem = "no GitHub to read deployments from (an env repo on github.com, or --github-repo and --github-api-url)"
		default:
			h, err := deploys.History(ctx, e.Repo, e.Commit, from, c.App, e.Image, source.Deployer)
			if err != nil {
				e.Problem = err.Error()
				break
			}
			e.Since, e.Until, e.Failed, e.URL = h.Since, h.Until, h.Failed, h.URL
		}
		out = append(out, e)
	}
	return out
}

// flagName is a name given in a flag, and the rule it must pass.
type flagName struct {
	flag, value string
	check       func(string) error
}

// checkNames refuses the first name that breaks its rule, naming the flag. An
// empty value is left to the command (--all has no --app).
func checkNames(fs ...flagName) error {
	for _, f := range fs {
		if f.value == "" {
			continue
		}
		if err := f.check(f.value); err != nil {
			return usagef("%s: %v", f.flag, err)
		}
	}
	return nil
}

// finishProposal opens or updates the pull request of a pushed branch (or says
// how to merge it without GitHub) and reports.
func finishProposal(cmd *cobra.Command, io IO, gh *pulls.Client, report proposalReport, p ops.Proposal, output string) error {
	title := p.Title
	if gh != nil {
		pr, created, err := gh.Ensure(cmd.Context(), pulls.Spec{Head: report.Branch, Base: report.Base, Title: title, Body: p.Body, Labels: p.Labels})
		if err != nil {
			return fmt.Errorf("branch %s is pushed, but the pull request failed: %w", report.Branch, err)
		}
		report.PullRequest = &pr
		summary := fmt.Sprintf("### Plattr: %s\n\n[%s](%s)\n\n", title, title, pr.URL)
		if output == "json" {
			return errors.Join(writeJSON(io, report), appendStepSummary(io.Getenv, summary))
		}
		verb := "updated"
		if created {
			verb = "opened"
		}
		fmt.Fprintf(io.Out, "%s pull request %s: %s\n", verb, pr.URL, title)
		return appendStepSummary(io.Getenv, summary)
	}
	summary := fmt.Sprintf("### Plattr: %s\n\npushed branch `%s` to %s, to merge into `%s`\n\n", title, report.Branch, report.Repo, report.Base)
	if err := appendStepSummary(io.Getenv, summary); err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(io, report)
	}
	fmt.Fprintf(io.Out, "pushed branch %s to %s: %s\n", report.Branch, report.Repo, title)
	fmt.Fprintf(io.Out, "review it:  git fetch %s %s && git diff %s...FETCH_HEAD\n", report.Repo, report.Branch, report.Base)
	fmt.Fprintf(io.Out, "merge it:   git merge --ff-only FETCH_HEAD && git push origin %s   (or open a pull request from %s)\n", report.Base, report.Branch)
	return nil
}
