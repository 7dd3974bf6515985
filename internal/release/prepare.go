package release

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// The files that say which version the repository is: the operator's image tag
// in bases/operator (what the kustomize remote base at a tag installs) and the
// chart's version and appVersion.
const (
	operatorKustomization = "bases/operator/kustomization.yaml"
	chartFile             = "charts/plattr-operator/Chart.yaml"
	changelogFile         = "CHANGELOG.md"
)

var (
	newTagLine     = regexp.MustCompile(`(?m)^  newTag: (\S+)$`)
	chartVersion   = regexp.MustCompile(`(?m)^version: (\S+)$`)
	chartAppVerion = regexp.MustCompile(`(?m)^appVersion: (\S+)$`)
)

// RepoVersion reads the version the repository's install files name, and fails
// when they disagree.
func RepoVersion(root string) (string, error) {
	k, err := os.ReadFile(filepath.Join(root, operatorKustomization))
	if err != nil {
		return "", err
	}
	c, err := os.ReadFile(filepath.Join(root, chartFile))
	if err != nil {
		return "", err
	}
	tag, app, ver := newTagLine.FindSubmatch(k), chartAppVerion.FindSubmatch(c), chartVersion.FindSubmatch(c)
	if tag == nil || app == nil || ver == nil {
		return "", fmt.Errorf("%s needs a newTag line and %s version and appVersion lines", operatorKustomization, chartFile)
	}
	v := string(tag[1])
	if string(app[1]) != v || string(ver[1]) != ChartVersion(v) {
		return "", fmt.Errorf("the versions disagree: %s says %s, %s appVersion %s and version %s: run make release-prepare VERSION=…",
			operatorKustomization, v, chartFile, app[1], ver[1])
	}
	return v, nil
}

// Prepare sets the repository to version: the operator's image tag, the
// chart's version and appVersion, and CHANGELOG.md's "## Unreleased" section
// becomes "## <version> (<date>)" under a new, empty Unreleased one. The
// release commit that holds these is the one to tag.
func Prepare(root, version string, today time.Time) error {
	if err := CheckVersion(version); err != nil {
		return err
	}
	edits := []struct {
		file string
		edit func(string) (string, error)
	}{
		{operatorKustomization, func(s string) (string, error) {
			return replaceOnce(s, newTagLine, "  newTag: "+version)
		}},
		{chartFile, func(s string) (string, error) {
			s, err := replaceOnce(s, chartVersion, "version: "+ChartVersion(version))
			if err != nil {
				return "", err
			}
			return replaceOnce(s, chartAppVerion, "appVersion: "+version)
		}},
		{changelogFile, func(s string) (string, error) {
			const unreleased = "## Unreleased\n"
			if !strings.Contains(s, unreleased) {
				return "", fmt.Errorf("has no %q section to release", strings.TrimSpace(unreleased))
			}
			if strings.Contains(s, "## "+version+" ") {
				return "", fmt.Errorf("already has a section for %s", version)
			}
			return strings.Replace(s, unreleased, unreleased+"\n## "+version+" ("+today.Format("2006-01-02")+")\n", 1), nil
		}},
	}
	for _, e := range edits {
		p := filepath.Join(root, e.file)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out, err := e.edit(string(data))
		if err != nil {
			return fmt.Errorf("%s: %w", e.file, err)
		}
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func replaceOnce(s string, re *regexp.Regexp, line string) (string, error) {
	if len(re.FindAllStringIndex(s, -1)) != 1 {
		return "", fmt.Errorf("want exactly one line matching %s", re)
	}
	return re.ReplaceAllLiteralString(s, line), nil
}
