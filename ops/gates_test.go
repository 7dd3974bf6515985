package ops

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
)

// gated is an env repo whose uat asks for soak and has freeze windows.
func gated(t *testing.T, gates string) (envfiles.MapTree, *generator.Config) {
	t.Helper()
	tree := envRepo(t)
	tree[generator.ConfigFile] = withGates(t, tree[generator.ConfigFile], gates)
	tree[generator.ConfigFile] = []byte(strings.Replace(string(tree[generator.ConfigFile]), "- name: staging\n", "- name: staging\n  deployer: plattr-acme[bot]\n", 1))
	c, err := generator.ReadConfig(tree)
	require.NoError(t, err, string(tree[generator.ConfigFile]))
	return tree, c
}

// withGates gives uat the gates (YAML under "gates:", indented by six).
func withGates(t *testing.T, cfg []byte, gates string) []byte {
	t.Helper()
	const uat = "- name: uat\n"
	require.Contains(t, string(cfg), uat)
	gates = strings.ReplaceAll("\n"+gates, "\n      ", "\n    ")[1:]
	return []byte(strings.Replace(string(cfg), uat, uat+"  gates:\n"+gates, 1))
}

var (
	t0       = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC) // a Friday
	imageA   = "r.example.com/hello@" + digestA
	evidence = func(since, until time.Time, failed bool) []Evidence {
		return []Evidence{{App: "hello", Image: imageA, Repo: "acme/hello", Commit: strings.Repeat("c", 40),
			CIRun: "https://github.com/acme/hello/actions/runs/7", Since: since, Until: until, Failed: failed, URL: "https://hello.staging.example.com"}}
	}
)

func TestCheckGates_Soak(t *testing.T) {
	_, cfg := gated(t, "      soak: 2h\n")
	c, err := CheckGates(cfg, "staging", "uat", evidence(t0.Add(-30*time.Minute), time.Time{}, false), t0, false)
	require.NoError(t, err)
	assert.False(t, c.Pass)
	assert.Equal(t, []string{"hello sha256:0123456789ab has soaked 30m0s of 2h0m0s in staging: 1h30m0s left"}, c.Reasons)
	assert.Equal(t, 90*time.Minute, c.Wait)
	assert.Equal(t, []string{"`hello` sha256:0123456789ab (acme/hello@cccccccccccc), built by https://github.com/acme/hello/actions/runs/7: " +
		"healthy in staging since 2026-12-04 09:30 UTC (30m0s), https://hello.staging.example.com"}, c.Evidence)
	state, desc := c.Status(false)
	assert.Equal(t, "pending", state)
	assert.Equal(t, c.Reasons[0], desc)

	c, err = CheckGates(cfg, "staging", "uat", evidence(t0.Add(-2*time.Hour), time.Time{}, false), t0, false)
	require.NoError(t, err)
	assert.True(t, c.Pass)
	assert.False(t, c.Warned)
	state, desc = c.Status(false)
	assert.Equal(t, "success", state)
	assert.Equal(t, "every gate holds", desc)
	assert.Contains(t, c.Describe(false), "Every gate holds.")

	// Replaced in staging after an hour: the hour counts, waiting cannot help.
	c, err = CheckGates(cfg, "staging", "uat", evidence(t0.Add(-3*time.Hour), t0.Add(-2*time.Hour), false), t0, false)
	require.NoError(t, err)
	assert.False(t, c.Pass)
	assert.Equal(t, time.Duration(0), c.Wait)
	assert.Contains(t, c.Evidence[0], "replaced at 2026-12-04 08:00 UTC")

	c, err = CheckGates(cfg, "staging", "uat", evidence(t0.Add(-3*time.Hour), t0.Add(-time.Hour), true), t0, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"hello sha256:0123456789ab failed in staging at 2026-12-04 09:00 UTC"}, c.Reasons)

	c, err = CheckGates(cfg, "staging", "uat", evidence(time.Time{}, time.Time{}, false), t0, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"hello sha256:0123456789ab has not run successfully in staging (no success on acme/hello's deployments)"}, c.Reasons)

	noSource := []Evidence{{App: "hello", Image: imageA, Problem: "GitHub is not configured"}}
	c, err = CheckGates(cfg, "staging", "uat", noSource, t0, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"hello sha256:0123456789ab: the soak in staging cannot be checked: GitHub is not configured"}, c.Reasons)

	// Forced: passes, and says so.
	c, err = CheckGates(cfg, "staging", "uat", evidence(t0.Add(-time.Minute), time.Time{}, false), t0, true)
	require.NoError(t, err)
	assert.True(t, c.Pass)
	state, desc = c.Status(true)
	assert.Equal(t, "success", state)
	assert.True(t, strings.HasPrefix(desc, "forced past the gates: hello"), desc)
	assert.Contains(t, c.Describe(true), "**Forced** past the gates (`--force`)")
}

