package plattrgen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakegithub"
	"github.com/plattr/plattr/internal/gittest"
	"github.com/plattr/plattr/ops"
)

// history scripts an env repo's history with fixed times: renders as CI
// commits them and pull requests merged as GitHub merges them.
type history struct {
	t        *testing.T
	work     string
	template string // hello's release.yaml of image and source "0"
}

func newHistory(t *testing.T) (*history, string) {
	repo := newEnvRepo(t)
	t.Setenv("GIT_COMMITTER_DATE", "2026-10-01T00:00:00Z")
	renderApp(t, repo, "staging", "0")
	h := &history{t: t, work: gittest.Clone(t, repo)}
	data, err := os.ReadFile(filepath.Join(h.work, "envs/staging/hello/release.yaml"))
	require.NoError(t, err)
	h.template = string(data)
	// The render above (at the real time) is the oldest commit: the script
	// goes on from it with times of its own.
	return h, repo
}

func (h *history) release(app, letter string) string {
	s := strings.ReplaceAll(h.template, strings.Repeat("0", 64), strings.Repeat(letter, 64))
	s = strings.ReplaceAll(s, strings.Repeat("0", 40), strings.Repeat(letter, 40))
	return strings.ReplaceAll(s, "hello", app)
}

func (h *history) write(env, app, letter string) {
	p := filepath.Join(h.work, "envs", env, app, "release.yaml")
	require.NoError(h.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(h.t, os.WriteFile(p, []byte(h.release(app, letter)), 0o644))
	gittest.Git(h.t, h.work, "add", "-A")
}

func (h *history) commit(when, author, message string) {
	h.t.Setenv("GIT_COMMITTER_DATE", when)
	gittest.Git(h.t, h.work, "commit", "-q", "--allow-empty", "--date", when, "--author", author+" <"+author+"@example.com>", "-m", message)
}

// render commits a release as plattr-gen render does, with its trailers.
func (h *history) render(env, app, letter, when, sourceTime string) {
	h.write(env, app, letter)
	img := "ghcr.io/acme/" + app + "@sha256:" + strings.Repeat(letter, 64)
	h.commit(when, "plattr-bot", fmt.Sprintf("%s: deploy sha256:%s to %s\n\nPlattr-App: %s\nPlattr-Environment: %s\nPlattr-Image: %s\n"+
		"Plattr-Source-Repo: acme/%s\nPlattr-Source-Commit: %s\nPlattr-Source-Time: %s\nPlattr-CI-Run: https://github.com/acme/%s/actions/runs/%s\n",
		app, strings.Repeat(letter, 12), env, app, env, img, app, strings.Repeat(letter, 40), sourceTime, app, letter))
}

// merge merges a pull request's branch (one commit writing the release) at
// when, merged by.
func (h *history) merge(pr int, kind, env, app, letter, when, by string) {
	branch := fmt.Sprintf("plattr/%s-%s-%s", kind, env, app)
	gittest.Git(h.t, h.work, "checkout", "-q", "-b", branch)
	h.write(env, app, letter)
	trailer := "Plattr-Promotion: x -> " + env
	if kind == "rollback" {
		trailer = "Plattr-Rollback-To: 0123456"
	}
	h.commit(when, "plattr-bot", fmt.Sprintf("%s: %s %s\n\nPlattr-App: %s\n%s\n", app, kind, env, app, trailer))
	gittest.Git(h.t, h.work, "checkout", "-q", "main")
	gittest.Git(h.t, h.work, "merge", "-q", "--no-ff", "--no-commit", branch)
	h.commit(when, by, fmt.Sprintf("Merge pull request #%d from acme/%s\n\n%s", pr, branch, kind))
	gittest.Git(h.t, h.work, "branch", "-q", "-D", branch)
}

func (h *history) push() { gittest.Git(h.t, h.work, "push", "-q", "origin", "main") }

// hello: a and b reach prod; b is rolled back; c is fixed forward by d within
// the hour. shop never reaches prod.
func scriptedHistory(t *testing.T) string {
	h, repo := newHistory(t)
	h.render("staging", "hello", "a", "2026-11-01T09:00:00Z", "2026-11-01T08:00:00Z")
	h.merge(1, "promote", "uat", "hello", "a", "2026-11-01T12:00:00Z", "alice")
	h.merge(2, "promote", "prod", "hello", "a", "2026-11-02T10:00:00Z", "bob")
	h.render("staging", "shop", "e", "2026-11-02T09:00:00Z", "2026-11-02T08:30:00Z")
	h.merge(3, "promote", "uat", "shop", "e", "2026-11-02T10:00:00Z", "alice")
	h.render("staging", "hello", "b", "2026-11-03T09:00:00Z", "2026-11-03T07:00:00Z")
	h.merge(4, "promote", "uat", "hello", "b", "2026-11-03T11:00:00Z", "alice")
	h.merge(5, "promote", "prod", "hello", "b", "2026-11-04T10:00:00Z", "bob")
	h.merge(6, "rollback", "prod", "hello", "a", "2026-11-04T10:30:00Z", "carol")
	h.render("staging", "hello", "c", "2026-11-05T09:00:00Z", "2026-11-05T08:00:00Z")
	h.merge(7, "promote", "uat", "hello", "c", "2026-11-05T10:00:00Z", "alice")
	h.merge(8, "promote", "prod", "hello", "c", "2026-11-05T12:00:00Z", "bob")
	h.render("staging", "hello", "d", "2026-11-05T12:40:00Z", "2026-11-05T12:20:00Z")
	h.merge(9, "promote", "uat", "hello", "d", "2026-11-05T12:45:00Z", "alice")
	h.merge(10, "promote", "prod", "hello", "d", "2026-11-05T12:50:00Z", "bob")
	h.push()
	return repo
}

func TestMetrics_ScriptedHistory(t *testing.T) {
	repo := scriptedHistory(t)
	r := plattrGen(t, nil, "metrics", "--repo", repo, "--since", "7d", "--until", "2026-11-06T00:00:00Z", "--output", "json")
	require.Equal(t, 0, r.code, r.err)
	var m ops.Metrics
	require.NoError(t, json.Unmarshal([]byte(r.out), &m))
	assert.Equal(t, "prod", m.Production)
	require.Len(t, m.Apps, 2)
	hello, shop, all := m.Apps[0], m.Apps[1], m.Overall
	assert.Equal(t, "hello", hello.App)
	assert.Equal(t, map[string]int{"staging": 4, "uat": 4, "prod": 5}, hello.Deployments, "the rollback is a deployment")
	assert.InDelta(t, 4.0/7, hello.PerDay["staging"], 1e-9)
	assert.Equal(t, 4, hello.ProductionReleases, "the rollback is no new change")
	assert.Equal(t, 2, hello.Failed, "b (rolled back) and c (fixed forward within the hour)")
	assert.Equal(t, 0.5, hello.ChangeFailureRate)
	assert.Equal(t, 4, hello.LeadTimes)
	assert.Equal(t, "15h0m0s", hello.LeadTime.String(), "median of 26h, 27h, 4h and 30m")
	assert.Equal(t, "40m0s", hello.TimeToRestore.String(), "median of 30m and 50m")
	assert.Equal(t, map[string]int{"staging": 1, "uat": 1, "prod": 0}, shop.Deployments)
	assert.Equal(t, 0, shop.ProductionReleases)
	assert.Equal(t, "—", shop.LeadTime.String())
	assert.Equal(t, map[string]int{"staging": 5, "uat": 5, "prod": 5}, all.Deployments)
	assert.Equal(t, 0.5, all.ChangeFailureRate)

	// A shorter period: only what happened in it.
	r = plattrGen(t, nil, "metrics", "--repo", repo, "--since", "1d", "--until", "2026-11-06T00:00:00Z")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "DORA metrics from 2026-11-05 00:00 to 2026-11-06 00:00 UTC (production: prod; failure window 1h0m0s)")
	assert.Regexp(t, `hello\s+2 \(2\.00/day\)\s+2 \(2\.00/day\)\s+2 \(2\.00/day\)\s+2h15m0s\s+50% \(1 of 2\)\s+50m0s`, r.out)
	assert.Regexp(t, `\(all\)\s+2 \(2\.00/day\)`, r.out)

	for args, want := range map[string]string{
		"--since 2w":          `--since: "2w" is not a period`,
		"--until yesterday":   `--until: "yesterday" is not an RFC 3339 time`,
		"--failure-window 0s": "--failure-window must be positive",
		"--app ../x":          "--app:",
		"--depth 0":           "--depth must be between 1 and 100000",
	} {
		r := plattrGen(t, nil, append([]string{"metrics", "--repo", repo}, strings.Fields(args)...)...)
		assert.Equal(t, 2, r.code, args)
		assert.Contains(t, r.err, want, args)
	}
}

