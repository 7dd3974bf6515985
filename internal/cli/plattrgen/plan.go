package plattrgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/gitops/pulls"
	"github.com/plattr/plattr/internal/envhistory"
	"github.com/plattr/plattr/operator/plan"
	"github.com/plattr/plattr/ops"
)

type planOptions struct {
	repoFlags
	base, head, output, failOn string
	pr                         int
	comment                    bool
	gh                         githubFlags
}

func newPlanCmd(io IO) *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan --repo REPO --base BRANCH --head BRANCH",
		Short: "Say what the platform will do when a change of the env repo is merged",
		Long: "plan builds every app whose folder differs between --base and --head, in every environment, as Argo\n" +
			"CD will, and says what the Plattr operator will then do, with the operator's own rules: backing\n" +
			"services created, kept or deleted with their data (per deletionPolicy), pods restarted, URLs changed,\n" +
			"apps removed. Each item is destructive (data lost), disruptive (restart, URL) or safe.\n" +
			"Exit code: 0, or 1 when an item is at least as bad as --fail-on; 2 on trouble.",
		Example: "  plattr-gen plan --repo ./env.git --base main --head plattr/promote-prod-hello --fail-on destructive\n" +
			"  plattr-gen plan --repo https://github.com/acme/env --pr 42 --comment   # in the env repo's workflow",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, io) },
	}
	f := cmd.Flags()
	o.bind(f, io, "")
	f.StringVar(&o.base, "base", "main", "the branch the change is merged into")
	f.StringVar(&o.head, "head", "", "the branch of the change")
	f.StringVar(&o.output, "output", "text", "output format: text, json or markdown")
	f.StringVar(&o.failOn, "fail-on", "", "exit 1 when an item is at least this bad: destructive or disruptive")
	f.IntVar(&o.pr, "pr", 0, "plan pull request N of the env repo on GitHub (its base and head)")
	f.BoolVar(&o.comment, "comment", false, "with --pr: keep one comment with the plan on the pull request and set the commit status "+PlanContext+
		" (failure for a destructive change to a production environment without the label "+LabelAllowDestructive+")")
	o.gh.bind(f, io, "GitHub repository of the env repo, for --pr")
	return cmd
}

// planReport is the --output json form.
type planReport struct {
	Base  string      `json:"base"`
	Head  string      `json:"head"`
	Worst plan.Class  `json:"worst,omitempty"`
	Items []plan.Item `json:"items"`
}

func (o *planOptions) run(cmd *cobra.Command, io IO) error {
	switch {
	case o.output != "text" && o.output != "json" && o.output != "markdown":
		return usagef("--output must be text, json or markdown, is %q", o.output)
	case o.failOn != "" && o.failOn != string(plan.Destructive) && o.failOn != string(plan.Disruptive):
		return usagef("--fail-on must be destructive or disruptive, is %q", o.failOn)
	case o.repo == "":
		return errNoRepo()
	case o.pr != 0 && o.head != "":
		return usagef("--pr and --head exclude each other: --pr takes its branches from the pull request")
	case o.pr == 0 && o.head == "":
		return usagef("give --head BRANCH, or --pr N")
	case o.comment && o.pr == 0:
		return usagef("--comment needs --pr")
	case o.pr < 0:
		return usagef("--pr must be a pull request number, is %d", o.pr)
	}
	ctx := cmd.Context()
	var gh *pulls.Client
	var pr pulls.PR
	if o.pr != 0 {
		var err error
		if gh, err = o.gh.client(o.repo); err != nil {
			return usageError{err}
		}
		if gh == nil {
			return usagef("--pr reads the pull request on GitHub: give --github-repo (and --github-api-url), or an env repo on github.com")
		}
		if pr, err = gh.Get(ctx, o.pr); err != nil {
			return err
		}
		o.base, o.head = pr.Base, pr.Head
	}
	for _, b := range []flagName{{"--base", o.base, names.Branch}, {"--head", o.head, names.Branch}} {
		if err := checkNames(b); err != nil {
			return err
		}
	}
	trees := make([]envfiles.Tree, 2)
	var headSHA string
	var history planHistory
	for i, b := range [][2]string{{"--base", o.base}, {"--head", o.head}} {
		repo, err := o.openBranch(ctx, b[0], b[1])
		if err != nil {
			return err
		}
		if trees[i], err = repo.Tree(); err != nil {
			return err
		}
		headSHA = repo.Head().String()
		if i == 0 {
			history = repoHistory(ctx, repo)
		}
	}
	items, err := planChanges(trees[0], trees[1], history)
	if err != nil {
		return err
	}
	r := planReport{Base: o.base, Head: o.head, Worst: plan.Worst(items), Items: items}
	if r.Items == nil {
		r.Items = []plan.Item{}
	}
	switch o.output {
	case "json":
		err = writeJSON(io, r)
	case "markdown":
		_, err = fmt.Fprint(io.Out, planMarkdown(r))
	default:
		_, err = fmt.Fprint(io.Out, planText(r))
	}
	if err != nil {
		return err
	}
	if o.comment {
		if _, err := gh.UpsertComment(ctx, o.pr, PlanMarker, planMarkdown(r)); err != nil {
			return fmt.Errorf("the plan's comment on pull request #%d: %w", o.pr, err)
		}
		state, desc := planCheck(r.Items, pr.Labels)
		if err := gh.SetStatus(ctx, headSHA, pulls.Status{Context: PlanContext, State: state, Description: desc}); err != nil {
			return fmt.Errorf("the %s status of pull request #%d: %w", PlanContext, o.pr, err)
		}
	}
	if o.failOn != "" && r.Worst.Rank() >= plan.Class(o.failOn).Rank() {
		return fmt.Errorf("the change is %s (--fail-on %s)", r.Worst, o.failOn)
	}
	return nil
}

