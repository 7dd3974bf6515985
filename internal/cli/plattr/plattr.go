// Package plattr is the developer's command line: `plattr init` scaffolds
// plattr.yaml and the deploy workflow into an app's repository, `plattr dev` runs
// the app locally with its backing services, and `plattr deploy local` applies
// it to a local cluster without Argo CD.
//
// It holds no rendering or provisioning logic: the files come from templates
// embedded in the binary, the Application from the generator, the backing
// services from the operator's own provisioners.
package plattr

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/internal/cli/cmdgroup"
	"github.com/plattr/plattr/internal/version"
)

//go:embed templates/*.tmpl
var templates embed.FS

// deployWorkflow is Plattr's reusable deploy workflow, which the written
// caller workflow uses.
const deployWorkflow = "plattr/plattr/.github/workflows/deploy.yml"

// workflowRef is what the written workflow's uses: names: a release of plattr
// pins the commit it was built from, with its version in a comment as
// Dependabot reads it; a development build, which has no release to pin, names
// the main branch (and init says so).
func workflowRef(v version.Info) (uses string, released bool) {
	return version.WorkflowRef(v, deployWorkflow)
}

// ecrHost matches Amazon ECR's registry hosts, which the workflow logs in to
// through GitHub's OIDC (id-token: write) instead of a password.
var ecrHost = regexp.MustCompile(`^` + ECRHostPattern + `(/|$)`)

// ECRHostPattern is an ECR registry's host (its group: the region); the deploy
// workflow's settings job checks the registry with the same pattern.
const ECRHostPattern = `[0-9]{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?`

// IO are the streams of one invocation.
type IO struct{ Out, Err io.Writer }

type usageError struct{ error }

// Command is plattr's command tree (Main runs it; docs/commands is generated from it).
func Command(io IO) *cobra.Command {
	root := cmdgroup.Of(&cobra.Command{Use: "plattr", Short: "The developer's side of Plattr", SilenceErrors: true, SilenceUsage: true},
		func(err error) error { return usageError{err} })
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	root.AddCommand(newInitCmd(io), newDevCmd(io), newDeployCmd(io))
	version.AddTo(root)
	return root
}

