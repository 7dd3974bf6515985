package release

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The files that say which version the repository is: the operator's image tag
// in bases/operator (what the kustomize remote base at a tag installs) and in
// overlays/aws (which pins the released image by digest), and the chart's
// version and appVersion.
const (
	operatorKustomization  = "bases/operator/kustomization.yaml"
	rollbacksKustomization = "bases/rollbacks/kustomization.yaml" // the same image, in rollback controller mode
	awsKustomization       = "overlays/aws/common/kustomization.yaml"
	chartFile              = "charts/plattr-operator/Chart.yaml"
	changelogFile          = "CHANGELOG.md"
)

var (
	newTagLine     = regexp.MustCompile(`(?m)^  newTag: (\S+)$`)
	newNameLine    = regexp.MustCompile(`(?m)^  newName: (\S+)$`)
	digestLine     = regexp.MustCompile(`(?m)^  digest: (\S+)\n`)
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
	a, err := os.ReadFile(filepath.Join(root, awsKustomization))
	if err != nil {
		return "", err
	}
	rb, err := os.ReadFile(filepath.Join(root, rollbacksKustomization))
	if err != nil {
		return "", err
	}
	if t, t2 := newTagLine.FindSubmatch(rb), newTagLine.FindSubmatch(k); t == nil || t2 == nil || string(t[1]) != string(t2[1]) {
		return "", fmt.Errorf("the versions disagree: %s and %s name other operator images: run make release-prepare VERSION=…", operatorKustomization, rollbacksKustomization)
	}
	tag, awsTag, app, ver := newTagLine.FindSubmatch(k), newTagLine.FindSubmatch(a), chartAppVerion.FindSubmatch(c), chartVersion.FindSubmatch(c)
	if tag == nil || awsTag == nil || app == nil || ver == nil {
		return "", fmt.Errorf("%s and %s need a newTag line and %s version and appVersion lines", operatorKustomization, awsKustomization, chartFile)
	}
	v := string(tag[1])
	for _, f := range reusableWorkflows {
		d, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return "", err
		}
		if m := deployVersion.FindSubmatch(d); m == nil || string(m[2]) != v {
			return "", fmt.Errorf("the versions disagree: %s says %s, %s's plattr-version default is not the same: run make release-prepare VERSION=…",
				operatorKustomization, v, f)
		}
	}
	_, versions, err := OwnActionPins(root)
	if err != nil {
		return "", err
	}
	for _, pinned := range versions {
		if pinned != v {
			return "", fmt.Errorf("the versions disagree: %s says %s, a reusable workflow pins its own actions as %s: run make release-prepare VERSION=…",
				operatorKustomization, v, pinned)
		}
	}
	if string(awsTag[1]) != v || string(app[1]) != v || string(ver[1]) != ChartVersion(v) {
		return "", fmt.Errorf("the versions disagree: %s says %s, %s %s, %s appVersion %s and version %s: run make release-prepare VERSION=…",
			operatorKustomization, v, awsKustomization, awsTag[1], chartFile, app[1], ver[1])
	}
	return v, nil
}

// Pin sets overlays/aws to the released operator image by digest (what the
// release workflow proposes in a pull request once the image is pushed):
// image is the repository it was pushed to (ghcr.io/<owner>/plattr-operator),
// digest the index's. The overlay must be at version already: a pin never
// moves an overlay to another release.
func Pin(root, version, image, digest string) error {
	if err := CheckVersion(version); err != nil {
		return err
	}
	if r, err := name.NewRepository(image, name.StrictValidation); err != nil || r.Name() != image {
		return fmt.Errorf("image %q is not an image repository such as ghcr.io/acme/plattr-operator (no tag, no digest)", image)
	}
	if _, err := v1.NewHash(digest); err != nil || !strings.HasPrefix(digest, "sha256:") {
		return fmt.Errorf("digest %q is not an image digest such as sha256:<64 hex digits>", digest)
	}
	p := filepath.Join(root, awsKustomization)
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	s := string(data)
	tag := newTagLine.FindStringSubmatch(s)
	if tag == nil || tag[1] != version {
		at := "no version"
		if tag != nil {
			at = tag[1]
		}
		return fmt.Errorf("%s is at %s, not %s: pin the release the repository is at", awsKustomization, at, version)
	}
	if s, err = replaceOnce(s, newNameLine, "  newName: "+image); err != nil {
		return fmt.Errorf("%s: %w", awsKustomization, err)
	}
	s = digestLine.ReplaceAllLiteralString(s, "")
	s = newTagLine.ReplaceAllLiteralString(s, "  newTag: "+version+"\n  digest: "+digest)
	return os.WriteFile(p, []byte(s), 0o644)
}

// Prepare sets the repository to version: the operator's image tag (in
// overlays/aws without a digest until Pin), the chart's version and appVersion, and CHANGELOG.md's "## Unreleased" section
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
		{rollbacksKustomization, func(s string) (string, error) {
			return replaceOnce(s, newTagLine, "  newTag: "+version)
		}},
		// The new release's digest is not known yet: its pin comes after the push.
		{awsKustomization, func(s string) (string, error) {
			return replaceOnce(digestLine.ReplaceAllLiteralString(s, ""), newTagLine, "  newTag: "+version)
		}},
		{deployWorkflowFile, workflowVersion(version)},
		{envWorkflowFile, workflowVersion(version)},
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

// workflowVersion sets a reusable workflow to version: its plattr-version
// default and the version comments of its own actions' pins.
func workflowVersion(version string) func(string) (string, error) {
	return func(s string) (string, error) {
		if len(deployVersion.FindAllStringIndex(s, -1)) != 1 {
			return "", fmt.Errorf("want exactly one plattr-version input with a default")
		}
		s = deployVersion.ReplaceAllString(s, "${1}"+version)
		return ownActionUses.ReplaceAllString(s, "${1}${2} # "+version), nil
	}
}
