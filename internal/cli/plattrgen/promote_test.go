package plattrgen

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/internal/fakegithub"
	"github.com/plattr/plattr/internal/gittest"
	"github.com/plattr/plattr/ops"
)

const token = "ghp_test-s3cret-token"

// ghEnv points the GitHub API at the fake, on plain http to 127.0.0.1: commands
// using it pass --allow-http.
func ghEnv(s *fakegithub.Server) map[string]string {
	return map[string]string{"GITHUB_API_URL": s.BaseURL()}
}

// withToken runs f with the GitHub token in the process environment, as CI has it.
func withToken(t *testing.T) {
	t.Setenv("PLATTR_GIT_TOKEN", token)
}

// merge merges branch into main with a merge commit, as GitHub's merge button does.
func merge(t *testing.T, repo, branch string) {
	t.Helper()
	work := gittest.Clone(t, repo)
	gittest.Git(t, work, "fetch", "-q", "origin", branch)
	gittest.Git(t, work, "merge", "-q", "--no-ff", "-m", "Merge "+branch, "FETCH_HEAD")
	gittest.Git(t, work, "push", "-q", "origin", "main")
}

func renderApp(t *testing.T, repo, env, digestByte string) {
	t.Helper()
	img := "ghcr.io/acme/hello@sha256:" + strings.Repeat(digestByte, 64)
	r := plattrGen(t, map[string]string{"GITHUB_REPOSITORY": "acme/hello", "GITHUB_SHA": strings.Repeat(digestByte, 40)},
		"render", "--app-dir", exampleDir(), "--env", env, "--image", img, "--repo", repo)
	require.Equal(t, 0, r.code, r.err)
}

func TestPromote_StagingToUatToProd(t *testing.T) {
	withToken(t)
	s := fakegithub.New(token)
	defer s.Close()
	repo := newEnvRepo(t)
	renderApp(t, repo, "staging", "a")
	renderApp(t, repo, "uat", "0") // uat runs an older release, with a person's env.yaml
	work := gittest.Clone(t, repo)
	envFile := filepath.Join(work, "envs/uat/hello/env.yaml")
	data, err := os.ReadFile(envFile)
	require.NoError(t, err)
	tuned := strings.Replace(string(data), "replicas: 1", "replicas: 2", 1)
	require.NoError(t, os.WriteFile(envFile, []byte(tuned), 0o644))
	gittest.Git(t, work, "commit", "-qam", "uat: 2 replicas")
	gittest.Git(t, work, "push", "-q", "origin", "main")

	promote := func(args ...string) run {
		return plattrGen(t, ghEnv(s), append([]string{"promote", "--app", "hello", "--repo", repo, "--github-repo", "acme/env", "--allow-http"}, args...)...)
	}
	// Skipping uat is refused.
	r := promote("--from", "staging", "--to", "prod")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "promote to uat first, or pass --force")
	assert.Empty(t, s.PRs("acme/env"))

	r = promote("--from", "staging", "--to", "uat")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "opened pull request https://github.com/acme/env/pull/1")
	prs := s.PRs("acme/env")
	require.Len(t, prs, 1)
	assert.Equal(t, "plattr/promote-uat-hello", prs[0].Head)
	assert.Equal(t, []string{"env/uat", "plattr/promotion"}, prs[0].Labels)
	assert.Contains(t, prs[0].Body, "`sha256:000000000000` → `sha256:aaaaaaaaaaaa`", "the image change")
	assert.Contains(t, prs[0].Body, "acme/hello@aaaaaaaa", "the source commit")
	assert.Contains(t, prs[0].Body, "```diff")
	assert.Contains(t, prs[0].Body, "### What merging this does\n\nWorst: **disruptive**.", "the plan: uat's pods restart with the new image")
	assert.Contains(t, prs[0].Body, "| uat/hello | disruptive | workload restart | pods restart, one at a time: image sha256:000000000000 → sha256:aaaaaaaaaaaa |")

	// Idempotent: the same branch and pull request.
	before := gittest.Git(t, repo, "rev-parse", "plattr/promote-uat-hello")
	r = promote("--from", "staging", "--to", "uat")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "updated pull request https://github.com/acme/env/pull/1")
	assert.Len(t, s.PRs("acme/env"), 1, "never a duplicate")
	assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "plattr/promote-uat-hello"), "the branch already held the change")

	merge(t, repo, "plattr/promote-uat-hello")
	s.Merge("acme/env", 1)
	files := gittest.Files(t, repo)
	assert.Equal(t, files["envs/staging/hello/release.yaml"], files["envs/uat/hello/release.yaml"], "uat runs staging's release, verbatim")
	assert.Equal(t, tuned, files["envs/uat/hello/env.yaml"], "env.yaml of uat untouched")

	// Nothing left to promote.
	r = promote("--from", "staging", "--to", "uat")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "nothing to promote")

	// uat → prod: prod never had the app, so it gets its folder and child Application.
	r = promote("--from", "uat", "--to", "prod", "--output", "json")
	require.Equal(t, 0, r.code, r.err)
	var rep proposalReport
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
	assert.Equal(t, "plattr/promote-prod-hello", rep.Branch)
	require.NotNil(t, rep.PullRequest)
	assert.Equal(t, 2, rep.PullRequest.Number)
	assert.Equal(t, "sha256:"+strings.Repeat("a", 64), rep.Images[0].To)
	merge(t, repo, "plattr/promote-prod-hello")
	files = gittest.Files(t, repo)
	assert.Equal(t, files["envs/staging/hello/release.yaml"], files["envs/prod/hello/release.yaml"])
	assert.Contains(t, files["envs/prod/hello/env.yaml"], "host: hello.apps.example.com", "production host")
	assert.Contains(t, files["envs/prod/apps/kustomization.yaml"], "- hello.yaml")
}

