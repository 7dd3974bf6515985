package plattrgen

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/gitops/pulls"
	"github.com/plattr/plattr/ops"
)

type gatesOptions struct {
	repoFlags
	output string
	gh     githubFlags
}

func newGatesCmd(io IO) *cobra.Command {
	o := &gatesOptions{}
	cmd := &cobra.Command{
		Use:   "gates --repo REPO",
		Short: "Check the gates of the open promotion pull requests again, and set their " + ops.StatusContext + " status",
		Long: "gates reads every open pull request labelled " + ops.LabelPromotion + " that plattr-gen promote made (its head\n" +
			"commit's Plattr-Promotion trailer), checks the target environment's gates (plattr-env.yaml) for the\n" +
			"releases it changes, with the deployments GitHub recorded where they come from, and sets the\n" +
			"commit status " + ops.StatusContext + " on its head: pending while a gate does not hold, success once\n" +
			"they do. Run it on a schedule (the env repo's workflow does), so a pull request opened during a\n" +
			"soak turns green when the soak ends, and one that a freeze window now holds turns pending.",
		Example: "  plattr-gen gates --repo https://github.com/acme/env",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return o.run(cmd, io) },
	}
	f := cmd.Flags()
	o.bind(f, io, "base branch of the env repo")
	bindOutput(f, &o.output)
	o.gh.bind(f, io, "GitHub repository of the env repo")
	return cmd
}

// gatesRow is one pull request's outcome (--output json).
type gatesRow struct {
	PullRequest int      `json:"pullRequest"`
	URL         string   `json:"url"`
	Branch      string   `json:"branch"`
	From        string   `json:"from,omitempty"`
	To          string   `json:"to,omitempty"`
	Apps        []string `json:"apps,omitempty"`
	State       string   `json:"state"`
	Description string   `json:"description"`
	Reasons     []string `json:"reasons,omitempty"`
}

func (o *gatesOptions) run(cmd *cobra.Command, io IO) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	if o.repo == "" {
		return errNoRepo()
	}
	gh, err := o.gh.client(o.repo)
	if err != nil {
		return usageError{err}
	}
	if gh == nil {
		return usagef("gates reads pull requests on GitHub: give --github-repo (and --github-api-url), or an env repo on github.com")
	}
	deploys, err := o.gh.deployments(o.repo)
	if err != nil {
		return usageError{err}
	}
	ctx := cmd.Context()
	base, err := o.open(ctx)
	if err != nil {
		return err
	}
	baseTree, err := base.Tree()
	if err != nil {
		return err
	}
	cfg, err := generator.ReadConfig(baseTree)
	if err != nil {
		return err
	}
	prs, err := gh.Open(ctx, o.branch, ops.LabelPromotion)
	if err != nil {
		return err
	}
	rows := []gatesRow{}
	for _, pr := range prs {
		row := gatesRow{PullRequest: pr.Number, URL: pr.URL, Branch: pr.Head}
		if pr.Fork {
			continue // a branch of another repository: not plattr-gen promote's
		}
		p, err := readPromotion(ctx, &o.repoFlags, baseTree, cfg, pr)
		if err != nil {
			// One pull request that cannot be read holds no other's status.
			fmt.Fprintf(io.Err, "plattr-gen: gates: %v\n", err)
			continue
		}
		if p == nil {
			continue // not plattr-gen promote's: its gates are not ours to judge
		}
		row.From, row.To, row.Apps = p.from, p.to, p.apps()
		ev := gatherEvidence(ctx, cfg, base, deploys, p.from, p.to, p.changes)
		check, err := ops.CheckGates(cfg, p.from, p.to, ev, time.Now(), p.forced)
		if err != nil {
			return err
		}
		row.State, row.Description = check.Status(p.forced)
		row.Reasons = check.Reasons
		if err := gh.SetStatus(ctx, p.head, pulls.Status{Context: ops.StatusContext, State: row.State, Description: row.Description}); err != nil {
			return fmt.Errorf("pull request #%d: %w", pr.Number, err)
		}
		rows = append(rows, row)
	}
	if o.output == "json" {
		return writeJSON(io, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(io.Out, "no open promotion pull requests")
	}
	for _, r := range rows {
		fmt.Fprintf(io.Out, "#%d %s → %s (%s): %s: %s\n", r.PullRequest, r.From, r.To, strings.Join(r.Apps, ", "), r.State, r.Description)
	}
	return nil
}
