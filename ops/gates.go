package ops

import (
	"fmt"
	"strings"
	"time"

	"github.com/plattr/plattr/generator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// Evidence is what GitHub says of one release in the environment it is
// promoted from: the deployment the operator recorded on the app's repository.
type Evidence struct {
	App, Image string
	// Repo and Commit are the release's source (its annotations); CIRun the
	// CI run that rendered it (its commit's trailer), when known.
	Repo, Commit, CIRun string
	// Since is when the release turned success there (zero: it never did);
	// Until when it stopped (replaced, removed or failed; zero while it runs).
	Since, Until time.Time
	// Failed: its latest state there is failure.
	Failed bool
	// URL is where it is served there.
	URL string
	// Problem says why there is no evidence to read (no source annotations,
	// no GitHub, GitHub's error); empty when it was read.
	Problem string
}

// EvidenceOf is the evidence of a release without what GitHub says: its app,
// image and source, from the release.yaml being promoted. A release without
// source annotations has a Problem.
func EvidenceOf(app string, release []byte) Evidence {
	e := Evidence{App: app}
	r, err := generator.ParseRelease(release)
	if err != nil {
		e.Problem = "its release.yaml does not parse"
		return e
	}
	e.Image = r.Spec.Image
	e.Repo, e.Commit = r.Annotations[plattrv1.AnnotationSourceRepo], r.Annotations[plattrv1.AnnotationSourceCommit]
	if e.Repo == "" || e.Commit == "" {
		e.Problem = "its release.yaml names no source (plattr-gen render --source-repo, --source-commit)"
	}
	return e
}

// GateCheck is the outcome of the gates of a promotion: Pass, or what holds it
// (Blocked with the reasons, and Wait: how long until a time-bound gate can
// pass, 0 when waiting cannot help); Warned when the gates only warn.
type GateCheck struct {
	Pass, Warned bool
	Reasons      []string
	Wait         time.Duration
	// Evidence is the body's account of each release, one line each.
	Evidence []string
}

// CheckGates decides the gates of environment to for releases promoted from
// from, with the evidence, at now. Force passes them, and says so.
func CheckGates(cfg *generator.Config, from, to string, ev []Evidence, now time.Time, force bool) (GateCheck, error) {
	e, err := cfg.Env(to)
	if err != nil {
		return GateCheck{}, err
	}
	g := e.Gates
	var c GateCheck
	soak := g.SoakTime()
	gated := g != nil
	if source, err := cfg.Env(from); err == nil && soak > 0 && source.Deployer == "" {
		// Anyone who may write an app's repository may record deployments:
		// only the deployer's are evidence.
		c.Reasons = append(c.Reasons, fmt.Sprintf("the soak in %s cannot be checked: %s sets no deployer (environments[].deployer: the GitHub login that records its deployments)", from, from))
	}
	for _, r := range ev {
		line := fmt.Sprintf("`%s` %s", r.App, generator.ShortImage(r.Image))
		if r.Commit != "" {
			line += fmt.Sprintf(" (%s@%.12s)", r.Repo, r.Commit)
		}
		if r.CIRun != "" {
			line += ", built by " + r.CIRun
		}
		switch {
		case r.Problem != "":
			line += ": no evidence: " + r.Problem
			if soak > 0 {
				c.Reasons = append(c.Reasons, fmt.Sprintf("%s %s: the soak in %s cannot be checked: %s", r.App, generator.ShortImage(r.Image), from, r.Problem))
			}
		case r.Since.IsZero():
			line += fmt.Sprintf(": no successful deployment in %s on %s", from, r.Repo)
			if soak > 0 {
				c.Reasons = append(c.Reasons, fmt.Sprintf("%s %s has not run successfully in %s (no success on %s's deployments)", r.App, generator.ShortImage(r.Image), from, r.Repo))
			}
		case r.Failed:
			line += fmt.Sprintf(": healthy in %s from %s, failed at %s", from, stamp(r.Since), stamp(r.Until))
			if !gated {
				break
			}
			c.Reasons = append(c.Reasons, fmt.Sprintf("%s %s failed in %s at %s", r.App, generator.ShortImage(r.Image), from, stamp(r.Until)))
		default:
			end := now
			if !r.Until.IsZero() {
				end = r.Until
			}
			ran := max(end.Sub(r.Since).Truncate(time.Second), 0)
			line += fmt.Sprintf(": healthy in %s since %s (%s)", from, stamp(r.Since), ran)
			if !r.Until.IsZero() {
				line += ", replaced at " + stamp(r.Until)
			}
			if r.URL != "" {
				line += ", " + r.URL
			}
			if soak > 0 && ran < soak {
				left := soak - ran
				c.Reasons = append(c.Reasons, fmt.Sprintf("%s %s has soaked %s of %s in %s: %s left", r.App, generator.ShortImage(r.Image), ran, soak, from, left.Truncate(time.Second)))
				if r.Until.IsZero() && left > c.Wait {
					c.Wait = left
				}
			}
		}
		c.Evidence = append(c.Evidence, line)
	}
	if g != nil {
		for _, f := range g.Freeze {
			if active, ends := f.Active(now); active {
				reason := fmt.Sprintf("%s is frozen until %s", to, stamp(ends))
				if f.Reason != "" {
					reason += " (" + f.Reason + ")"
				}
				c.Reasons = append(c.Reasons, reason)
				if w := ends.Sub(now); w > c.Wait {
					c.Wait = w
				}
			}
		}
	}
	c.Pass = len(c.Reasons) == 0 || force || (g != nil && g.Warn)
	c.Warned = len(c.Reasons) > 0 && c.Pass
	return c, nil
}

// maxListed bounds the evidence and reasons a body lists.
const maxListed = 30

// Describe is the gates' part of a pull request's body.
func (c GateCheck) Describe(force bool) string {
	if len(c.Evidence) == 0 && len(c.Reasons) == 0 {
		return "" // no gates, nothing read
	}
	var b strings.Builder
	b.WriteString("### Evidence\n\n")
	list(&b, c.Evidence)
	switch {
	case len(c.Reasons) == 0:
		b.WriteString("\nEvery gate holds.\n")
	case force:
		b.WriteString("\n**Forced** past the gates (`--force`), which did not hold:\n")
	case c.Pass:
		b.WriteString("\nThe gates only warn; they did not hold:\n")
	default:
		b.WriteString("\nThe gates do not hold yet:\n")
	}
	list(&b, c.Reasons)
	return b.String()
}

func list(b *strings.Builder, lines []string) {
	for i, l := range lines {
		if i == maxListed {
			fmt.Fprintf(b, "- … and %d more\n", len(lines)-maxListed)
			break
		}
		b.WriteString("- " + l + "\n")
	}
}

// GateError refuses a promotion whose gates do not hold.
type GateError struct {
	To    string
	Check GateCheck
}

func (e *GateError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the gates of %s do not hold:\n", e.To)
	list(&b, e.Check.Reasons)
	if e.Check.Wait > 0 {
		fmt.Fprintf(&b, "try again in %s, ", e.Check.Wait.Round(time.Second))
	} else {
		b.WriteString("fix the release where it runs, ")
	}
	b.WriteString("or open the pull request now with --pending (its plattr/promotion status stays pending until plattr-gen gates finds the gates hold), or pass them with --force (recorded in the pull request and the commit)")
	return b.String()
}

// Status is the commit status plattr/promotion says: state and description
// (at most 140 characters, as GitHub takes).
func (c GateCheck) Status(force bool) (string, string) {
	state, desc := "success", "every gate holds"
	if len(c.Evidence) == 0 && len(c.Reasons) == 0 {
		desc = "no gates"
	}
	switch {
	case force && len(c.Reasons) > 0:
		desc = "forced past the gates: " + c.Reasons[0]
	case c.Warned:
		desc = "warning: " + c.Reasons[0]
	case !c.Pass:
		state, desc = "pending", c.Reasons[0]
	}
	if len(desc) > 140 {
		desc = desc[:137] + "..."
	}
	return state, desc
}

// StatusContext is the commit status of promotion pull requests, which branch
// protection can require.
const StatusContext = "plattr/promotion"

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