// An environment without gates passes anything; a failure where it came from
// is evidence, not a reason.
func TestCheckGates_NoGates(t *testing.T) {
	cfg, err := generator.ReadConfig(envRepo(t))
	require.NoError(t, err)
	c, err := CheckGates(cfg, "staging", "uat", evidence(t0.Add(-time.Hour), t0, true), t0, false)
	require.NoError(t, err)
	assert.True(t, c.Pass)
	assert.Empty(t, c.Reasons)
	_, err = CheckGates(cfg, "staging", "nowhere", nil, t0, false)
	assert.Error(t, err)
}

// Freeze windows in their own time zone: Friday 18:00 in Berlin for 63 hours.
func TestCheckGates_Freeze(t *testing.T) {
	_, cfg := gated(t, "      freeze:\n      - start: \"0 18 * * FRI\"\n        duration: 63h\n        timeZone: Europe/Berlin\n        reason: weekend\n")
	ev := evidence(t0.Add(-48*time.Hour), time.Time{}, false)
	for _, tc := range []struct {
		at   time.Time
		open bool
		ends string
	}{
		{time.Date(2026, 12, 4, 16, 59, 0, 0, time.UTC), true, ""},                      // 17:59 in Berlin
		{time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC), false, "2026-12-07 08:00 UTC"},  // 18:00 in Berlin
		{time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), false, "2026-12-07 08:00 UTC"},  // Sunday
		{time.Date(2026, 12, 7, 7, 59, 59, 0, time.UTC), false, "2026-12-07 08:00 UTC"}, // Monday 08:59:59 in Berlin
		{time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC), true, ""},                        // Monday 09:00 in Berlin
		{time.Date(2026, 7, 3, 16, 0, 0, 0, time.UTC), false, "2026-07-06 07:00 UTC"},   // summer: 18:00 CEST
	} {
		c, err := CheckGates(cfg, "staging", "uat", ev, tc.at, false)
		require.NoError(t, err)
		assert.Equal(t, tc.open, c.Pass, "%s", tc.at)
		if !tc.open {
			assert.Equal(t, []string{"uat is frozen until " + tc.ends + " (weekend)"}, c.Reasons, "%s", tc.at)
			assert.Positive(t, c.Wait)
		}
	}
}

func TestCheckGates_Warn(t *testing.T) {
	_, cfg := gated(t, "      soak: 1d\n      warn: true\n")
	c, err := CheckGates(cfg, "staging", "uat", evidence(t0.Add(-time.Hour), time.Time{}, false), t0, false)
	require.NoError(t, err)
	assert.True(t, c.Pass)
	assert.True(t, c.Warned)
	state, desc := c.Status(false)
	assert.Equal(t, "success", state)
	assert.Equal(t, "warning: hello sha256:0123456789ab has soaked 1h0m0s of 24h0m0s in staging: 23h0m0s left", desc)
	assert.Contains(t, c.Describe(false), "The gates only warn")
}

