package ops

import (
	"fmt"
	"sort"
	"strings"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/names"
)

// The trailers of Plattr's commits, which tools read back (git log --format=%(trailers)).
const (
	TrailerApp          = "Plattr-App"
	TrailerEnvironment  = "Plattr-Environment"
	TrailerImage        = "Plattr-Image"
	TrailerRollbackTo   = "Plattr-Rollback-To"
	TrailerRolledBackBy = "Plattr-Rolled-Back-By"
	TrailerPromotion    = "Plattr-Promotion"
	TrailerSourceRepo   = "Plattr-Source-Repo"
	TrailerSourceCommit = "Plattr-Source-Commit"
	TrailerCIRun        = "Plattr-CI-Run"
	TrailerSourceTime   = "Plattr-Source-Time"
	// TrailerForced records a promotion forced past gates that did not hold.
	TrailerForced = "Plattr-Forced"
)

// Message is a commit message: a subject line, an optional body and trailers.
type Message struct {
	Subject  string
	Body     string
	Trailers [][2]string
}

func (m Message) String() string {
	var b strings.Builder
	b.WriteString(m.Subject)
	b.WriteString("\n")
	if m.Body != "" {
		b.WriteString("\n" + strings.TrimRight(m.Body, "\n") + "\n")
	}
	if len(m.Trailers) > 0 {
		b.WriteString("\n")
		for _, t := range m.Trailers {
			fmt.Fprintf(&b, "%s: %s\n", t[0], t[1])
		}
	}
	return b.String()
}

// initMessage says what env init did.
func initMessage(cfg *generator.Config) Message {
	return Message{Subject: "init environment repo: " + strings.Join(cfg.EnvNames(), " → ")}
}

// deployMessage says what a render did: "hello: deploy sha256:ab12cd34ef56
// (source 3f9c1a2b) to staging", with trailers for the source and CI run.
func deployMessage(r generator.Release, t generator.Target) Message {
	subject := fmt.Sprintf("%s: deploy %s", r.Manifest.Name, r.Image.ShortDigest())
	if c := r.Source.Commit; c != "" {
		subject += fmt.Sprintf(" (source %.8s)", c)
	}
	subject += " to " + where(t.Env, r.PR)
	m := Message{Subject: subject, Trailers: [][2]string{{TrailerApp, r.Manifest.Name}, {TrailerEnvironment, t.Env}, {TrailerImage, r.Image.Ref}}}
	for _, t := range [][2]string{{TrailerSourceRepo, r.Source.Repo}, {TrailerSourceCommit, r.Source.Commit}, {TrailerSourceTime, r.Source.Time}, {TrailerCIRun, r.Source.RunURL}} {
		if t[1] != "" {
			m.Trailers = append(m.Trailers, t)
		}
	}
	return m
}

// where names the environment a release lands in, for people: "staging", or
// "preview of PR #42".
func where(env string, pr int) string {
	if pr != 0 {
		return fmt.Sprintf("preview of PR #%d", pr)
	}
	return env
}

// promoteMessage says what a promotion does: one app by its image, up to five by
// name, more by count (listed in the body).
func promoteMessage(from, to string, changes []ReleaseChange) Message {
	var apps []string
	for _, c := range changes {
		apps = append(apps, c.App)
	}
	sort.Strings(apps)
	m := Message{Subject: fmt.Sprintf("promote %s from %s to %s", strings.Join(apps, ", "), from, to),
		Trailers: [][2]string{{TrailerPromotion, from + " -> " + to}}}
	switch {
	case len(changes) == 1:
		m.Subject = fmt.Sprintf("%s: promote %s from %s to %s", changes[0].App, releaseImage(changes[0].New), from, to)
		m.Trailers = append([][2]string{{TrailerApp, changes[0].App}, {TrailerEnvironment, to}}, m.Trailers...)
	case len(apps) > 5:
		m.Subject = fmt.Sprintf("promote %d apps from %s to %s", len(apps), from, to)
		m.Body = strings.Join(apps, "\n")
	}
	return m
}

// forcedMessage records in m that the promotion was forced past the gates.
func forcedMessage(m Message, reasons []string) Message {
	var b strings.Builder
	b.WriteString("Forced past the gates, which did not hold:\n")
	list(&b, reasons)
	body := b.String()
	if m.Body != "" {
		body = m.Body + "\n\n" + body
	}
	m.Body = body
	m.Trailers = append(m.Trailers, [2]string{TrailerForced, fmt.Sprintf("%d gate(s) did not hold", len(reasons))})
	return m
}

// ParseTrailers reads the trailers of a commit message: the "Key: value"
// lines of its last paragraph (the first value of each key).
func ParseTrailers(message string) map[string]string {
	paras := strings.Split(strings.TrimSpace(strings.ReplaceAll(message, "\r\n", "\n")), "\n\n")
	if len(paras) < 2 {
		return nil
	}
	out := map[string]string{}
	for _, line := range strings.Split(paras[len(paras)-1], "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil // not a trailer paragraph
		}
		if _, seen := out[k]; !seen {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// rollbackMessage says what a rollback restores, and from which commit.
func rollbackMessage(app, env string, target Version) Message {
	return Message{Subject: fmt.Sprintf("%s: roll back %s to %s (as of %.8s)", app, env, releaseImage(target.Content), target.Commit),
		Trailers: [][2]string{{TrailerApp, app}, {TrailerEnvironment, env}, {TrailerRollbackTo, target.Commit}}}
}

// removePreviewMessage says what removing the preview of a pull request did.
func removePreviewMessage(app string, pr int) Message {
	return Message{Subject: fmt.Sprintf("%s: remove %s", app, where(names.PreviewEnv, pr)),
		Trailers: [][2]string{{TrailerApp, app}, {TrailerEnvironment, names.PreviewEnv}}}
}

// gcMessage says which previews a gc removed.
func gcMessage(removed []string) Message {
	m := Message{Subject: "remove previews of closed pull requests: " + strings.Join(removed, ", "),
		Trailers: [][2]string{{TrailerEnvironment, names.PreviewEnv}}}
	if len(removed) > 5 {
		m.Subject = fmt.Sprintf("remove %d previews of closed pull requests", len(removed))
		m.Body = strings.Join(removed, "\n")
	}
	return m
}

// Branch names of the pull requests Plattr opens: running a command again
// updates the same branch.
func promoteBranch(app, from, to string) string {
	if app == "" {
		return "plattr/promote-" + from + "-to-" + to
	}
	return "plattr/promote-" + to + "-" + app
}

func rollbackBranch(app, env string) string { return "plattr/rollback-" + env + "-" + app }

// Labels of the pull requests Plattr opens.
const (
	LabelPromotion = "plattr/promotion"
	LabelRollback  = "plattr/rollback"
	LabelUpgrade   = "plattr/upgrade"
)

func envLabel(env string) string { return "env/" + env }

// releaseImage is the image of a release.yaml, short (as ShortImage), or "" when
// there is none.
func releaseImage(release []byte) string {
	if ref := ReleaseImageRef(release); ref != "" {
		return generator.ShortImage(ref)
	}
	return ""
}

// ReleaseImageRef is the image reference of a release.yaml, "" when there is
// none or it does not parse.
func ReleaseImageRef(release []byte) string {
	if release == nil {
		return ""
	}
	app, err := generator.ParseRelease(release)
	if err != nil {
		return ""
	}
	return app.Spec.Image
}