func TestStatus_ScriptedHistory(t *testing.T) {
	repo := scriptedHistory(t)
	r := plattrGen(t, nil, "status", "--repo", repo, "--output", "json")
	require.Equal(t, 0, r.code, r.err)
	var m ops.Matrix
	require.NoError(t, json.Unmarshal([]byte(r.out), &m))
	var got []string
	for _, rel := range m.Current {
		got = append(got, fmt.Sprintf("%s %s %.19s %s %s #%d %s %s", rel.App, rel.Env, rel.Image[len(rel.Image)-12:], rel.At.Format("01-02T15:04"), rel.Kind, rel.PR, rel.By, rel.SourceTime.Format("01-02T15:04")))
	}
	assert.Equal(t, []string{
		"hello staging dddddddddddd 11-05T12:40 render #0 plattr-bot 11-05T12:20",
		"hello uat dddddddddddd 11-05T12:45 promotion #9 alice 11-05T12:20",
		"hello prod dddddddddddd 11-05T12:50 promotion #10 bob 11-05T12:20",
		"shop staging eeeeeeeeeeee 11-02T09:00 render #0 plattr-bot 11-02T08:30",
		"shop uat eeeeeeeeeeee 11-02T10:00 promotion #3 alice 11-02T08:30",
	}, got)
	assert.Empty(t, m.Waiting)

	r = plattrGen(t, nil, "status", "--repo", repo, "--app", "hello")
	require.Equal(t, 0, r.code, r.err)
	assert.Regexp(t, `hello\s+staging\s+sha256:dddddddddddd\s+acme/hello@dddddddd\s+2026-11-05 12:40 UTC\s+render [0-9a-f]{8} \(https://github.com/acme/hello/actions/runs/d\)`, r.out)
	assert.Regexp(t, `hello\s+prod\s+sha256:dddddddddddd\s+acme/hello@dddddddd\s+2026-11-05 12:50 UTC\s+promotion: PR #10 merged by bob`, r.out)
	assert.NotContains(t, r.out, "shop")

	r = plattrGen(t, nil, "status", "--repo", repo, "--output", "markdown")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "| app | staging | uat | prod |\n|---|---|---|---|\n")
	assert.Contains(t, r.out, "| shop | `sha256:eeeeeeeeeeee`<br>acme/shop@eeeeeeee<br>2026-11-02 09:00 UTC<br>render")
	assert.Contains(t, r.out, "<br>promotion: PR #3 merged by alice | — |")

	r = plattrGen(t, nil, "status", "--repo", repo, "--output", "yaml")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.err, "--output must be text, json or markdown")
}