// planChanges plans every app folder that differs between base and head
// (every app, when plattr-env.yaml changes), in the environments of either
// side; an environment is production when either side says so, so that a
// change cannot plan itself out of production.
//
// history gives an app's releases in an environment on the base branch, for
// an app whose image changes (a rollback goes back over release phases).
func planChanges(base, head envfiles.Tree, history planHistory) ([]plan.Item, error) {
	cfg, err := generator.ReadConfig(head)
	if err != nil {
		return nil, fmt.Errorf("--head: %w", err)
	}
	old, err := generator.ReadConfig(base)
	if err != nil {
		old = cfg // a base without plattr-env.yaml: the change lays it down
	}
	configChanged, err := sameFile(base, head, generator.ConfigFile)
	if err != nil {
		return nil, err
	}
	configChanged = !configChanged
	envs := append(cfg.EnvNames(), names.PreviewEnv)
	for _, e := range old.EnvNames() {
		if !slices.Contains(envs, e) {
			envs = append(envs, e)
		}
	}
	var items []plan.Item
	for _, env := range envs {
		t := plan.Target{Env: env, BaseDomain: cfg.BaseDomain}
		if old.BaseDomain != cfg.BaseDomain {
			t.OldBaseDomain = old.BaseDomain
		}
		for _, c := range []*generator.Config{cfg, old} {
			if e, err := c.Env(env); err == nil && e.Production {
				t.Production = true
			}
		}
		apps, err := appDirs(env, base, head)
		if err != nil {
			return nil, err
		}
		for _, app := range apps {
			if !configChanged {
				same, err := sameFolder(base, head, generator.AppDir(env, app))
				if err != nil {
					return nil, err
				}
				if same {
					continue
				}
			}
			was, err := generator.BuildApplication(base, env, app)
			if err != nil {
				return nil, fmt.Errorf("--base: %w", err)
			}
			is, err := generator.BuildApplication(head, env, app)
			if err != nil {
				return nil, fmt.Errorf("--head: %w", err)
			}
			t.History = nil
			if was != nil && is != nil && was.Spec.Image != is.Spec.Image {
				if t.History, err = history(env, app); err != nil {
					return nil, fmt.Errorf("the history of %s: %w", generator.ReleasePath(env, app), err)
				}
			}
			items = append(items, plan.Changes(t, was, is)...)
		}
	}
	return items, nil
}