func TestPromote_AllInOnePullRequest(t *testing.T) {
	withToken(t)
	s := fakegithub.New(token)
	defer s.Close()
	repo := newEnvRepo(t)
	const n = 50
	var apps []string
	for i := 0; i < n; i++ {
		apps = append(apps, fmt.Sprintf("app%02d", i))
	}
	require.NoError(t, releaseApps(t.Context(), repo, "staging", apps, ""))
	start := time.Now()
	r := plattrGen(t, ghEnv(s), "promote", "--all", "--from", "staging", "--to", "uat", "--repo", repo, "--github-repo", "acme/env", "--allow-http")
	require.Equal(t, 0, r.code, r.err)
	t.Logf("promoting %d apps in one pull request took %s", n, time.Since(start))
	prs := s.PRs("acme/env")
	require.Len(t, prs, 1)
	assert.Equal(t, "Promote 50 apps from staging to uat", prs[0].Title)
	for i := 0; i < n; i++ {
		assert.Contains(t, prs[0].Body, fmt.Sprintf("| app%02d |", i))
	}
	merge(t, repo, "plattr/promote-staging-to-uat")
	files := gittest.Files(t, repo)
	for i := 0; i < n; i++ {
		assert.Equal(t, files[fmt.Sprintf("envs/staging/app%02d/release.yaml", i)], files[fmt.Sprintf("envs/uat/app%02d/release.yaml", i)])
	}
}

func TestPromote_WithoutGitHubPushesTheBranch(t *testing.T) {
	repo := newEnvRepo(t)
	renderApp(t, repo, "staging", "b")
	r := plattrGen(t, nil, "promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", repo)
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "pushed branch plattr/promote-uat-hello")
	assert.Contains(t, r.out, "git diff main...FETCH_HEAD")
	assert.NotEmpty(t, gittest.Git(t, repo, "rev-parse", "plattr/promote-uat-hello"))
	assert.NotContains(t, gittest.Files(t, repo), "envs/uat/hello/release.yaml", "main is untouched until the merge")
}

