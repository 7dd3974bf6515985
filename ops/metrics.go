package ops

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// DefaultFailureWindow is how soon after a production release a rollback or
// another release marks it as failed.
const DefaultFailureWindow = time.Hour

// Metrics are the four DORA metrics of a period, read from the env repo's
// history (see docs/metrics.md for each definition).
type Metrics struct {
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until"`
	Production string    `json:"production"`
	// FailureWindow: a production release followed by a rollback, or within
	// it by another release (a fix forward), failed.
	FailureWindow string       `json:"failureWindow"`
	Overall       AppMetrics   `json:"overall"`
	Apps          []AppMetrics `json:"apps"`
}

// AppMetrics are the metrics of one app (App "" for all of them).
type AppMetrics struct {
	App string `json:"app,omitempty"`
	// Deployments counts releases per environment in the period, PerDay the
	// same per day.
	Deployments map[string]int     `json:"deployments"`
	PerDay      map[string]float64 `json:"deploymentsPerDay"`
	// LeadTime is the median time from source commit to production, over
	// LeadTimes releases whose source time is known.
	LeadTime  Duration `json:"leadTimeMedian"`
	LeadTimes int      `json:"leadTimeReleases"`
	// ProductionReleases in the period; Failed of them; ChangeFailureRate is
	// their ratio (0 when there were none).
	ProductionReleases int     `json:"productionReleases"`
	Failed             int     `json:"failedReleases"`
	ChangeFailureRate  float64 `json:"changeFailureRate"`
	// TimeToRestore is the median time from a failed release to the release
	// that followed it.
	TimeToRestore Duration `json:"timeToRestoreMedian"`
}

// Duration prints as Go's duration in JSON, rounded to seconds; 0 is "".
type Duration time.Duration

// String is the duration rounded to the second ("—" for none).
func (d Duration) String() string {
	if d == 0 {
		return "—"
	}
	return time.Duration(d).Round(time.Second).String()
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	if d == 0 {
		return []byte(""), nil
	}
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// ComputeMetrics computes the metrics of releases (every app and
// environment; within each, newest first as Releases gives them) in [since,
// until]; production is the production environment.
func ComputeMetrics(releases []Release, envs []string, production string, since, until time.Time, window time.Duration) Metrics {
	m := Metrics{Since: since.UTC(), Until: until.UTC(), Production: production, FailureWindow: Duration(window).String()}
	byApp := map[string][]Release{}
	for _, r := range releases {
		byApp[r.App] = append(byApp[r.App], r)
	}
	apps := make([]string, 0, len(byApp))
	for a := range byApp {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	var all appTally
	for _, a := range apps {
		t := tally(byApp[a], production, since, until, window)
		m.Apps = append(m.Apps, t.metrics(a, envs, since, until))
		all.add(t)
	}
	m.Overall = all.metrics("", envs, since, until)
	return m
}

type appTally struct {
	deployments               map[string]int
	leadTimes, restores       []time.Duration
	productionReleases, fails int
}

func (t *appTally) add(o appTally) {
	if t.deployments == nil {
		t.deployments = map[string]int{}
	}
	for e, n := range o.deployments {
		t.deployments[e] += n
	}
	t.leadTimes = append(t.leadTimes, o.leadTimes...)
	t.restores = append(t.restores, o.restores...)
	t.productionReleases += o.productionReleases
	t.fails += o.fails
}

func tally(rs []Release, production string, since, until time.Time, window time.Duration) appTally {
	t := appTally{deployments: map[string]int{}}
	in := func(r Release) bool { return !r.At.Before(since) && !r.At.After(until) }
	var prod []Release
	for _, r := range rs {
		if in(r) {
			t.deployments[r.Env]++
		}
		if r.Env == production {
			prod = append(prod, r)
		}
	}
	// Oldest first, in the history's order (newest first as read): times
	// are people's clocks, the order is the graph's.
	slices.Reverse(prod)
	for i, r := range prod {
		if !in(r) {
			continue
		}
		if r.Kind == KindRollback {
			continue // a deployment, but a change of no new code
		}
		t.productionReleases++
		if !r.SourceTime.IsZero() {
			t.leadTimes = append(t.leadTimes, r.At.Sub(r.SourceTime))
		}
		if i+1 < len(prod) {
			next := prod[i+1]
			if gap := max(next.At.Sub(r.At), 0); next.Kind == KindRollback || gap <= window {
				t.fails++
				t.restores = append(t.restores, gap)
			}
		}
	}
	return t
}

func (t appTally) metrics(app string, envs []string, since, until time.Time) AppMetrics {
	days := until.Sub(since).Hours() / 24
	m := AppMetrics{App: app, Deployments: map[string]int{}, PerDay: map[string]float64{},
		LeadTime: median(t.leadTimes), LeadTimes: len(t.leadTimes), ProductionReleases: t.productionReleases,
		Failed: t.fails, TimeToRestore: median(t.restores)}
	for _, e := range envs {
		m.Deployments[e] = t.deployments[e]
		if days > 0 {
			m.PerDay[e] = float64(t.deployments[e]) / days
		}
	}
	if t.productionReleases > 0 {
		m.ChangeFailureRate = float64(t.fails) / float64(t.productionReleases)
	}
	return m
}

func median(ds []time.Duration) Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return Duration(s[len(s)/2])
	}
	return Duration((s[len(s)/2-1] + s[len(s)/2]) / 2)
}

// Text is the metrics as a table for people.
func (m Metrics) Text(envs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "DORA metrics from %s to %s (production: %s; failure window %s)\n\n",
		m.Since.Format("2006-01-02 15:04"), m.Until.Format("2006-01-02 15:04 UTC"), m.Production, m.FailureWindow)
	header := []string{"APP"}
	for _, e := range envs {
		header = append(header, "DEPLOYS "+strings.ToUpper(e))
	}
	header = append(header, "LEAD TIME", "CHANGE FAILURE", "TIME TO RESTORE")
	rows := [][]string{header}
	for _, a := range append(slices.Clone(m.Apps), m.Overall) {
		name := a.App
		if name == "" {
			name = "(all)"
		}
		row := []string{name}
		for _, e := range envs {
			row = append(row, fmt.Sprintf("%d (%.2f/day)", a.Deployments[e], a.PerDay[e]))
		}
		cfr := "—"
		if a.ProductionReleases > 0 {
			cfr = fmt.Sprintf("%.0f%% (%d of %d)", 100*a.ChangeFailureRate, a.Failed, a.ProductionReleases)
		}
		row = append(row, a.LeadTime.String(), cfr, a.TimeToRestore.String())
		rows = append(rows, row)
	}
	writeTable(&b, rows)
	return b.String()
}

// writeTable writes rows as columns separated by two spaces.
func writeTable(b *strings.Builder, rows [][]string) {
	var width []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", width[i]-len([]rune(c))+2))
		}
		b.WriteString("\n")
	}
}
