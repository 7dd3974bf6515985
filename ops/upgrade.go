package ops

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/names"
)

// Upgrade brings an env repo to this version's layout (env upgrade): an Argo CD
// project per environment, and the clusters Clusters names (environment, or
// "preview", to a registered cluster name or URL); bootstrap/ and every child
// Application are rewritten from plattr-env.yaml. Run again after editing
// plattr-env.yaml's clusters or namespaces, it rewrites what they change.
type Upgrade struct {
	Clusters map[string]string
	// Workflow, when set, adds the env repo's workflow (generator.WorkflowPath)
	// calling Plattr's reusable env workflow at it, to a repo that has none
	// (one that has it is left as it is: it may be a person's).
	Workflow string
}

// UpgradePlan is an upgrade's plan, and the settings it leads to.
type UpgradePlan struct {
	Plan
	Config *generator.Config
	// Workflow: the plan adds the env repo's workflow.
	Workflow bool
}

// Branch is the upgrade's pull request branch.
func (Upgrade) Branch() string { return "plattr/env-upgrade" }

// Plan rewrites plattr-env.yaml, bootstrap/ and the child Applications.
func (u Upgrade) Plan(tree envfiles.Tree) (UpgradePlan, error) {
	old, err := generator.ReadConfig(tree)
	if err != nil {
		return UpgradePlan{}, err
	}
	cfg := *old
	cfg.Environments = slices.Clone(old.Environments)
	cfg.ArgoCD.ProjectPerEnvironment, cfg.ArgoCD.Project = true, ""
	for _, env := range slices.Sorted(maps.Keys(u.Clusters)) {
		if err := cfg.SetCluster(env, u.Clusters[env]); err != nil {
			return UpgradePlan{}, InputError{fmt.Errorf("--cluster %s=%s: %w", env, u.Clusters[env], err)}
		}
	}
	files, err := generator.Upgrade(old, &cfg, tree)
	if err != nil {
		return UpgradePlan{}, InputError{err}
	}
	plan := UpgradePlan{Plan: Plan{Files: files, Message: Message{Subject: "upgrade environment repo: an Argo CD project per environment"}}, Config: &cfg}
	if u.Workflow != "" {
		if _, err := tree.ReadFile(generator.WorkflowPath); errors.Is(err, fs.ErrNotExist) {
			files[generator.WorkflowPath] = generator.EnvWorkflow(&cfg, u.Workflow)
			plan.Workflow = true
		}
	}
	return plan, nil
}

// Proposal is the upgrade's pull request: what changes, and the order that keeps
// every Application syncing (the projects exist before anything uses them).
func (u Upgrade) Proposal(cfg *generator.Config, workflow bool) Proposal {
	ns := cfg.ArgoCD.Namespace
	var b strings.Builder
	b.WriteString("Each environment gets an Argo CD project of its own (`" + generator.ProjectsPath + "`): its apps may deploy only Plattr Applications, " +
		"only to its cluster and namespace. The root Applications move to project `" + generator.RootProjectName + "`, which allows only Argo CD Applications in `" + ns + "`.\n\n")
	b.WriteString("| environment | cluster | namespace | project |\n|---|---|---|---|\n")
	for _, env := range append(cfg.EnvNames(), names.PreviewEnv) {
		d := cfg.DestinationOf(env)
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", env, generator.ClusterOfDestination(d), d.Namespace, cfg.ProjectOf(env))
	}
	if workflow {
		b.WriteString("\n`" + generator.WorkflowPath + "` is added: Plattr's checks on this repo (the plan of every pull request as a comment and " +
			"the status `plattr/plan`, the gates of open promotions every 15 minutes, the release matrix on each push).\n")
	}
	b.WriteString("\nIn this order, so that no Application names a project that does not exist yet:\n\n")
	fmt.Fprintf(&b, "1. before merging, create the projects (nothing uses them yet):\n   `git fetch origin %s && git show FETCH_HEAD:%s | kubectl apply -n %s -f -`\n", u.Branch(), generator.ProjectsPath, ns)
	b.WriteString("2. merge: the root Applications move every child Application to its environment's project;\n")
	fmt.Fprintf(&b, "3. from main, apply the roots again (they are not synced from git): `kubectl apply -n %s -f %s/`\n", ns, generator.BootstrapDir)
	return Proposal{Branch: u.Branch(), Title: "Upgrade the environment repo: an Argo CD project per environment", Body: b.String(), Labels: []string{LabelUpgrade}}
}