// With GitHub, the promotions waiting: open pull requests plattr-gen promote
// made, with what they would release.
func TestStatus_Waiting(t *testing.T) {
	withToken(t)
	s := fakegithub.New(token)
	defer s.Close()
	repo := newEnvRepo(t)
	renderApp(t, repo, "staging", "a")
	r := plattrGen(t, ghEnv(s), "promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", repo, "--github-repo", "acme/env", "--allow-http")
	require.Equal(t, 0, r.code, r.err)
	s.OpenPR("acme/env", "someone/else", "Not a promotion") // no label: not listed

	r = plattrGen(t, ghEnv(s), "status", "--repo", repo, "--github-repo", "acme/env", "--allow-http")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "waiting:\n  PR #1 staging → uat: hello\n")
}

// The source commit's time goes into the render's trailers: given, or read
// from the checkout holding the app when its HEAD is the source commit.
func TestRender_SourceTime(t *testing.T) {
	repo := newEnvRepo(t)
	app := t.TempDir()
	data, err := os.ReadFile(filepath.Join(exampleDir(), "plattr.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(app, "plattr.yaml"), data, 0o644))
	gittest.Git(t, app, "init", "-q", "-b", "main")
	gittest.Git(t, app, "add", "-A")
	t.Setenv("GIT_COMMITTER_DATE", "2026-11-30T08:15:00+01:00")
	gittest.Git(t, app, "commit", "-q", "-m", "app")
	head := gittest.Git(t, app, "rev-parse", "HEAD")

	r := plattrGen(t, map[string]string{"GITHUB_REPOSITORY": "acme/hello", "GITHUB_SHA": head},
		"render", "--app-dir", app, "--env", "staging", "--image", image, "--repo", repo)
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, gittest.Git(t, repo, "log", "-1", "--format=%B", "main"), "Plattr-Source-Time: 2026-11-30T07:15:00Z")

	r = plattrGen(t, map[string]string{"GITHUB_REPOSITORY": "acme/hello", "GITHUB_SHA": strings.Repeat("b", 40)},
		"render", "--app-dir", app, "--env", "uat", "--image", image, "--repo", repo)
	require.Equal(t, 0, r.code, r.err)
	assert.NotContains(t, gittest.Git(t, repo, "log", "-1", "--format=%B", "main"), "Plattr-Source-Time", "HEAD is another commit: no time")

	r = plattrGen(t, nil, "render", "--app-dir", app, "--env", "uat", "--image", image, "--repo", repo, "--source-time", "2026-11-30\nPlattr-Environment: prod")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.err, "--source-time")
	assert.Contains(t, r.err, "is not an RFC 3339 time")
}
