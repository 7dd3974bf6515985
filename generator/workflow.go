package generator

import (
	"fmt"
	"strconv"
	"strings"
)

// WorkflowPath is the env repo's workflow, which env init writes: Plattr's
// checks on it (plan, gates, release matrix), through Plattr's reusable
// workflow.
const WorkflowPath = ".github/workflows/plattr.yml"

// EnvWorkflow is WorkflowPath's content: the events Plattr's reusable env
// workflow acts on, calling it at uses ("plattr/plattr/.github/workflows/
// env.yml@<commit> # <version>", or @main from a development build). Pushes
// are those of the branch Argo CD follows.
func EnvWorkflow(cfg *Config, uses string) []byte {
	branch := cfg.TargetRevision
	if branch == "" {
		branch = "main"
	}
	var b strings.Builder
	b.WriteString(`# Plattr's checks on this env repo (written by plattr-gen env init):
#   every pull request: the plan of what merging it makes the platform do, as one comment, and the commit status
#     plattr/plan (a destructive change to a production environment needs the label plattr/allow-destructive);
#     pull_request_target runs this file as the base branch has it: a pull request cannot change what judges it;
#   every 15 minutes: the gates of the open promotion pull requests (plattr/promotion);
#   every push to ` + branch + `: the release matrix, in the run's summary.
# Require plattr/plan and plattr/promotion in the branch protection of ` + branch + `. For the gates to read the
# apps' deployments, set the secret PLATTR_GITHUB_TOKEN to a token that reads this repository and the apps'
# repositories and may write commit statuses here.
name: plattr

on:
  pull_request_target:
    types: [opened, synchronize, reopened, labeled, unlabeled]
  push:
    branches: [` + strconv.Quote(branch) + `]
  schedule:
    - cron: "*/15 * * * *"
  workflow_dispatch: {}

permissions: {}

jobs:
  plattr:
`)
	fmt.Fprintf(&b, "    uses: %s\n", uses)
	b.WriteString(`    permissions:
      contents: read
      pull-requests: write
      statuses: write
    secrets:
      github-token: ${{ secrets.PLATTR_GITHUB_TOKEN }}
`)
	return []byte(b.String())
}