// Main runs plattr with args and returns the exit code: 0 ok, 1 failure, 2 usage.
func Main(ctx context.Context, args []string, io IO) int {
	root := Command(io)
	root.SetArgs(args)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var child exitCode
	if errors.As(err, &child) {
		return int(child) // the command of plattr dev said why
	}
	fmt.Fprintln(io.Err, "plattr: "+err.Error())
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

type initOptions struct {
	dir, name, envRepo, registry string
	force                        bool
}

func newInitCmd(io IO) *cobra.Command {
	o := &initOptions{}
	cmd := &cobra.Command{
		Use:   "init [--dir .] [--name NAME] [--env-repo OWNER/NAME] [--registry REGISTRY]",
		Short: "Write plattr.yaml and the deploy workflow into an app's repository",
		Long: "init writes plattr.yaml, .github/workflows/plattr-deploy.yml and .github/dependabot.yml, asking nothing.\nIt never overwrites a " +
			"file that exists unless --force, and prints what it wrote and what to set up next.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("%s takes no arguments, got %q (see --help)", cmd.CommandPath(), args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(io) },
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", ".", "the app's repository")
	f.StringVar(&o.name, "name", "", "the app's name (default: from the folder's name)")
	f.StringVar(&o.envRepo, "env-repo", "", "owner/name of the environment repo (default: the PLATTR_ENV_REPO variable in GitHub)")
	f.StringVar(&o.registry, "registry", "", "image registry and path (default: ghcr.io/<owner>)")
	f.BoolVar(&o.force, "force", false, "overwrite files that exist")
	return cmd
}

var notLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// nameFrom makes an app name of a folder's name: lower case, other characters as
// '-', starting with a letter, at most names.MaxAppLen characters.
func nameFrom(dir string) string {
	n := notLabel.ReplaceAllString(strings.ToLower(filepath.Base(dir)), "-")
	n = strings.TrimLeft(n, "-0123456789")
	if len(n) > names.MaxAppLen {
		n = n[:names.MaxAppLen]
	}
	return strings.Trim(n, "-")
}

var ownerRepo = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$`)

func (o *initOptions) run(io IO) error {
	abs, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return usageError{fmt.Errorf("--dir %s is not a folder", o.dir)}
	}
	name := o.name
	if name == "" {
		name = nameFrom(abs)
	}
	if err := names.App(name); err != nil {
		return usageError{fmt.Errorf("%w: pass --name", err)}
	}
	if o.envRepo != "" && !ownerRepo.MatchString(o.envRepo) {
		return usageError{fmt.Errorf("--env-repo must be owner/name, is %q", o.envRepo)}
	}
	if strings.ContainsAny(o.registry, " '\"$`{}") {
		return usageError{fmt.Errorf("--registry must be a registry path such as ghcr.io/acme, is %q", o.registry)}
	}
	uses, released := workflowRef(version.Get())
	data := map[string]any{"Name": name, "EnvRepo": o.envRepo, "Registry": o.registry, "Uses": uses,
		"ECR": ecrHost.MatchString(strings.ToLower(o.registry)), "SchemaModeline": manifest.SchemaModeline}
	files := []struct{ tmpl, path string }{
		{"plattr.yaml.tmpl", "plattr.yaml"},
		{"plattr-deploy.yml.tmpl", filepath.Join(".github", "workflows", "plattr-deploy.yml")},
		{"dependabot.yml.tmpl", filepath.Join(".github", "dependabot.yml")},
	}
	wrote := 0
	for _, f := range files {
		target := filepath.Join(abs, f.path)
		if _, err := os.Stat(target); err == nil && !o.force {
			fmt.Fprintf(io.Out, "kept    %s (exists; --force overwrites it)\n", f.path)
			if f.tmpl == "dependabot.yml.tmpl" {
				fmt.Fprintln(io.Out, "        make sure it has an update of package-ecosystem github-actions, so that the deploy workflow's pin is bumped")
			}
			continue
		}
		t, err := template.ParseFS(templates, "templates/"+f.tmpl)
		if err != nil {
			return err
		}
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, []byte(b.String()), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "wrote   %s\n", f.path)
		wrote++
	}
	if !released {
		fmt.Fprintf(io.Out, "\nnote: this plattr is a development build (%s), so the workflow uses %s@main;\n"+
			"      plattr init of a release pins that release's commit\n", version.Version(), deployWorkflow)
	}
	if wrote == 0 {
		fmt.Fprintln(io.Out, "nothing to do: every file exists")
		return nil
	}
	fmt.Fprintf(io.Out, "\nnext steps for %s:\n", name)
	fmt.Fprintln(io.Out, "  1. edit plattr.yaml: port, health check, the backing services the app needs")
	if o.envRepo == "" {
		fmt.Fprintln(io.Out, "  2. in GitHub, set the variable PLATTR_ENV_REPO to owner/name of your environment repo")
	} else {
		fmt.Fprintf(io.Out, "  2. the workflow deploys through %s (the PLATTR_ENV_REPO variable overrides it)\n", o.envRepo)
	}
	fmt.Fprintln(io.Out, "  3. in GitHub, add the secret PLATTR_ENV_REPO_TOKEN: a token that may push to the env repo and open pull requests")
	if data["ECR"] == true {
		fmt.Fprintln(io.Out, "     and the variable PLATTR_AWS_ROLE_ARN: the IAM role GitHub's OIDC token assumes to push to ECR")
	}
	fmt.Fprintln(io.Out, "  4. make sure `make test` runs the app's tests, then push: pull requests get previews, main goes to staging")
	return nil
}
