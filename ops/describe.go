package ops

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/plattr/plattr/generator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// MaxPRBody is GitHub's limit on a pull request's body.
const MaxPRBody = 65536

// ReleaseChange is one app's release before and after a promotion or rollback.
type ReleaseChange struct {
	App      string
	Old, New []byte // release.yaml; Old is nil when the app is new to the environment
}

func shortImage(app *plattrv1.Application) string {
	if app == nil {
		return "(none)"
	}
	return generator.ShortImage(app.Spec.Image)
}

func source(app *plattrv1.Application) string {
	if app == nil {
		return "—"
	}
	repo, commit := app.Annotations[plattrv1.AnnotationSourceRepo], app.Annotations[plattrv1.AnnotationSourceCommit]
	if commit == "" {
		return "—"
	}
	if repo == "" {
		return fmt.Sprintf("`%.8s`", commit)
	}
	return fmt.Sprintf("[%s@%.8s](https://github.com/%s/commit/%s)", repo, commit, repo, commit)
}

// DatabaseChanged says whether two releases ask for different databases: a
// rollback across such a change may meet a schema it does not know.
func DatabaseChanged(a, b []byte) bool {
	x, errA := generator.ParseRelease(a)
	y, errB := generator.ParseRelease(b)
	if errA != nil || errB != nil {
		return false
	}
	return !reflect.DeepEqual(x.Spec.Database, y.Spec.Database)
}

// Describe writes the body of a pull request that changes releases: per app the
// image change, the source commits and the spec diff, within GitHub's limit (diffs
// are dropped, then apps summarised, when it would be longer).
func Describe(intro string, changes []ReleaseChange) string {
	full := describe(intro, changes, true)
	if len(full) <= MaxPRBody {
		return full
	}
	short := describe(intro, changes, false)
	if len(short) <= MaxPRBody {
		return short
	}
	// Even one line per app is too long: list as many as fit.
	var b strings.Builder
	b.WriteString(intro + "\n\n")
	for i, c := range changes {
		line := "- " + c.App + "\n"
		if b.Len()+len(line)+100 > MaxPRBody {
			fmt.Fprintf(&b, "\n…and %d more apps (see the diff of this pull request).\n", len(changes)-i)
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

func describe(intro string, changes []ReleaseChange, diffs bool) string {
	var b strings.Builder
	b.WriteString(intro + "\n\n")
	fmt.Fprintf(&b, "| app | image | source |\n|---|---|---|\n")
	for _, c := range changes {
		oldApp, _ := generator.ParseRelease(c.Old)
		newApp, _ := generator.ParseRelease(c.New)
		if c.Old == nil {
			oldApp = nil
		}
		img := fmt.Sprintf("`%s` → `%s`", shortImage(oldApp), shortImage(newApp))
		src := fmt.Sprintf("%s → %s", source(oldApp), source(newApp))
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.App, img, src)
	}
	if !diffs {
		b.WriteString("\n(The spec diffs are left out: the description would exceed GitHub's limit. See the files of this pull request.)\n")
		return b.String()
	}
	for _, c := range changes {
		if DatabaseChanged(c.Old, c.New) {
			fmt.Fprintf(&b, "\n> [!WARNING]\n> **%s**: the database block changes. Check that the schema fits the release this brings.\n", c.App)
		}
		text, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(c.Old)), B: difflib.SplitLines(string(c.New)),
			FromFile: c.App + " (now)", ToFile: c.App + " (after merge)", Context: 2,
		})
		if text == "" {
			continue
		}
		fmt.Fprintf(&b, "\n<details><summary>%s: release.yaml</summary>\n\n```diff\n%s```\n</details>\n", c.App, text)
	}
	return b.String()
}
