package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator/controller"
)

// dashboard is what the test reads of a Grafana dashboard.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
	} `json:"panels"`
}

// The dashboard in bases/prometheus parses, every panel queries the data
// source the user picks, and every query (and variable) names only metrics the
// real operator serves: those its endpoint returned here, and Plattr's own,
// which a fresh operator may not have counted yet.
func TestDashboard_QueriesNameExportedMetrics(t *testing.T) {
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(root, "bases", "prometheus", "dashboard.json"))
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(raw, &d), "bases/prometheus/dashboard.json")
	require.NotEmpty(t, d.Title)
	require.NotEmpty(t, d.UID)

	exported := exportedNames(startOperator(t).metrics(t))
	for _, n := range controller.MetricNames() {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			exported[n+suffix] = true
		}
	}
	check := func(where, expr string) {
		names := metricNames(expr)
		assert.NotEmpty(t, names, "%s: %q names no metric", where, expr)
		for _, n := range names {
			assert.True(t, exported[n], "%s: %q names %s, which the operator does not export", where, expr, n)
		}
	}
	queries := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if assert.NotNil(t, p.Datasource, "panel %q has no data source", p.Title) {
			assert.Equal(t, "${datasource}", p.Datasource.UID, "panel %q", p.Title)
		}
		assert.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		refs := map[string]bool{}
		for _, q := range p.Targets {
			assert.False(t, refs[q.RefID], "panel %q repeats refId %s", p.Title, q.RefID)
			refs[q.RefID] = true
			check("panel "+p.Title, q.Expr)
			queries++
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			check("variable "+v.Name, v.Definition)
		}
	}
	assert.GreaterOrEqual(t, queries, 10)
	// Each of Plattr's metrics has a panel.
	for _, n := range controller.MetricNames() {
		assert.Contains(t, string(raw), n, "no panel shows %s", n)
	}
}

// exportedNames are the series names in a Prometheus text exposition,
// histograms' _bucket, _sum and _count included.
func exportedNames(exposition string) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "and": true,
		"or": true, "unless": true, "bool": true, "offset": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
)

// metricNames are the metric names a PromQL expression (or Grafana's
// label_values(metric, label)) selects: what is left once strings, label
// matchers, ranges and groupings are removed, without function names.
func metricNames(expr string) []string {
	if strings.HasPrefix(expr, "label_values(") {
		inner := strings.TrimSuffix(strings.TrimPrefix(expr, "label_values("), ")")
		metric, _, _ := strings.Cut(inner, ",")
		expr = metric
	}
	s := promStrings.ReplaceAllString(expr, "")
	s = promMatchers.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, m := range promIdent.FindAllStringSubmatch(s, -1) {
		if m[1] != "" || promKeywords[strings.ToLower(m[0])] {
			continue // a function, or a keyword
		}
		names = append(names, m[0])
	}
	return names
}

// The extraction itself, on expressions whose answer is known.
func TestMetricNames(t *testing.T) {
	assert.Equal(t, []string{"plattr_service_provision_duration_seconds_bucket"},
		metricNames(`histogram_quantile(0.95, sum by (service, le) (rate(plattr_service_provision_duration_seconds_bucket{a="b"}[5m])))`))
	assert.Equal(t, []string{"a_total", "b"}, metricNames(`sum(rate(a_total{x=~"$y"}[5m])) / on (pod) group_left(node) b or vector(0)`))
	assert.Equal(t, []string{"plattr_applications"}, metricNames(`label_values(plattr_applications, environment)`))
	assert.Empty(t, metricNames(`vector(1)`))
}
