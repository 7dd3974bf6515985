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
	ownActionsDir      = ".github/actions"
)

var (
	ownActionUses = regexp.MustCompile(`(?m)^(\s+- uses: plattr/plattr/\.github/actions/[a-z0-9-]+@)([0-9a-f]{40}) # (\S+)$`)
	fullCommit    = regexp.MustCompile(`^[0-9a-f]{40}$`)
	deployVersion = regexp.MustCompile(`(?m)^(      plattr-version:\n(?:        .*\n)*?        default: )(\S+)$`)
)

// OwnActionPins lists the commits and versions deploy.yml's uses: of Plattr's
// own actions name.
func OwnActionPins(root string) (commits, versions []string, err error) {
	data, err := os.ReadFile(filepath.Join(root, deployWorkflowFile))
	if err != nil {
		return nil, nil, err
	}
	for _, m := range ownActionUses.FindAllStringSubmatch(string(data), -1) {
		commits, versions = append(commits, m[2]), append(versions, m[3])
	}
	if len(commits) == 0 {
		return nil, nil, fmt.Errorf("%s uses none of plattr/plattr's own actions pinned as @<commit> # <version>", deployWorkflowFile)
	}
	return commits, versions, nil
}

// PinActions sets deploy.yml's uses: of Plattr's own actions to the last
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
	p := filepath.Join(root, deployWorkflowFile)
	data, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	s := ownActionUses.ReplaceAllString(string(data), "${1}"+commit+" # "+v)
	return commit, os.WriteFile(p, []byte(s), 0o644)
}
