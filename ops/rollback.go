package ops

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/plattr/plattr/generator"
)

// Rollback restores an earlier release of an app in an environment (rollback):
// Steps releases back, or the one committed at To (a commit id, full or
// abbreviated).
type Rollback struct {
	App, Env string
	Steps    int
	To       string
	// InArgoCD, when set, is a rollback made in Argo CD that this one brings
	// to git.
	InArgoCD *ArgoCDRollback
}

// ArgoCDRollback is a rollback made in Argo CD (its UI or API): who, when, to
// which revision of the env repo.
type ArgoCDRollback struct {
	By       string
	At       time.Time
	Revision string
}

// Version is one content a release had, and the commit that wrote it (newest
// first, as gitops.Repo.History gives them).
type Version struct {
	Commit  string // full id
	When    time.Time
	Subject string
	Content []byte
	// Message is the commit's whole message; Author its author's name.
	Message, Author string
}

// RollbackPlan is a rollback's plan; no files when the app already runs Target.
type RollbackPlan struct {
	Plan
	Current, Target Version
	// DatabaseChanged warns that the restored release asks for another database.
	DatabaseChanged bool
}

// CommitPrefix is what --to takes: an abbreviated or full commit id. Seven digits
// at least, as git abbreviates: fewer match too many commits to be meant.
var CommitPrefix = regexp.MustCompile(`^[0-9a-fA-F]{7,40}$`)

// File is the release the rollback restores: envs/<env>/<app>/release.yaml.
func (r Rollback) File() string { return generator.ReleasePath(r.Env, r.App) }

// Branch is the rollback's pull request branch: plattr/rollback-<env>-<app>.
func (r Rollback) Branch() string { return rollbackBranch(r.App, r.Env) }

// Plan chooses the release to restore among versions (read within depth commits).
func (r Rollback) Plan(versions []Version, depth int) (RollbackPlan, error) {
	if len(versions) == 0 {
		return RollbackPlan{}, fmt.Errorf("%s has no release in %s (no %s)", r.App, r.Env, r.File())
	}
	plan := RollbackPlan{Current: versions[0]}
	switch {
	case r.To != "":
		target, err := releaseAt(versions, r.To)
		if err != nil {
			return RollbackPlan{}, err
		}
		if target == nil {
			return RollbackPlan{}, fmt.Errorf("no release of %s in %s was committed at %q within the last %d commits (see git log -- %s)", r.App, r.Env, r.To, depth, r.File())
		}
		plan.Target = *target
	case r.Steps < len(versions):
		plan.Target = versions[r.Steps]
	default:
		return RollbackPlan{}, fmt.Errorf("%s in %s has only %d earlier release(s) within the last %d commits: cannot go back %d", r.App, r.Env, len(versions)-1, depth, r.Steps)
	}
	if string(plan.Target.Content) == string(plan.Current.Content) {
		return plan, nil
	}
	plan.Files = map[string][]byte{r.File(): plan.Target.Content}
	plan.Message = rollbackMessage(r.App, r.Env, plan.Target)
	if a := r.InArgoCD; a != nil {
		plan.Message.Body = fmt.Sprintf("Rolled back in Argo CD by %s at %s (revision %.12s).", oneLine(a.By), stamp(a.At), a.Revision)
		plan.Message.Trailers = append(plan.Message.Trailers, [2]string{TrailerRolledBackBy, oneLine(a.By)})
	}
	plan.DatabaseChanged = DatabaseChanged(plan.Current.Content, plan.Target.Content)
	return plan, nil
}

// Proposal is the rollback's pull request.
func (r Rollback) Proposal(plan RollbackPlan) Proposal {
	intro := fmt.Sprintf("Rolls **%s** in **%s** back to the release committed in %.12s (%s).", r.App, r.Env, plan.Target.Commit, plan.Target.Subject)
	if a := r.InArgoCD; a != nil {
		intro += fmt.Sprintf("\n\n**Rolled back in Argo CD** by %s at %s (revision `%.12s`), with auto-sync turned off: this pull request brings git to what runs. "+
			"Once it is merged and synced, Plattr turns the Application's auto-sync on again.", MarkdownCell(oneLine(a.By)), stamp(a.At), a.Revision)
	}
	if plan.DatabaseChanged {
		intro += "\n\n> [!WARNING]\n> The database block differs between the running release and this one: check that the older release works with the current schema before merging."
	}
	return Proposal{Branch: r.Branch(), Title: fmt.Sprintf("Roll back %s in %s", r.App, r.Env),
		Body:   Describe(intro, []ReleaseChange{{App: r.App, Old: plan.Current.Content, New: plan.Target.Content}}),
		Labels: []string{LabelRollback, envLabel(r.Env)}}
}

// oneLine keeps a name on one line, within 100 characters (it comes from
// Argo CD's user: a trailer must not be forged by a newline).
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 100 {
		s = s[:100]
	}
	if strings.TrimSpace(s) == "" {
		return "(unknown)"
	}
	return s
}

// releaseAt is the release committed at the commit whose id starts with prefix
// (nil when none is), refusing a prefix that more than one release's commit
// starts with: picking one would roll back to a release nobody chose.
func releaseAt(versions []Version, prefix string) (*Version, error) {
	prefix = strings.ToLower(prefix)
	var found []*Version
	for i := range versions {
		if strings.HasPrefix(versions[i].Commit, prefix) {
			found = append(found, &versions[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	var list []string
	for _, v := range found {
		list = append(list, fmt.Sprintf("%s (%s)", v.Commit, v.When.UTC().Format(time.DateOnly)))
	}
	return nil, InputError{fmt.Errorf("--to %s is ambiguous: the commits of %d releases start with it: %s; give more digits", prefix, len(found), strings.Join(list, ", "))}
}