func TestPreview_RenderThenDeleteLeavesTheRepoAsBefore(t *testing.T) {
	repo := newEnvRepo(t)
	renderApp(t, repo, "staging", "c")
	before := gittest.Git(t, repo, "rev-parse", "main^{tree}")
	r := plattrGen(t, nil, "render", "--app-dir", exampleDir(), "--pr", "7", "--image", image, "--repo", repo)
	require.Equal(t, 0, r.code, r.err)
	require.NotEqual(t, before, gittest.Git(t, repo, "rev-parse", "main^{tree}"))
	r = plattrGen(t, nil, "preview", "delete", "--app", "hello", "--pr", "7", "--repo", repo)
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "removed preview hello-pr-7")
	assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main^{tree}"), "the env repo's tree is exactly as before")
	r = plattrGen(t, nil, "preview", "delete", "--app", "hello", "--pr", "7", "--repo", repo)
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "nothing to remove")
}

func TestPreview_GCRemovesOnlyClosedPullRequests(t *testing.T) {
	withToken(t)
	s := fakegithub.New(token)
	defer s.Close()
	repo := newEnvRepo(t)
	open := s.OpenPR("acme/hello", "feature-a", "open one")
	closed := s.OpenPR("acme/hello", "feature-b", "closed one")
	merged := s.OpenPR("acme/hello", "feature-c", "merged one")
	s.ClosePR("acme/hello", closed)
	s.Merge("acme/hello", merged)
	for _, n := range []int{open, closed, merged} {
		r := plattrGen(t, map[string]string{"GITHUB_REPOSITORY": "acme/hello"}, "render", "--app-dir", exampleDir(), "--pr", fmt.Sprint(n), "--image", image, "--repo", repo)
		require.Equal(t, 0, r.code, r.err)
	}
	// A preview released from another repository is not gc's to judge.
	r := plattrGen(t, map[string]string{"GITHUB_REPOSITORY": "acme/other"}, "render", "--app-dir", exampleDir(), "--pr", "9", "--image", image, "--repo", repo)
	require.Equal(t, 0, r.code, r.err)

	r = plattrGen(t, ghEnv(s), "preview", "gc", "--repo", repo, "--app-repo", "acme/hello", "--allow-http")
	require.Equal(t, 0, r.code, r.err)
	files := gittest.Files(t, repo)
	assert.Contains(t, files, fmt.Sprintf("envs/preview/hello-pr-%d/release.yaml", open))
	assert.NotContains(t, files, fmt.Sprintf("envs/preview/hello-pr-%d/release.yaml", closed))
	assert.NotContains(t, files, fmt.Sprintf("envs/preview/hello-pr-%d/release.yaml", merged))
	assert.Contains(t, files, "envs/preview/hello-pr-9/release.yaml")
	assert.NotContains(t, files["envs/preview/apps/kustomization.yaml"], fmt.Sprintf("hello-pr-%d.yaml", closed))
	assert.Contains(t, r.out, "removed 2 previews")
}

