package plattrgen

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/gitops/pulls"
	"github.com/plattr/plattr/internal/envhistory"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/ops"
)

// defaultHistoryDepth is how many commits of the env repo status and metrics
// read back.
const defaultHistoryDepth = 2000

type statusOptions struct {
	repoFlags
	app, output string
	depth       int
	gh          githubFlags
}

func newStatusCmd(io IO) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status --repo REPO [--app APP]",
		Short: "Print which release of each app runs in each environment, since when and how it got there",
		Long: "status reads the env repo's history: per app and environment the image, its source commit, when it\n" +
			"was released and how (the render commit and its CI run, or the pull request merged and who merged\n" +
			"it). With GitHub (an env repo on github.com, or --github-repo) it lists the promotion pull requests\n" +
			"waiting too. --output markdown writes RELEASES.md's form, for a file or a step summary.",
		Example: "  plattr-gen status --repo https://github.com/acme/env\n" +
			"  plattr-gen status --repo ./env.git --app hello --output json",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, io) },
	}
	f := cmd.Flags()
	f.StringVar(&o.app, "app", "", "only this app")
	f.IntVar(&o.depth, "depth", defaultHistoryDepth, "commits of the env repo to read back")
	o.bind(f, io, "branch of the env repo")
	f.StringVar(&o.output, "output", "text", "output format: text, json or markdown")
	o.gh.bind(f, io, "GitHub repository of the env repo, for the pull requests waiting")
	return cmd
}

func (o *statusOptions) run(cmd *cobra.Command, io IO) error {
	if o.output != "text" && o.output != "json" && o.output != "markdown" {
		return usagef("--output must be text, json or markdown, is %q", o.output)
	}
	if err := checkHistoryFlags(o.repo, o.app, o.depth); err != nil {
		return err
	}
	gh, err := o.gh.client(o.repo)
	if err != nil {
		return usageError{err}
	}
	ctx := cmd.Context()
	tree, cfg, releases, err := o.releases(ctx, o.app, o.depth)
	if err != nil {
		return err
	}
	m := ops.Matrix{Envs: cfg.EnvNames(), Current: []ops.Release{}, Waiting: []ops.Waiting{}}
	seen := map[[2]string]bool{}
	for _, r := range releases { // newest first within each app and environment
		if k := [2]string{r.App, r.Env}; !seen[k] {
			seen[k] = true
			m.Current = append(m.Current, r)
		}
	}
	if gh != nil {
		prs, err := gh.Open(ctx, o.branch, ops.LabelPromotion)
		if err != nil {
			return err
		}
		for _, pr := range prs {
			if pr.Fork {
				continue
			}
			p, err := readPromotion(ctx, &o.repoFlags, tree, cfg, pr)
			if err != nil {
				fmt.Fprintf(io.Err, "plattr-gen: status: %v\n", err)
				continue
			}
			if p == nil || (o.app != "" && !slices.Contains(p.apps(), o.app)) {
				continue
			}
			m.Waiting = append(m.Waiting, ops.Waiting{PR: pr.Number, URL: pr.URL, From: p.from, To: p.to, Apps: p.apps()})
		}
	}
	switch o.output {
	case "json":
		return writeJSON(io, m)
	case "markdown":
		_, err = fmt.Fprint(io.Out, m.Markdown())
	default:
		_, err = fmt.Fprint(io.Out, m.Text())
	}
	return err
}

func checkHistoryFlags(repo, app string, depth int) error {
	switch {
	case repo == "":
		return errNoRepo()
	case depth < 1 || depth > 100000:
		return usagef("--depth must be between 1 and 100000 commits, is %d", depth)
	}
	return checkNames(flagName{"--app", app, names.App})
}

