package plattrgen

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/internal/cli/cmdgroup"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
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
	name := names.Preview(o.app, int(o.pr))
	repo, err := o.open(cmd.Context())
	if err != nil {
		return err
	}
	res, err := repo.Apply(cmd.Context(), func(tree generator.Tree) (generator.Files, string, error) {
		files, err := generator.RemoveApp(names.PreviewEnv, name, tree)
		return files, generator.RemovePreviewMessage(o.app, int(o.pr)).String(), err
	}, gitops.ApplyOptions{})
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

var previewName = regexp.MustCompile(`^(.+)-pr-([0-9]+)$`)

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
	var removed []string
	states := map[int]string{} // asked once: Apply runs the change again after a rejected push
	res, err := repo.Apply(cmd.Context(), func(tree generator.Tree) (generator.Files, string, error) {
		removed = removed[:0]
		previews, err := generator.Apps(tree, names.PreviewEnv)
		if err != nil {
			return nil, "", err
		}
		files := generator.Files{}
		for _, p := range previews {
			m := previewName.FindStringSubmatch(p)
			if m == nil {
				continue
			}
			release, err := tree.ReadFile(path.Join(generator.EnvsDir, names.PreviewEnv, p, generator.ReleaseFile))
			if err != nil {
				return nil, "", err
			}
			app, err := generator.ParseRelease(release)
			if err != nil || app.Annotations[plattrv1.AnnotationSourceRepo] != o.appRepo {
				continue
			}
			n, _ := strconv.Atoi(m[2])
			if _, ok := states[n]; !ok {
				pr, err := gh.Get(cmd.Context(), n)
				if err != nil {
					return nil, "", err
				}
				states[n] = pr.State
			}
			if states[n] != "closed" {
				continue
			}
			f, err := generator.RemoveApp(names.PreviewEnv, p, generator.Overlay{Base: tree, Changes: files})
			if err != nil {
				return nil, "", err
			}
			for k, v := range f {
				files[k] = v
			}
			removed = append(removed, p)
		}
		sort.Strings(removed)
		return files, fmt.Sprintf("remove previews of closed pull requests: %s\n", strings.Join(removed, ", ")), nil
	}, gitops.ApplyOptions{})
	if err != nil {
		return err
	}
	r := previewReport{Kind: "preview-gc", Repo: repo.URL(), Branch: o.branch, Changed: res.Changed, Attempts: res.Attempts}
	if !res.Commit.IsZero() {
		r.Removed, r.Commit = removed, res.Commit.String()
	}
	return r.write(io, o.output, fmt.Sprintf("no preview of %s belongs to a closed pull request", o.appRepo))
}
