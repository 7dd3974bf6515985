package ops

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/plattr/plattr/generator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// How a release reached an environment.
const (
	KindRender    = "render"    // CI committed it (plattr-gen render)
	KindPromotion = "promotion" // a promotion pull request was merged
	KindRollback  = "rollback"  // a rollback pull request was merged, or an image the environment ran before came back
	KindEdit      = "edit"      // anything else: a person's commit
)

// Release is one release of an app in an environment, read from the env
// repo's history: what ran from when, and how it got there.
type Release struct {
	App   string `json:"app"`
	Env   string `json:"environment"`
	Image string `json:"image"`
	// Source is the app's repository and commit; SourceTime when that commit
	// was made (zero: not recorded).
	SourceRepo   string    `json:"sourceRepo,omitempty"`
	SourceCommit string    `json:"sourceCommit,omitempty"`
	SourceTime   time.Time `json:"sourceTime,omitzero"`
	// At is when it reached the environment's branch: the time of Commit,
	// the commit that wrote it (for a merged pull request, the merge).
	At     time.Time `json:"releasedAt"`
	Commit string    `json:"commit"`
	// PR is the pull request whose merge released it (0: a direct commit);
	// By who made that commit (for a merge: who merged it).
	PR   int    `json:"pullRequest,omitempty"`
	By   string `json:"by"`
	Kind string `json:"kind"`
	// CIRun is the CI run that rendered it, when this commit says.
	CIRun string `json:"ciRun,omitempty"`
}

// mergeSubject is the subject of GitHub's merge commits.
var mergeSubject = regexp.MustCompile(`^Merge pull request #(\d+) from (\S+)`)

// Releases reads the releases of app in env from the versions of its
// release.yaml (newest first, as gitops.Repo.History gives them), newest first.
func Releases(app, env string, versions []Version) []Release {
	out := make([]Release, 0, len(versions))
	for _, v := range versions {
		r := Release{App: app, Env: env, At: v.When.UTC(), Commit: v.Commit, By: v.Author, Kind: KindEdit}
		if a, err := generator.ParseRelease(v.Content); err == nil {
			r.Image = a.Spec.Image
			r.SourceRepo, r.SourceCommit = a.Annotations[plattrv1.AnnotationSourceRepo], a.Annotations[plattrv1.AnnotationSourceCommit]
		}
		subject, _, _ := strings.Cut(v.Message, "\n")
		trailers := ParseTrailers(v.Message)
		if m := mergeSubject.FindStringSubmatch(subject); m != nil {
			r.PR, _ = strconv.Atoi(m[1])
			switch branch := m[2]; {
			case strings.Contains(branch, "plattr/rollback-"):
				r.Kind = KindRollback
			case strings.Contains(branch, "plattr/promote-"):
				r.Kind = KindPromotion
			}
		}
		switch {
		case trailers[TrailerRollbackTo] != "":
			r.Kind = KindRollback
		case trailers[TrailerPromotion] != "":
			r.Kind = KindPromotion
		case trailers[TrailerImage] != "" && r.PR == 0:
			r.Kind = KindRender
			r.CIRun = trailers[TrailerCIRun]
			if t, err := time.Parse(time.RFC3339, trailers[TrailerSourceTime]); err == nil {
				r.SourceTime = t.UTC()
			}
		}
		out = append(out, r)
	}
	// An image the environment ran before coming back is a rollback, however
	// it came (a revert, a person's edit).
	// (A version right before with the same image is the same release with
	// other settings, not the one it replaced.)
	for i := range out {
		if out[i].Kind == KindRollback || out[i].Image == "" {
			continue
		}
		j := i + 1
		for j < len(out) && out[j].Image == out[i].Image {
			j++
		}
		for _, older := range out[min(j, len(out)):] {
			if older.Image == out[i].Image {
				out[i].Kind = KindRollback
				break
			}
		}
	}
	return out
}

// FillSourceTimes gives each release without a source time the one its image
// was rendered with (a promotion copies the release, not the render's
// trailers).
func FillSourceTimes(releases []Release) {
	byImage := map[string]time.Time{}
	for _, r := range releases {
		if !r.SourceTime.IsZero() {
			byImage[r.Image] = r.SourceTime
		}
	}
	for i := range releases {
		if releases[i].SourceTime.IsZero() {
			releases[i].SourceTime = byImage[releases[i].Image]
		}
	}
}

// SortReleases orders releases by app, then environment in cfg's order,
// keeping each one's history order (newest first by the graph, which times
// written by people's clocks need not follow).
func SortReleases(cfg *generator.Config, releases []Release) {
	order := map[string]int{}
	for i, e := range cfg.EnvNames() {
		order[e] = i
	}
	sort.SliceStable(releases, func(i, j int) bool {
		a, b := releases[i], releases[j]
		if a.App != b.App {
			return a.App < b.App
		}
		return order[a.Env] < order[b.Env]
	})
}
