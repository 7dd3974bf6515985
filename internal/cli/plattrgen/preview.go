package plattrgen

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/internal/cli/cmdgroup"
	"github.com/plattr/plattr/ops"
)

func newPreviewCmd(io IO) *cobra.Command {
	cmd := cmdgroup.Of(&cobra.Command{Use: "preview", Short: "Remove preview environments of pull requests"}, usage)
	cmd.AddCommand(newPreviewDeleteCmd(io), newPreviewGCCmd(io))
	return cmd
}

type previewDeleteOptions struct {
	repoFlags
	app, output string
	pr          prNumber
}

// previewReport is the --output json form of preview delete and gc.
type previewReport struct {
	Kind     string   `json:"kind"` // preview-delete or preview-gc
	Removed  []string `json:"removed"`
	Repo     string   `json:"repo"`
	Branch   string   `json:"branch"`
	Commit   string   `json:"commit,omitempty"`
	Changed  []string `json:"changed"`
	Attempts int      `json:"attempts"`
}

// write says what a preview command did, as text or JSON, and in the job summary.
func (r previewReport) write(io IO, output, nothing string) error {
	if r.Removed == nil {
		r.Removed = []string{}
	}
	if r.Changed == nil {
		r.Changed = []string{}
	}
	var text string
	if r.Commit == "" {
		text = nothing
	} else {
		what := "preview " + strings.Join(r.Removed, ", ")
		if len(r.Removed) > 1 {
			what = fmt.Sprintf("%d previews: %s", len(r.Removed), strings.Join(r.Removed, ", "))
		}
		text = fmt.Sprintf("removed %s (%d file(s)) from %s as commit %s", what, len(r.Changed), r.Repo, r.Commit)
	}
	if err := appendStepSummary(io.Getenv, "### Plattr: "+text+"\n\n"); err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(io, r)
	}
	fmt.Fprintln(io.Out, text)
	return nil
}

func newPreviewDeleteCmd(io IO) *cobra.Command {
	o := &previewDeleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete --app APP --pr N --repo REPO",
		Short: "Remove the preview of a pull request (when it closes)",
		Long: "delete removes envs/preview/<app>-pr-<n>/ and its Argo CD Application in one commit. Argo CD then\n" +
			"prunes the preview, and the operator drops its databases and users (previews use deletionPolicy Delete).",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, io) },
	}
	f := cmd.Flags()
	f.StringVar(&o.app, "app", "", "app whose preview to remove")
	f.Var(&o.pr, "pr", "pull request number")
	o.bind(f, io, "branch of the env repo")
	bindOutput(f, &o.output)
	return cmd
}

func (o *previewDeleteOptions) run(cmd *cobra.Command, io IO) error {
	if o.app == "" || o.pr == 0 || o.repo == "" {
		return usagef("--app, --pr and --repo are required")
	}
	if err := checkOutput(o.output); err != nil {
		return err
	}
	if err := names.App(o.app); err != nil {
		return usageError{err}
	}
	op := ops.RemovePreview{App: o.app, PR: int(o.pr)}
	name := op.Name()
	repo, err := o.open(cmd.Context())
	if err != nil {
		return err
	}
	var plan ops.Plan
	res, err := repo.Apply(cmd.Context(), ops.Change(op.Plan, &plan), gitops.ApplyOptions{})
	if err != nil {
		return err
	}
	r := previewReport{Kind: "preview-delete", Repo: repo.URL(), Branch: o.branch, Changed: res.Changed, Attempts: res.Attempts}
	if !res.Commit.IsZero() {
		r.Removed, r.Commit = []string{name}, res.Commit.String()
	}
	return r.write(io, o.output, fmt.Sprintf("no preview %s in %s: nothing to remove", name, repo.URL()))
}

type previewGCOptions struct {
	repoFlags
	appRepo, output string
	gh              githubFlags
}

func newPreviewGCCmd(io IO) *cobra.Command {
	o := &previewGCOptions{}
	cmd := &cobra.Command{
		Use:   "gc --repo REPO --app-repo OWNER/NAME",
		Short: "Remove the previews whose pull requests are closed (run it on a schedule)",
		Long: "gc looks at every preview in envs/preview/ released from --app-repo (its release's source\n" +
			"annotation), asks GitHub for the state of its pull request, and removes those that are closed, in one\n" +
			"commit. Previews of open pull requests, and of other repositories, are left alone.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, io) },
	}
	f := cmd.Flags()
	o.bind(f, io, "branch of the env repo")
	f.StringVar(&o.appRepo, "app-repo", io.Getenv("GITHUB_REPOSITORY"), "the app's GitHub repository, whose pull requests the previews belong to (default $GITHUB_REPOSITORY)")
	o.gh.bindAPI(f, io)
	bindOutput(f, &o.output)
	return cmd
}

func (o *previewGCOptions) run(cmd *cobra.Command, io IO) error {
	if o.repo == "" || o.appRepo == "" {
		return usagef("--repo and --app-repo are required")
	}
	if err := checkOutput(o.output); err != nil {
		return err
	}
	o.gh.repo, o.gh.repoFlag = o.appRepo, "--app-repo"
	gh, err := o.gh.client(o.repo)
	if err != nil {
		return usageError{err}
	}
	repo, err := o.open(cmd.Context())
	if err != nil {
		return err
	}
	op := &ops.GCPreviews{AppRepo: o.appRepo, State: func(n int) (string, error) {
		pr, err := gh.Get(cmd.Context(), n)
		return pr.State, err
	}}
	var plan ops.GCPlan
	res, err := repo.Apply(cmd.Context(), ops.Change(op.Plan, &plan), gitops.ApplyOptions{})
	if err != nil {
		return err
	}
	r := previewReport{Kind: "preview-gc", Repo: repo.URL(), Branch: o.branch, Changed: res.Changed, Attempts: res.Attempts}
	if !res.Commit.IsZero() {
		r.Removed, r.Commit = plan.Removed, res.Commit.String()
	}
	return r.write(io, o.output, fmt.Sprintf("no preview of %s belongs to a closed pull request", o.appRepo))
}