// releases opens the env repo and reads its configuration and every release
// of its history (of app, or of every app).
func (r *repoFlags) releases(ctx context.Context, app string, depth int) (envfiles.Tree, *generator.Config, []ops.Release, error) {
	repo, err := r.open(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	tree, err := repo.Tree()
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := generator.ReadConfig(tree)
	if err != nil {
		return nil, nil, nil, err
	}
	releases, err := readReleases(ctx, repo, tree, cfg, app, depth)
	return tree, cfg, releases, err
}

// readReleases reads every release of the apps of each environment (or of
// app) from the history, each with its source time (from the render that
// made its image).
func readReleases(ctx context.Context, repo *gitops.Repo, tree envfiles.Tree, cfg *generator.Config, app string, depth int) ([]ops.Release, error) {
	var out []ops.Release
	for _, env := range cfg.EnvNames() {
		apps, err := generator.Apps(tree, env)
		if err != nil {
			return nil, err
		}
		for _, a := range apps {
			if app != "" && a != app {
				continue
			}
			history, err := repo.History(ctx, generator.ReleasePath(env, a), depth)
			if err != nil {
				return nil, err
			}
			out = append(out, ops.Releases(a, env, envhistory.Versions(history))...)
		}
	}
	ops.FillSourceTimes(out)
	ops.SortReleases(cfg, out)
	return out, nil
}

// promotionPR is an open promotion pull request as plattr-gen promote made
// it: its head commit's trailers and the releases it changes.
type promotionPR struct {
	from, to string
	head     string // the head commit
	forced   bool
	changes  []ops.ReleaseChange
}

func (p *promotionPR) apps() []string {
	var out []string
	for _, c := range p.changes {
		out = append(out, c.App)
	}
	return out
}

// readPromotion reads pull request pr's branch; nil when its head commit is
// not plattr-gen promote's (no Plattr-Promotion trailer between two of the
// environments).
func readPromotion(ctx context.Context, rf *repoFlags, base envfiles.Tree, cfg *generator.Config, pr pulls.PR) (*promotionPR, error) {
	head, err := rf.openBranch(ctx, "the pull request's branch", pr.Head)
	if err != nil {
		return nil, fmt.Errorf("pull request #%d: %w", pr.Number, err)
	}
	c, err := head.HeadCommit()
	if err != nil || c == nil {
		return nil, fmt.Errorf("pull request #%d: its branch %s has no commit", pr.Number, pr.Head)
	}
	trailers := ops.ParseTrailers(c.Message)
	from, to, ok := strings.Cut(trailers[ops.TrailerPromotion], " -> ")
	forced := trailers[ops.TrailerForced] != ""
	// Environments skipped only with a forced promotion, as promote allows.
	if !ok || cfg.CheckPromotion(from, to, forced) != nil {
		return nil, nil
	}
	p := &promotionPR{from: from, to: to, head: c.Hash.String(), forced: forced}
	headTree, err := head.Tree()
	if err != nil {
		return nil, err
	}
	apps, err := generator.Apps(headTree, to)
	if err != nil {
		return nil, err
	}
	for _, app := range apps {
		path := generator.ReleasePath(to, app)
		now, err := headTree.ReadFile(path)
		if err != nil {
			continue
		}
		was, _ := base.ReadFile(path)
		if !bytes.Equal(was, now) {
			p.changes = append(p.changes, ops.ReleaseChange{App: app, Old: was, New: now})
		}
	}
	return p, nil
}

type metricsOptions struct {
	repoFlags
	app, output, since, until string
	window                    time.Duration
	depth                     int
}

func newMetricsCmd(io IO) *cobra.Command {
	o := &metricsOptions{}
	cmd := &cobra.Command{
		Use:   "metrics --repo REPO [--since 90d]",
		Short: "Print the DORA metrics of the env repo's history: deployment frequency, lead time, change failure rate, time to restore",
		Long: "metrics reads every release of the env repo's history in the period and computes, per app and overall:\n" +
			"  deployment frequency  releases per environment, and per day\n" +
			"  lead time             median time from the source commit (Plattr-Source-Time of its render) to production\n" +
			"  change failure rate   production releases followed by a rollback, or within --failure-window by another release\n" +
			"  time to restore       median time from a failed production release to the release after it\n" +
			"The production environment is the one plattr-env.yaml marks production (else the last). See docs/metrics.md.",
		Example: "  plattr-gen metrics --repo https://github.com/acme/env --since 30d --output json",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return o.run(cmd, io) },
	}
	f := cmd.Flags()
	f.StringVar(&o.app, "app", "", "only this app")
	f.StringVar(&o.since, "since", "90d", "the period: this long back from --until (30d, 12h)")
	f.StringVar(&o.until, "until", "", "the period's end, RFC 3339 (default now)")
	f.DurationVar(&o.window, "failure-window", ops.DefaultFailureWindow, "a production release followed within this by another counts as failed (fixed forward)")
	f.IntVar(&o.depth, "depth", defaultHistoryDepth, "commits of the env repo to read back")
	o.bind(f, io, "branch of the env repo")
	bindOutput(f, &o.output)
	return cmd
}

func (o *metricsOptions) run(cmd *cobra.Command, io IO) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	if err := checkHistoryFlags(o.repo, o.app, o.depth); err != nil {
		return err
	}
	period, err := plattrv1.ParseDuration(o.since)
	if err != nil || period == 0 {
		return usagef("--since: %q is not a period such as 30d or 12h", o.since)
	}
	now := time.Now()
	if o.until != "" {
		if now, err = time.Parse(time.RFC3339, o.until); err != nil {
			return usagef("--until: %q is not an RFC 3339 time such as 2026-12-04T10:00:00Z", o.until)
		}
	}
	if o.window <= 0 {
		return usagef("--failure-window must be positive, is %s", o.window)
	}
	ctx := cmd.Context()
	_, cfg, releases, err := o.releases(ctx, o.app, o.depth)
	if err != nil {
		return err
	}
	m := ops.ComputeMetrics(releases, cfg.EnvNames(), cfg.ProductionEnv(), now.Add(-period), now, o.window)
	if o.output == "json" {
		return writeJSON(io, m)
	}
	_, err = fmt.Fprint(io.Out, m.Text(cfg.EnvNames()))
	return err
}
