package release

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Plattr's reusable deploy workflow uses its own actions (setup-plattr-gen) by
// commit, as it uses every other action: a workflow cannot name the commit it
// is itself at, so the pin is the last commit that changed .github/actions,
// whose actions are those of the release. PinActions sets it; a test checks
// that the pinned commit's actions are the working tree's.
const (
	deployWorkflowFile = ".github/workflows/deploy.yml"
	envWorkflowFile    = ".github/workflows/env.yml"
	ownActionsDir      = ".github/actions"
)

// reusableWorkflows are Plattr's workflows that others call (an app's
// repository, an env repo): each installs plattr-gen of its plattr-version
// default with Plattr's own actions, pinned.
var reusableWorkflows = []string{deployWorkflowFile, envWorkflowFile}

var (
	ownActionUses = regexp.MustCompile(`(?m)^(\s+- uses: plattr/plattr/\.github/actions/[a-z0-9-]+@)([0-9a-f]{40}) # (\S+)$`)
	fullCommit    = regexp.MustCompile(`^[0-9a-f]{40}$`)
	deployVersion = regexp.MustCompile(`(?m)^(      plattr-version:\n(?:        .*\n)*?        default: )(\S+)$`)
)

// OwnActionPins lists the commits and versions the reusable workflows' uses:
// of Plattr's own actions name.
func OwnActionPins(root string) (commits, versions []string, err error) {
	for _, f := range reusableWorkflows {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return nil, nil, err
		}
		ms := ownActionUses.FindAllStringSubmatch(string(data), -1)
		if len(ms) == 0 {
			return nil, nil, fmt.Errorf("%s uses none of plattr/plattr's own actions pinned as @<commit> # <version>", f)
		}
		for _, m := range ms {
			commits, versions = append(commits, m[2]), append(versions, m[3])
		}
	}
	return commits, versions, nil
}

// PinActions sets the reusable workflows' uses: of Plattr's own actions to the last
// commit that changed .github/actions, with the repository's version.
func PinActions(root string) (string, error) {
	out, err := exec.Command("git", "-C", root, "log", "-1", "--format=%H", "--", ownActionsDir).Output()
	if err != nil {
		return "", fmt.Errorf("git log %s: %w", ownActionsDir, err)
	}
	commit := strings.TrimSpace(string(out))
	if !fullCommit.MatchString(commit) {
		return "", fmt.Errorf("no commit has changed %s yet: commit it first", ownActionsDir)
	}
	v, err := RepoVersion(root)
	if err != nil {
		return "", err
	}
	for _, f := range reusableWorkflows {
		p := filepath.Join(root, f)
		data, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		s := ownActionUses.ReplaceAllString(string(data), "${1}"+commit+" # "+v)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			return "", err
		}
	}
	return commit, nil
}