func TestRollback_RestoresThePreviousRelease(t *testing.T) {
	withToken(t)
	s := fakegithub.New(token)
	defer s.Close()
	repo := newEnvRepo(t)
	renderApp(t, repo, "prod", "1")
	first := gittest.Files(t, repo)["envs/prod/hello/release.yaml"]
	// The next release also changes the database block.
	dir := t.TempDir()
	manifest, err := os.ReadFile(filepath.Join(exampleDir(), "plattr.yaml"))
	require.NoError(t, err)
	changed := strings.Replace(string(manifest), "database:\n  enabled: true\n", "database:\n  enabled: true\n  extensions: [pgcrypto]\n", 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plattr.yaml"), []byte(changed), 0o644))
	r := plattrGen(t, nil, "render", "--app-dir", dir, "--env", "prod", "--image", "ghcr.io/acme/hello@sha256:"+strings.Repeat("2", 64), "--repo", repo)
	require.Equal(t, 0, r.code, r.err)
	renderApp(t, repo, "staging", "3") // unrelated history in between

	r = plattrGen(t, ghEnv(s), "rollback", "--app", "hello", "--env", "prod", "--repo", repo, "--github-repo", "acme/env", "--allow-http")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.err, "warning: the database block of hello differs")
	prs := s.PRs("acme/env")
	require.Len(t, prs, 1)
	assert.Equal(t, "plattr/rollback-prod-hello", prs[0].Head)
	assert.Contains(t, prs[0].Body, "The database block differs")
	assert.Contains(t, prs[0].Body, "### What merging this does\n\nWorst: **disruptive**.", "the rollback's plan")
	assert.Contains(t, prs[0].Body, "| prod/hello | disruptive | workload restart |")
	assert.Contains(t, prs[0].Labels, "plattr/rollback")
	merge(t, repo, "plattr/rollback-prod-hello")
	assert.Equal(t, first, gittest.Files(t, repo)["envs/prod/hello/release.yaml"], "the previous release, byte for byte")

	r = plattrGen(t, nil, "rollback", "--app", "hello", "--env", "prod", "--repo", repo, "--steps", "9")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "cannot go back 9")
}

func TestProposals_TokenNeverPrinted(t *testing.T) {
	t.Setenv("PLATTR_GIT_TOKEN", "ghp_wrong-s3cret")
	s := fakegithub.New(token)
	defer s.Close()
	repo := newEnvRepo(t)
	renderApp(t, repo, "staging", "d")
	r := plattrGen(t, map[string]string{"GITHUB_REPOSITORY": "acme/hello"}, "render", "--app-dir", exampleDir(), "--pr", "4", "--image", image, "--repo", repo)
	require.Equal(t, 0, r.code, r.err)
	for _, args := range [][]string{
		{"promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", repo, "--github-repo", "acme/env"},
		{"preview", "gc", "--repo", repo, "--app-repo", "acme/hello"},
	} {
		r := plattrGen(t, ghEnv(s), append(args, "--allow-http")...)
		assert.Equal(t, 1, r.code, args)
		assert.NotContains(t, r.out+r.err, "ghp_wrong-s3cret")
		assert.Contains(t, r.err, "401 Bad credentials")
	}
}

// BenchmarkPromote100 measures promoting 100 apps in one pull request: clone,
// copy, validate every touched overlay, commit, push the branch and open the pull
// request on the fake GitHub (on loopback: its latency is negligible). make bench.
func BenchmarkPromote100(b *testing.B) {
	b.Setenv("PLATTR_GIT_TOKEN", token)
	s := fakegithub.New(token)
	defer s.Close()
	repo := gittest.BareRepo(b, filepath.Join(b.TempDir(), "env.git"))
	run := func(env map[string]string, args ...string) {
		var out, errb strings.Builder
		getenv := func(k string) string { return env[k] }
		if code := Main(b.Context(), args, IO{Out: &out, Err: &errb, Getenv: getenv}); code != 0 {
			b.Fatalf("%v: %s", args, errb.String())
		}
	}
	run(nil, "env", "init", "--repo", repo, "--domain", "apps.example.com")
	var apps []string
	for i := 0; i < 100; i++ {
		apps = append(apps, fmt.Sprintf("app%03d", i))
	}
	if err := releaseApps(b.Context(), repo, "staging", apps, "database:\n  enabled: true\n"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		run(ghEnv(s), "promote", "--all", "--from", "staging", "--to", "uat", "--repo", repo, "--github-repo", "acme/env", "--allow-http")
		b.ReportMetric(time.Since(start).Seconds(), "s/promotion")
	}
	b.StopTimer()
	if b.N == 1 {
		return // the calibration run
	}
	fmt.Printf("\n| promote 100 apps from staging to uat in one pull request | **%.2f s** | < 5 s |\n\n", b.Elapsed().Seconds()/float64(b.N))
}