// Mistakes in the gates are refused naming the field.
func TestGates_Validation(t *testing.T) {
	for gates, want := range map[string]string{
		"      soak: 2 hours\n": `environments[1].gates.soak: "2 hours" is not a duration such as 30m, 2h or 1d`,
		"      soak: -1h\n":     `environments[1].gates.soak: "-1h" is not a duration`,
		"      freeze:\n      - start: \"every friday\"\n        duration: 1h\n":                                 `environments[1].gates.freeze[0]: start: "every friday" is not a cron schedule`,
		"      freeze:\n      - start: \"0 18 * * FRI\"\n        duration: 0s\n":                                 `environments[1].gates.freeze[0].duration: "0s" is not a duration`,
		"      freeze:\n      - start: \"0 18 * * FRI\"\n        duration: 1h\n        timeZone: Mars/Olympus\n": `environments[1].gates.freeze[0]: timeZone: "Mars/Olympus" is not a time zone`,
		"      freeze:\n      - start: \"TZ=UTC 0 18 * * FRI\"\n        duration: 1h\n":                          `give the time zone in timeZone`,
		"      freeze:\n      - start: \"0 18 * * FRI\"\n        duration: 1h\n        reason: \"a\\nb\"\n":      `environments[1].gates.freeze[0].reason: one line`,
	} {
		tree := envRepo(t)
		tree[generator.ConfigFile] = withGates(t, tree[generator.ConfigFile], gates)
		_, err := generator.ReadConfig(tree)
		assert.ErrorContains(t, err, want, gates)
	}
}

// A promotion whose gates do not hold is refused before anything is written,
// with the time left; --pending opens it anyway, --force passes and records it.
func TestPromote_Gates(t *testing.T) {
	tree, cfg := gated(t, "      soak: 2h\n")
	r, err := release(t, "hello", digestA, "staging", 0, generator.Source{Repo: "acme/hello", Commit: strings.Repeat("c", 40)}).Plan(tree)
	require.NoError(t, err)
	apply(tree, r.Plan)
	var seen []Evidence
	check := func(_ *generator.Config, changes []ReleaseChange) (GateCheck, error) {
		seen = nil
		for _, c := range changes {
			e := EvidenceOf(c.App, c.New)
			e.Since = t0.Add(-30 * time.Minute)
			seen = append(seen, e)
		}
		return CheckGates(cfg, "staging", "uat", seen, t0, false)
	}
	op := Promote{App: "hello", From: "staging", To: "uat", Gates: check}
	_, err = op.Plan(tree)
	var ge *GateError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "the gates of uat do not hold:\n- hello sha256:0123456789ab has soaked 30m0s of 2h0m0s in staging: 1h30m0s left\n"+
		"try again in 1h30m0s, or open the pull request now with --pending (its plattr/promotion status stays pending until plattr-gen gates finds the gates hold), "+
		"or pass them with --force (recorded in the pull request and the commit)", err.Error())
	require.Len(t, seen, 1)
	assert.Equal(t, "acme/hello", seen[0].Repo, "the evidence names the release's source")
	assert.Equal(t, imageA, seen[0].Image)

	op.Pending = true
	plan, err := op.Plan(tree)
	require.NoError(t, err)
	require.NotNil(t, plan.Gates)
	assert.False(t, plan.Gates.Pass)
	assert.NotContains(t, plan.Message.String(), TrailerForced)
	assert.Contains(t, op.Proposal(plan).Body, "The gates do not hold yet:\n- hello sha256:0123456789ab has soaked 30m0s")

	forced := Promote{App: "hello", From: "staging", To: "uat", Force: true, Gates: func(cfg *generator.Config, c []ReleaseChange) (GateCheck, error) {
		g, err := check(cfg, c)
		if err != nil {
			return g, err
		}
		return CheckGates(cfg, "staging", "uat", seen, t0, true)
	}}
	plan, err = forced.Plan(tree)
	require.NoError(t, err)
	msg := plan.Message.String()
	assert.Contains(t, msg, "Forced past the gates, which did not hold:\n- hello sha256:0123456789ab has soaked 30m0s")
	assert.Equal(t, "1 gate(s) did not hold", ParseTrailers(msg)[TrailerForced])
	assert.Equal(t, "staging -> uat", ParseTrailers(msg)[TrailerPromotion])
	assert.Contains(t, forced.Proposal(plan).Body, "**Forced** past the gates")

	failing := Promote{App: "hello", From: "staging", To: "uat", Gates: func(*generator.Config, []ReleaseChange) (GateCheck, error) {
		return GateCheck{}, errors.New("boom")
	}}
	_, err = failing.Plan(tree)
	assert.EqualError(t, err, "boom")
}

