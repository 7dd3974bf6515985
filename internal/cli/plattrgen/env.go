package plattrgen

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/internal/cli/cmdgroup"
	"github.com/plattr/plattr/internal/version"
	"github.com/plattr/plattr/ops"
)

func newEnvCmd(io IO) *cobra.Command {
	env := cmdgroup.Of(&cobra.Command{Use: "env", Short: "Manage the environment repo itself"}, usage)
	env.AddCommand(newEnvInitCmd(io), newEnvUpgradeCmd(io))
	return env
}

type envUpgradeOptions struct {
	repoFlags
	clusters map[string]string
	output   string
	gh       githubFlags
}

func newEnvUpgradeCmd(io IO) *cobra.Command {
	o := &envUpgradeOptions{}
	cmd := &cobra.Command{
		Use:   "upgrade --repo REPO [--cluster ENV=CLUSTER]",
		Short: "Open a pull request that brings an environment repo to this version's layout",
		Long: "upgrade gives every environment (and previews) an Argo CD project of its own, which allows only its\n" +
			"cluster and namespace and only Plattr Applications (bootstrap/projects.yaml), puts the environments\n" +
			"--cluster names on their clusters, and rewrites plattr-env.yaml, bootstrap/ and every child Application\n" +
			"to match, and adds the workflow .github/workflows/plattr.yml to a repo without one, on the branch\n" +
			"plattr/env-upgrade with a pull request that says in which order to apply what.\n" +
			"Run it again after editing plattr-env.yaml's clusters or namespaces: it rewrites what they change.\n" +
			"Nothing changes an app's release or env.yaml.",
		Example: "  plattr-gen env upgrade --repo https://github.com/acme/env --cluster prod=prod-eu",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return o.run(cmd, io) },
	}
	f := cmd.Flags()
	o.bind(f, io, "base branch of the env repo")
	f.StringToStringVar(&o.clusters, "cluster", nil, clusterFlagUsage)
	bindOutput(f, &o.output)
	o.gh.bind(f, io, "GitHub repository of the env repo, for the pull request")
	return cmd
}

func (o *envUpgradeOptions) run(cmd *cobra.Command, io IO) error {
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
	repo, err := o.open(cmd.Context())
	if err != nil {
		return err
	}
	uses, _ := version.WorkflowRef(version.Get(), EnvWorkflow)
	op := ops.Upgrade{Clusters: o.clusters, Workflow: uses}
	var plan ops.UpgradePlan
	prop, err := repo.Propose(cmd.Context(), op.Branch(), ops.Change(op.Plan, &plan))
	if ie := (ops.InputError{}); errors.As(err, &ie) {
		return usageError{initFlagError(ie.Err)}
	}
	if err != nil {
		return err
	}
	report := proposalReport{Kind: "upgrade", Repo: repo.URL(), Base: o.branch}
	if prop.Commit.IsZero() {
		if o.output == "json" {
			return writeJSON(io, report)
		}
		fmt.Fprintf(io.Out, "nothing to upgrade: %s already has this version's layout\n", repo.URL())
		return nil
	}
	report.Branch, report.Commit = prop.Branch, prop.Commit.String()
	return finishProposal(cmd, io, gh, report, op.Proposal(plan.Config, plan.Workflow), o.output)
}

// clusterFlagUsage is --cluster's help, for env init and env upgrade.
const clusterFlagUsage = "ENV=CLUSTER: the cluster an environment, or preview, runs on: a cluster's name registered with Argo CD, or its https:// URL (repeatable; default: Argo CD's own)"

type envInitOptions struct {
	repoFlags
	repoURL, domain, argoNamespace, project string
	envs                                    []string
	clusters                                map[string]string
}

func newEnvInitCmd(io IO) *cobra.Command {
	o := &envInitOptions{}
	cmd := &cobra.Command{
		Use:   "init --repo REPO --envs staging,uat,prod --domain DOMAIN",
		Short: "Lay down the skeleton of a new environment repo",
		Long: "init writes plattr-env.yaml (the environments in promotion order; the last is production), one root\n" +
			"Argo CD Application per environment under bootstrap/, an empty envs/<env>/apps folder for each, and\n" +
			"the workflow .github/workflows/plattr.yml (the plan of every pull request as a comment and the status\n" +
			"plattr/plan, the gates of open promotions on a schedule, the release matrix), and commits them.\n" +
			"Running it again with the same settings changes nothing.",
		Example: "  plattr-gen env init --repo ./env.git --envs staging,uat,prod --domain apps.example.com \\\n" +
			"    --repo-url https://github.com/acme/env.git",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, io) },
	}
	f := cmd.Flags()
	o.bind(f, io, "branch of the env repo")
	f.StringSliceVar(&o.envs, "envs", []string{"staging", "uat", "prod"}, "environments in promotion order; the last one is production")
	f.StringVar(&o.domain, "domain", "", "base domain: apps are served at <app>.<env>.<domain>, <app>.<domain> in production")
	f.StringVar(&o.repoURL, "repo-url", "", "URL Argo CD clones the env repo from (default: --repo)")
	f.StringVar(&o.argoNamespace, "argocd-namespace", "argocd", "namespace of Argo CD's Applications")
	f.StringVar(&o.project, "project", "", "one Argo CD project for every Application, as env repos before projects per environment had (default: a project per environment, bootstrap/projects.yaml)")
	f.StringToStringVar(&o.clusters, "cluster", nil, clusterFlagUsage)
	return cmd
}