// --to names the commit that released a version: that commit is accepted and
// cited; a later commit that changed something else is not a release of the app.
func TestRollback_ToTheCommitThatReleased(t *testing.T) {
	withToken(t)
	s := fakegithub.New(token)
	defer s.Close()
	repo := newEnvRepo(t)
	renderApp(t, repo, "prod", "1")
	released := strings.TrimSpace(gittest.Git(t, repo, "rev-parse", "main"))
	first := gittest.Files(t, repo)["envs/prod/hello/release.yaml"]
	renderApp(t, repo, "staging", "3") // unrelated: prod's release is unchanged
	unrelated := strings.TrimSpace(gittest.Git(t, repo, "rev-parse", "main"))
	renderApp(t, repo, "prod", "2")

	r := plattrGen(t, ghEnv(s), "rollback", "--app", "hello", "--env", "prod", "--repo", repo, "--github-repo", "acme/env", "--allow-http", "--to", unrelated[:10])
	assert.Equal(t, 1, r.code, r.out)
	assert.Contains(t, r.err, "no release of hello in prod was committed at")
	assert.Empty(t, s.PRs("acme/env"))

	r = plattrGen(t, ghEnv(s), "rollback", "--app", "hello", "--env", "prod", "--repo", repo, "--github-repo", "acme/env", "--allow-http", "--to", released[:10])
	require.Equal(t, 0, r.code, r.err)
	prs := s.PRs("acme/env")
	require.Len(t, prs, 1)
	assert.Contains(t, prs[0].Body, released[:12], "the pull request cites the commit that released it")
	assert.NotContains(t, prs[0].Body, unrelated[:12])
	merge(t, repo, "plattr/rollback-prod-hello")
	assert.Equal(t, first, gittest.Files(t, repo)["envs/prod/hello/release.yaml"])
}

// preview delete and gc report as JSON for workflows; they, promote and rollback
// write the job summary under GitHub Actions.
func TestPreviewJSONAndSummaries(t *testing.T) {
	withToken(t)
	s := fakegithub.New(token)
	defer s.Close()
	repo := newEnvRepo(t)
	summary := filepath.Join(t.TempDir(), "summary.md")
	env := map[string]string{"GITHUB_REPOSITORY": "acme/hello", "GITHUB_STEP_SUMMARY": summary, "GITHUB_API_URL": s.BaseURL()}
	r := plattrGen(t, env, "render", "--app-dir", exampleDir(), "--pr", "7", "--image", image, "--repo", repo)
	require.Equal(t, 0, r.code, r.err)

	r = plattrGen(t, env, "preview", "delete", "--app", "hello", "--pr", "7", "--repo", repo, "--output", "json")
	require.Equal(t, 0, r.code, r.err)
	var rep previewReport
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep), r.out)
	assert.Equal(t, "preview-delete", rep.Kind)
	assert.Equal(t, []string{"hello-pr-7"}, rep.Removed)
	assert.Equal(t, strings.TrimSpace(gittest.Git(t, repo, "rev-parse", "main")), rep.Commit)
	assert.Len(t, rep.Changed, 5)
	msg := gittest.Git(t, repo, "log", "-1", "--format=%B", "main")
	assert.Equal(t, "hello: remove preview of PR #7\n\nPlattr-App: hello\nPlattr-Environment: preview\n", strings.TrimRight(msg, "\n")+"\n")

	r = plattrGen(t, env, "preview", "gc", "--repo", repo, "--output", "json", "--allow-http")
	require.Equal(t, 0, r.code, r.err)
	rep = previewReport{}
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep), r.out)
	assert.Equal(t, "preview-gc", rep.Kind)
	assert.Empty(t, rep.Removed)
	assert.Empty(t, rep.Commit)

	r = plattrGen(t, env, "preview", "delete", "--app", "hello", "--pr", "7", "--repo", repo, "--output", "yaml")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.err, "--output must be text or json")

	renderApp(t, repo, "staging", "a")
	r = plattrGen(t, env, "promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", repo, "--github-repo", "acme/env", "--allow-http")
	require.Equal(t, 0, r.code, r.err)
	data, err := os.ReadFile(summary)
	require.NoError(t, err)
	assert.Contains(t, string(data), "### Plattr: removed preview hello-pr-7")
	assert.Contains(t, string(data), "(https://github.com/acme/env/pull/1)", "the promotion's pull request")
}