// Without a deployer for the environment before, a soak cannot be shown.
func TestCheckGates_SoakNeedsADeployer(t *testing.T) {
	tree := envRepo(t)
	tree[generator.ConfigFile] = withGates(t, tree[generator.ConfigFile], "      soak: 1h\n")
	cfg, err := generator.ReadConfig(tree)
	require.NoError(t, err)
	c, err := CheckGates(cfg, "staging", "uat", evidence(t0.Add(-2*time.Hour), time.Time{}, false), t0, false)
	require.NoError(t, err)
	assert.False(t, c.Pass)
	assert.Equal(t, []string{"the soak in staging cannot be checked: staging sets no deployer (environments[].deployer: the GitHub login that records its deployments)"}, c.Reasons)
}

func TestEvidenceOf(t *testing.T) {
	tree := envRepo(t)
	r, err := release(t, "hello", digestA, "staging", 0, generator.Source{}).Plan(tree)
	require.NoError(t, err)
	e := EvidenceOf("hello", r.Files["envs/staging/hello/release.yaml"])
	assert.Equal(t, imageA, e.Image)
	assert.Equal(t, "its release.yaml names no source (plattr-gen render --source-repo, --source-commit)", e.Problem)
	assert.Equal(t, "its release.yaml does not parse", EvidenceOf("hello", []byte("{")).Problem)
}

func TestParseTrailers(t *testing.T) {
	assert.Equal(t, map[string]string{"Plattr-App": "hello", "Plattr-Environment": "uat"},
		ParseTrailers("subject\n\nbody: not a trailer paragraph\nreally\n\nPlattr-App: hello\nPlattr-Environment: uat\nPlattr-App: again\n"))
	assert.Nil(t, ParseTrailers("subject only: with a colon\n"))
	assert.Nil(t, ParseTrailers("subject\n\nMerge pull request #3 from acme/x\n"))
}

func TestDeployer_Validation(t *testing.T) {
	for deployer, ok := range map[string]bool{"plattr-acme[bot]": true, "octocat": true, "evil\nPlattr-Forced: x": false, "a b": false, "-x": false} {
		tree := envRepo(t)
		tree[generator.ConfigFile] = []byte(strings.Replace(string(tree[generator.ConfigFile]), "- name: staging\n", "- name: staging\n  deployer: "+strconv.Quote(deployer)+"\n", 1))
		_, err := generator.ReadConfig(tree)
		if ok {
			assert.NoError(t, err, deployer)
		} else {
			assert.ErrorContains(t, err, "environments[0].deployer: ", deployer)
		}
	}
}

// Overlapping windows (longer than their period) freeze until the last one
// closes; the machine's local time zone is refused.
func TestFreeze_Overlapping(t *testing.T) {
	f := generator.Freeze{Start: "0 * * * *", Duration: "90m"}
	active, ends := f.Active(time.Date(2026, 12, 4, 10, 15, 0, 0, time.UTC))
	assert.True(t, active)
	assert.Equal(t, time.Date(2026, 12, 4, 11, 30, 0, 0, time.UTC), ends, "the 10:00 window closes last")
	tree := envRepo(t)
	tree[generator.ConfigFile] = withGates(t, tree[generator.ConfigFile], "      freeze:\n      - start: \"0 18 * * FRI\"\n        duration: 1h\n        timeZone: Local\n")
	_, err := generator.ReadConfig(tree)
	assert.ErrorContains(t, err, `timeZone: "Local" is not a time zone`)
}
