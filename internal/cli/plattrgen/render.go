package plattrgen

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/ops"
)

type renderOptions struct {
	repoFlags
	appDir, env, image, output string
	pr                         prNumber
	allowTag, dryRun           bool
	source                     generator.Source
}

func newRenderCmd(io IO) *cobra.Command {
	o := &renderOptions{}
	cmd := &cobra.Command{
		Use:   "render --env ENV | --pr N --image IMAGE --repo REPO",
		Short: "Commit a release of the app into the env repo",
		Long: "render reads plattr.yaml from --app-dir, renders the release of --image into --env (or into the\n" +
			"preview of pull request --pr), builds every touched overlay with kustomize, and commits and pushes\n" +
			"the result. A render that changes nothing makes no commit. Concurrent renders retry; nothing is forced.",
		Example: "  plattr-gen render --env staging --image ghcr.io/acme/hello@sha256:… --repo https://github.com/acme/env\n" +
			"  plattr-gen render --pr 42 --image ghcr.io/acme/hello@sha256:… --repo ../env.git --dry-run",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := o.run(cmd, io)
			var changes wouldChange
			if o.dryRun && err != nil && !errors.As(err, &changes) {
				return dryRunTrouble{err}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.appDir, "app-dir", ".", "folder holding the app's plattr.yaml")
	f.StringVar(&o.env, "env", "", "environment to release into (from plattr-env.yaml)")
	f.Var(&o.pr, "pr", "render the preview of this pull request instead of an environment")
	f.StringVar(&o.image, "image", "", "image to release, pinned by digest (repository@sha256:…)")
	o.bind(f, io, "branch of the env repo")
	f.BoolVar(&o.allowTag, "allow-tag", false, "accept an image pinned by tag only")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the diff (as git diff, for git apply) and commit nothing; exit code 0: no change, 1: would change, 2: trouble")
	bindOutput(f, &o.output)
	f.StringVar(&o.source.Repo, "source-repo", io.Getenv("GITHUB_REPOSITORY"), "source repository (owner/name) of the release (default $GITHUB_REPOSITORY)")
	f.StringVar(&o.source.Commit, "source-commit", io.Getenv("GITHUB_SHA"), "source commit of the release (default $GITHUB_SHA)")
	f.StringVar(&o.source.Time, "source-time", io.Getenv("PLATTR_SOURCE_TIME"), "when the source commit was committed, RFC 3339 (default $PLATTR_SOURCE_TIME, else read from the git checkout holding --app-dir when its HEAD is --source-commit)")
	f.StringVar(&o.source.RunURL, "ci-run", ciRunURL(io.Getenv), "URL of the CI run (default from $GITHUB_SERVER_URL, $GITHUB_REPOSITORY, $GITHUB_RUN_ID)")
	return cmd
}

// commitTime is the committer time of the checkout holding dir when its HEAD
// is commit (RFC 3339, UTC), or "".
func commitTime(dir, commit string) string {
	if t, ok := gitops.CommitTime(dir, commit); ok {
		return t.UTC().Format(time.RFC3339)
	}
	return ""
}

func ciRunURL(getenv func(string) string) string {
	server, repo, run := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || run == "" {
		return ""
	}
	return fmt.Sprintf("%s/%s/actions/runs/%s", server, repo, run)
}

// renderReport is the --output json form.
type renderReport struct {
	App         string   `json:"app"`
	Environment string   `json:"environment"`
	PR          int      `json:"pr,omitempty"`
	Image       string   `json:"image"`
	Repo        string   `json:"repo"`
	Branch      string   `json:"branch"`
	Commit      string   `json:"commit,omitempty"`
	Changed     []string `json:"changed"`
	DryRun      bool     `json:"dryRun,omitempty"`
	Attempts    int      `json:"attempts,omitempty"`
}

func (o *renderOptions) run(cmd *cobra.Command, io IO) error {
	// Everything that can be checked without the repo is checked first: bad
	// input never reaches the network.
	if err := checkOutput(o.output); err != nil {
		return err
	}
	switch {
	case o.env == "" && o.pr == 0:
		return usagef("give --env ENV, or --pr N for a pull request preview")
	case o.env != "" && o.pr != 0:
		return usagef("--env and --pr exclude each other: a preview has its own environment")
	case o.image == "":
		return usagef("--image is required: the image built by CI, pinned by digest (repository@sha256:…)")
	case o.repo == "":
		return errNoRepo()
	}
	img, err := generator.ParseImage(o.image, o.allowTag)
	if err != nil {
		return usageError{fmt.Errorf("--image: %w", err)}
	}
	m, err := manifest.Load(filepath.Join(o.appDir, manifest.FileName))
	if err != nil {
		return err
	}
	if o.source.Time == "" {
		o.source.Time = commitTime(o.appDir, o.source.Commit)
	}
	if err := o.source.Check(); err != nil {
		return usageError{err}
	}
	op := ops.Render{Release: generator.Release{Manifest: m, Image: img, Env: o.env, PR: int(o.pr), Source: o.source}, Branch: o.branch}
	repo, err := o.open(cmd.Context())
	if err != nil {
		return err
	}
	var plan ops.RenderPlan
	res, err := repo.Apply(cmd.Context(), ops.Change(op.Plan, &plan), gitops.ApplyOptions{DryRun: o.dryRun})
	if err != nil {
		return err
	}
	report := renderReport{App: m.Name, Environment: plan.Target.Env, PR: int(o.pr), Image: img.Ref, Repo: repo.URL(), Branch: o.branch,
		Changed: res.Changed, DryRun: o.dryRun, Attempts: res.Attempts}
	if report.Changed == nil {
		report.Changed = []string{}
	}
	if !res.Commit.IsZero() {
		report.Commit = res.Commit.String()
	}
	if o.output == "json" {
		// The job summary is for people: written whatever stdout's format.
		if err := writeJSON(io, report); err != nil {
			return err
		}
		if o.dryRun && len(res.Changed) > 0 {
			return wouldChange{len(res.Changed)}
		}
		return writeStepSummary(io.Getenv, report)
	}
	where := op.Where()
	switch {
	case o.dryRun:
		fmt.Fprint(io.Out, unifiedDiff(res))
		fmt.Fprintf(io.Err, "dry run: %s to %s would change %d file(s); nothing committed\n", m.Name, where, len(res.Changed))
		if len(res.Changed) > 0 {
			return wouldChange{len(res.Changed)}
		}
	case res.Commit.IsZero():
		fmt.Fprintf(io.Out, "%s in %s is already at %s: nothing to commit\n", m.Name, where, img.ShortDigest())
	default:
		fmt.Fprintf(io.Out, "%s: deployed %s to %s in %s as commit %s (%d file(s) changed, %s)\n", m.Name, img.ShortDigest(),
			where, repo.URL(), res.Commit, len(res.Changed), plural(res.Attempts, "push", "pushes"))
	}
	return writeStepSummary(io.Getenv, report)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// writeStepSummary appends a render's line to GitHub Actions' job summary.
func writeStepSummary(getenv func(string) string, r renderReport) error {
	if r.DryRun {
		return nil
	}
	status := "no change (already released)"
	if r.Commit != "" {
		status = fmt.Sprintf("commit `%.12s`", r.Commit)
	}
	return appendStepSummary(getenv, fmt.Sprintf("### Plattr: %s → %s\n\n| image | env repo | result |\n|---|---|---|\n| `%s` | %s | %s |\n\n",
		r.App, r.Environment, r.Image, strings.ReplaceAll(r.Repo, "|", "\\|"), status))
}
