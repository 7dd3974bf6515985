package plattrgen

import (
	"bytes"
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
	"github.com/plattr/plattr/operator/plan"
)

type planOptions struct {
	repoFlags
	base, head, output, failOn string
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
		Example: "  plattr-gen plan --repo ./env.git --base main --head plattr/promote-prod-hello --fail-on destructive",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return o.run(cmd, io) },
	}
	f := cmd.Flags()
	o.bind(f, io, "not read by plan: it compares --base and --head")
	f.StringVar(&o.base, "base", "main", "the branch the change is merged into")
	f.StringVar(&o.head, "head", "", "the branch of the change")
	f.StringVar(&o.output, "output", "text", "output format: text, json or markdown")
	f.StringVar(&o.failOn, "fail-on", "", "exit 1 when an item is at least this bad: destructive or disruptive")
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
	case o.head == "":
		return usagef("--head is required: the branch of the change")
	}
	for _, b := range []flagName{{"--base", o.base, names.Branch}, {"--head", o.head, names.Branch}} {
		if err := checkNames(b); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	trees := make([]envfiles.Tree, 2)
	for i, b := range [][2]string{{"--base", o.base}, {"--head", o.head}} {
		repo, err := o.openBranch(ctx, b[0], b[1])
		if err != nil {
			return err
		}
		if trees[i], err = repo.Tree(); err != nil {
			return err
		}
	}
	items, err := planChanges(trees[0], trees[1])
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
	if o.failOn != "" && r.Worst.Rank() >= plan.Class(o.failOn).Rank() {
		return fmt.Errorf("the change is %s (--fail-on %s)", r.Worst, o.failOn)
	}
	return nil
}

// planChanges plans every app folder that differs between base and head.
func planChanges(base, head envfiles.Tree) ([]plan.Item, error) {
	cfg, err := generator.ReadConfig(head)
	if err != nil {
		return nil, fmt.Errorf("--head: %w", err)
	}
	var items []plan.Item
	for _, env := range append(cfg.EnvNames(), names.PreviewEnv) {
		t := plan.Target{Env: env, BaseDomain: cfg.BaseDomain}
		if e, err := cfg.Env(env); err == nil {
			t.Production = e.Production
		}
		apps, err := appDirs(env, base, head)
		if err != nil {
			return nil, err
		}
		for _, app := range apps {
			same, err := sameFolder(base, head, generator.AppDir(env, app))
			if err != nil || same {
				if err != nil {
					return nil, err
				}
				continue
			}
			old, err := generator.BuildApplication(base, env, app)
			if err != nil {
				return nil, fmt.Errorf("--base: %w", err)
			}
			new, err := generator.BuildApplication(head, env, app)
			if err != nil {
				return nil, fmt.Errorf("--head: %w", err)
			}
			items = append(items, plan.Changes(t, old, new)...)
		}
	}
	return items, nil
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

func planMarkdown(r planReport) string {
	var b strings.Builder
	b.WriteString(PlanMarker + "\n### What merging this does\n\n")
	if len(r.Items) == 0 {
		b.WriteString("Nothing the operator does changes.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "Worst: **%s**.\n\n| where | class | what | |\n|---|---|---|---|\n", r.Worst)
	for _, it := range r.Items {
		fmt.Fprintf(&b, "| %s/%s | %s | %s %s | %s |\n", it.Env, it.App, it.Class, it.Part, it.Action, strings.ReplaceAll(it.Reason, "|", "\\|"))
	}
	return b.String()
}