func (o *envInitOptions) run(cmd *cobra.Command, io IO) error {
	if o.repo == "" {
		return errNoRepo()
	}
	if o.domain == "" {
		return usagef("--domain is required: the base domain apps are served under, for example apps.example.com")
	}
	repoURL := o.repoURL
	if repoURL != "" {
		if err := generator.CheckRepoURL(repoURL); err != nil {
			return usagef("--repo-url: %v", err)
		}
	} else {
		var local bool
		repoURL, local = cloneURL(o.repo)
		if local {
			fmt.Fprintf(io.Err, "warning: Argo CD will clone the env repo from the local path %s; pass --repo-url with the URL it can reach\n", repoURL)
		}
	}
	cfg := generator.DefaultConfig(repoURL, o.domain, o.envs)
	if err := setClusters(cfg, o.clusters); err != nil {
		return err
	}
	// Argo CD follows the branch this commit goes to.
	cfg.TargetRevision = o.branch
	cfg.ArgoCD.Namespace = o.argoNamespace
	if o.project != "" {
		cfg.ArgoCD.Project, cfg.ArgoCD.ProjectPerEnvironment = o.project, false
	}
	uses, _ := version.WorkflowRef(version.Get(), EnvWorkflow)
	op, err := ops.NewInit(cfg, ops.WithWorkflow(uses))
	if err != nil {
		return usageError{initFlagError(err)}
	}
	repo, err := o.open(cmd.Context())
	if err != nil {
		return err
	}
	var plan ops.Plan
	res, err := repo.Apply(cmd.Context(), ops.Change(op.Plan, &plan), gitops.ApplyOptions{})
	if err != nil {
		return err
	}
	if res.Commit.IsZero() {
		fmt.Fprintf(io.Out, "%s is already initialised: nothing to commit\n", repo.URL())
		return nil
	}
	fmt.Fprintf(io.Out, "initialised %s as commit %s: environments %s, domain %s\nnext, from a checkout of the env repo: %s\n",
		repo.URL(), res.Commit, strings.Join(cfg.EnvNames(), " → "), o.domain, generator.BootstrapCommand(cfg))
	fmt.Fprintf(io.Out, "on GitHub, %s plans every pull request: require the statuses %s and %s in the branch protection of %s,\n"+
		"and set the secret PLATTR_GITHUB_TOKEN (reads this repo and the apps' repos, writes commit statuses here) for the gates\n",
		generator.WorkflowPath, PlanContext, ops.StatusContext, cfg.TargetRevision)
	return nil
}

// EnvWorkflow is Plattr's reusable workflow for env repos, which the
// workflow env init writes calls.
const EnvWorkflow = "plattr/plattr/.github/workflows/env.yml"

// setClusters puts --cluster's ENV=CLUSTER pairs into the environments (and
// previews) they name.
func setClusters(cfg *generator.Config, clusters map[string]string) error {
	for env, cluster := range clusters {
		if err := cfg.SetCluster(env, cluster); err != nil {
			return usagef("--cluster %s=%s: %q is not one of --envs (%s) nor preview", env, cluster, env, strings.Join(cfg.EnvNames(), ", "))
		}
	}
	return nil
}

// cloneURL is --repo as Argo CD should clone it: without credentials (a token in
// the URL must never be committed), and whether it is a local path.
func cloneURL(repo string) (string, bool) {
	u, err := url.Parse(repo)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return repo, true
	}
	u.User = nil
	return u.String(), false
}

// initFlagError names the flag behind a field of the plattr-env.yaml that env
// init's flags make: the user wrote a flag, not the file.
func initFlagError(err error) error {
	msg, ok := strings.CutPrefix(err.Error(), generator.ConfigFile+": ")
	if !ok {
		return err
	}
	if field, rest, ok := strings.Cut(msg, ": "); ok && strings.HasSuffix(field, ".cluster") {
		return fmt.Errorf("--cluster: %s", rest) // environments[i].cluster, preview.cluster
	}
	for _, f := range []struct{ field, flag string }{
		{"repoURL", "--repo-url (or --repo)"}, {"targetRevision", "--branch"}, {"baseDomain", "--domain"},
		{"argocd.namespace", "--argocd-namespace"}, {"argocd.project", "--project"}, {"environments", "--envs"},
	} {
		if rest, ok := strings.CutPrefix(msg, f.field); ok {
			return fmt.Errorf("%s: %s", f.flag, strings.TrimLeft(rest, ": "))
		}
	}
	return err
}