// releaseApps releases apps (each plattr.yaml "name: <app>\n" + extra) of image
// into env of repo in one commit, planning as render does, without a CLI run
// per app: a fixture of many apps in a second.
func releaseApps(ctx context.Context, repo, env string, apps []string, extra string) error {
	r, err := gitops.Open(ctx, repo, generator.Validate)
	if err != nil {
		return err
	}
	img, err := generator.ParseImage(image, false)
	if err != nil {
		return err
	}
	_, err = r.Apply(ctx, func(tree envfiles.Tree) (envfiles.Files, string, error) {
		files := envfiles.Files{}
		for _, app := range apps {
			m, err := manifest.Parse(manifest.FileName, []byte("name: "+app+"\n"+extra))
			if err != nil {
				return nil, "", err
			}
			plan, err := ops.Render{Release: generator.Release{Manifest: m, Image: img, Env: env}, Branch: "main"}.Plan(envfiles.Overlay{Base: tree, Changes: files})
			if err != nil {
				return nil, "", err
			}
			maps.Copy(files, plan.Files)
		}
		return files, fmt.Sprintf("release %d apps into %s\n", len(apps), env), nil
	}, gitops.ApplyOptions{})
	return err
}

// A rollback over release phases: the older release meets the schema of the
// newer ones. The pull request and the command say so, naming them, and in
// production the plan's check wants plattr/allow-destructive.
func TestRollback_OverReleasePhases(t *testing.T) {
	withToken(t)
	s := fakegithub.New(token)
	defer s.Close()
	repo := newEnvRepo(t)
	renderApp(t, repo, "prod", "1") // no release phase
	manifest, err := os.ReadFile(filepath.Join(exampleDir(), "plattr.yaml"))
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plattr.yaml"), append(manifest, "release:\n  command: [./migrate, up]\n"...), 0o644))
	for _, d := range []string{"2", "3"} {
		r := plattrGen(t, nil, "render", "--app-dir", dir, "--env", "prod", "--image", "ghcr.io/acme/hello@sha256:"+strings.Repeat(d, 64), "--repo", repo)
		require.Equal(t, 0, r.code, r.err)
	}
	r := plattrGen(t, ghEnv(s), "rollback", "--app", "hello", "--env", "prod", "--steps", "2", "--repo", repo, "--github-repo", "acme/env", "--allow-http")
	require.Equal(t, 0, r.code, r.err)
	want := "rolls back to sha256:111111111111 over the release phase of sha256:333333333333, sha256:222222222222"
	assert.Contains(t, r.err, "warning: hello "+want)
	prs := s.PRs("acme/env")
	require.Len(t, prs, 1)
	assert.Contains(t, prs[0].Body, "Worst: **destructive**.")
	assert.Contains(t, prs[0].Body, "| prod/hello | destructive | release rollback | "+want)

	r = plattrGen(t, ghEnv(s), "plan", "--repo", repo, "--github-repo", "acme/env", "--allow-http", "--pr", fmt.Sprint(prs[0].Number), "--comment")
	require.Equal(t, 0, r.code, r.err)
	st := s.CommitStatuses("acme/env", gittest.Git(t, repo, "rev-parse", "plattr/rollback-prod-hello"))
	require.NotEmpty(t, st)
	assert.Equal(t, "failure", st[len(st)-1].State, "a production rollback over release phases needs the label")
	assert.Contains(t, st[len(st)-1].Description, "plattr/allow-destructive")

	// plan of the branch, in JSON, says the same.
	r = plattrGen(t, ghEnv(s), "plan", "--repo", repo, "--base", "main", "--head", "plattr/rollback-prod-hello", "--allow-http", "--output", "json")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, `"action": "rollback"`)
}
