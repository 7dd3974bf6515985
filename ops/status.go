package ops

import (
	"fmt"
	"strings"

	"github.com/plattr/plattr/generator"
)

// Waiting is an open promotion pull request: what it would release where.
type Waiting struct {
	PR    int      `json:"pullRequest"`
	URL   string   `json:"url"`
	From  string   `json:"from"`
	To    string   `json:"to"`
	Apps  []string `json:"apps"`
	State string   `json:"state,omitempty"` // its plattr/promotion status, when set
}

// Matrix is what runs where: the current release of each app in each
// environment, and the promotions waiting.
type Matrix struct {
	Envs    []string  `json:"environments"`
	Current []Release `json:"releases"`
	Waiting []Waiting `json:"waiting"`
}

func (r Release) how() string {
	by := ""
	if r.By != "" {
		by = " by " + r.By
	}
	switch {
	case r.PR != 0:
		return fmt.Sprintf("%s: PR #%d merged%s", r.Kind, r.PR, by)
	case r.Kind == KindRender && r.CIRun != "":
		return fmt.Sprintf("render %.8s (%s)", r.Commit, r.CIRun)
	}
	return fmt.Sprintf("%s %.8s%s", r.Kind, r.Commit, by)
}

func (r Release) source() string {
	if r.SourceCommit == "" {
		return "—"
	}
	return fmt.Sprintf("%s@%.8s", r.SourceRepo, r.SourceCommit)
}

// Text is the matrix as a table for people.
func (m Matrix) Text() string {
	var b strings.Builder
	rows := [][]string{{"APP", "ENV", "IMAGE", "SOURCE", "RELEASED", "HOW"}}
	for _, r := range m.Current {
		rows = append(rows, []string{r.App, r.Env, generator.ShortImage(r.Image), r.source(), stamp(r.At), r.how()})
	}
	writeTable(&b, rows)
	if len(m.Waiting) > 0 {
		b.WriteString("\nwaiting:\n")
		for _, w := range m.Waiting {
			fmt.Fprintf(&b, "  PR #%d %s → %s: %s%s\n", w.PR, w.From, w.To, strings.Join(w.Apps, ", "), state(w.State))
		}
	}
	return b.String()
}

func state(s string) string {
	if s == "" {
		return ""
	}
	return " (" + StatusContext + " " + s + ")"
}

// Markdown is the matrix for RELEASES.md or a step summary: one row per app,
// one column per environment.
func (m Matrix) Markdown() string {
	var b strings.Builder
	b.WriteString("# Releases\n\n| app |")
	for _, e := range m.Envs {
		b.WriteString(" " + e + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(m.Envs)) + "\n")
	cells := map[string]map[string]Release{}
	var apps []string
	for _, r := range m.Current {
		if cells[r.App] == nil {
			cells[r.App] = map[string]Release{}
			apps = append(apps, r.App)
		}
		cells[r.App][r.Env] = r
	}
	for _, a := range apps {
		b.WriteString("| " + MarkdownCell(a) + " |")
		for _, e := range m.Envs {
			r, ok := cells[a][e]
			if !ok {
				b.WriteString(" — |")
				continue
			}
			fmt.Fprintf(&b, " `%s`<br>%s<br>%s<br>%s |", generator.ShortImage(r.Image), MarkdownCell(r.source()), stamp(r.At), MarkdownCell(r.how()))
		}
		b.WriteString("\n")
	}
	if len(m.Waiting) > 0 {
		b.WriteString("\n## Waiting\n\n")
		for _, w := range m.Waiting {
			fmt.Fprintf(&b, "- [#%d](%s) %s → %s: %s%s\n", w.PR, w.URL, w.From, w.To, strings.Join(w.Apps, ", "), state(w.State))
		}
	}
	return b.String()
}

// MarkdownCell keeps text inside a Markdown table cell: no pipe, line break or
// markup of its own.
func MarkdownCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "\r", " ", "<", "&lt;").Replace(s)
}