// sameFile says whether a file is the same (or absent) in both trees.
func sameFile(a, b envfiles.Tree, name string) (bool, error) {
	x, errA := a.ReadFile(name)
	y, errB := b.ReadFile(name)
	for _, err := range []error{errA, errB} {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	return (errA != nil) == (errB != nil) && bytes.Equal(x, y), nil
}

// appDirs lists the app folders of env in either tree, sorted.
func appDirs(env string, trees ...envfiles.Tree) ([]string, error) {
	var out []string
	for _, t := range trees {
		entries, err := t.ReadDir(generator.EnvDir(env))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e != names.AppsDir && names.PathElement(e) == "" && !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// sameFolder says whether dir holds the same files in both trees.
func sameFolder(a, b envfiles.Tree, dir string) (bool, error) {
	read := func(t envfiles.Tree) (map[string][]byte, error) {
		out := map[string][]byte{}
		entries, err := t.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			data, err := t.ReadFile(path.Join(dir, e))
			if errors.Is(err, fs.ErrNotExist) {
				continue // a folder
			}
			if err != nil {
				return nil, err
			}
			out[e] = data
		}
		return out, nil
	}
	x, err := read(a)
	if err != nil {
		return false, err
	}
	y, err := read(b)
	if err != nil {
		return false, err
	}
	if len(x) != len(y) {
		return false, nil
	}
	for k, v := range x {
		if w, ok := y[k]; !ok || !bytes.Equal(v, w) {
			return false, nil
		}
	}
	return true, nil
}

func planText(r planReport) string {
	if len(r.Items) == 0 {
		return fmt.Sprintf("merging %s into %s changes nothing the operator does\n", r.Head, r.Base)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "merging %s into %s (worst: %s):\n", r.Head, r.Base, r.Worst)
	last := ""
	for _, it := range r.Items {
		if where := it.Env + "/" + it.App; where != last {
			fmt.Fprintf(&b, "%s\n", where)
			last = where
		}
		fmt.Fprintf(&b, "  %-11s  %-10s  %-7s  %s\n", it.Class, it.Part, it.Action, it.Reason)
	}
	return b.String()
}

// PlanMarker marks the pull request comment of a plan.
const PlanMarker = "<!-- plattr-plan -->"

// PlanContext is the commit status of a plan; LabelAllowDestructive the label
// a destructive change to a production environment needs for it to pass.
const (
	PlanContext           = "plattr/plan"
	LabelAllowDestructive = "plattr/allow-destructive"
)

// planCheck is the plan's commit status: failure when a production
// environment loses data and the pull request lacks the label.
func planCheck(items []plan.Item, labels []string) (string, string) {
	n := 0
	for _, it := range items {
		if it.Production && it.Class == plan.Destructive {
			n++
		}
	}
	switch {
	case n == 0:
		return "success", fmt.Sprintf("%d item(s), nothing destructive in production", len(items))
	case slices.Contains(labels, LabelAllowDestructive):
		return "success", fmt.Sprintf("%d destructive item(s) in production, allowed by %s", n, LabelAllowDestructive)
	}
	return "failure", fmt.Sprintf("%d destructive item(s) in production: add the label %s to allow them", n, LabelAllowDestructive)
}

// maxPlanRows bounds the rows of the plan's comment (GitHub takes 65,536
// characters).
const maxPlanRows = 200

func planMarkdown(r planReport) string {
	var b strings.Builder
	b.WriteString(PlanMarker + "\n### What merging this does\n\n")
	if len(r.Items) == 0 {
		b.WriteString("Nothing the operator does changes.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "Worst: **%s**.\n\n| where | class | what | |\n|---|---|---|---|\n", r.Worst)
	for i, it := range r.Items {
		if i == maxPlanRows {
			fmt.Fprintf(&b, "\n… and %d more: run `plattr-gen plan` for all of them.\n", len(r.Items)-maxPlanRows)
			break
		}
		fmt.Fprintf(&b, "| %s/%s | %s | %s %s | %s |\n", it.Env, it.App, it.Class, it.Part, it.Action, ops.MarkdownCell(it.Reason))
	}
	return b.String()
}

// withPlan adds to a pull request's body what merging it will do (files on
// top of base), within GitHub's limit: a plan too long for it is left to
// plattr-gen plan. A plan that cannot be made is said, not fatal.
func withPlan(body string, base envfiles.Tree, files envfiles.Files, history planHistory) (string, []plan.Item) {
	items, err := planChanges(base, envfiles.Overlay{Base: base, Changes: files}, history)
	section := ""
	if err != nil {
		section = "\n\n### What merging this does\n\nNo plan: " + ops.MarkdownCell(err.Error()) + "\n"
	} else {
		section = "\n\n" + strings.TrimPrefix(planMarkdown(planReport{Worst: plan.Worst(items), Items: items}), PlanMarker+"\n")
	}
	if len(body)+len(section) > ops.MaxPRBody {
		section = "\n\n### What merging this does\n\nToo long for this description: run `plattr-gen plan` on the branch.\n"
	}
	return body + section, items
}

// planHistory gives the releases of app in env before a change, newest first.
type planHistory func(env, app string) ([]plan.Release, error)

// historyDepth is how many commits of the env repo's history a rollback
// looks through by default (--depth), and a plan reads back for a rollback's
// release phases: the same, so a plan sees the releases a rollback can reach.
const historyDepth = 200

// repoHistory reads planHistory from repo's branch.
func repoHistory(ctx context.Context, repo *gitops.Repo) planHistory {
	return func(env, app string) ([]plan.Release, error) {
		versions, err := repo.History(ctx, generator.ReleasePath(env, app), historyDepth)
		if err != nil {
			return nil, err
		}
		return envhistory.Releases(versions), nil
	}
}
