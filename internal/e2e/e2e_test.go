package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakegithub"
	"github.com/plattr/plattr/internal/gittest"
	"github.com/plattr/plattr/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestEndToEnd is the loop on one cluster, with an env repo in the layout of
// versions before projects per environment (one Argo CD project, "default"):
// such a repo still renders, promotes and syncs as it did.
func TestEndToEnd(t *testing.T) {
	l := NewLoop(t, Options{InitArgs: []string{"--project", "default"}, Roots: []string{"staging", "uat", "preview"}, ArgoCDServer: true})
	// uat takes a release only after it has run in staging for a while, as
	// staging's operator (its token's user) recorded it.
	const soak = 10 * time.Second
	cfg := gittest.Files(t, l.Bare)["plattr-env.yaml"]
	cfg = strings.Replace(cfg, "- name: staging\n", "- name: staging\n  deployer: "+fakegithub.DefaultLogin+"\n", 1)
	l.CommitByHand("uat: a soak of "+soak.String(), map[string]string{
		"plattr-env.yaml": strings.Replace(cfg, "- name: uat\n", "- name: uat\n  gates:\n    soak: "+soak.String()+"\n", 1)})

	// 1. CI releases hello into staging.
	l.Step("render hello into staging (as CI on a push to main)")
	sha := l.PlattrGen("render", "--app-dir", l.Example, "--env", "staging", "--image", Digest('a'), "--repo", l.RepoURL)
	l.Converge("staging", "hello", sha, Digest('a'))
	l.CheckProvisioned("staging", "hello")
	d := l.GitHubDeployment("staging", Digest('a'), "success")
	assert.Equal(t, "http://hello.staging."+Domain, d.Statuses[len(d.Statuses)-1].EnvironmentURL, "the app's URL on its deployment")
	assert.Equal(t, strings.Repeat("f", 40), d.SHA, "the commit CI built")

	// 2. Promotion: refused during the soak, then a pull request, merged;
	// Argo CD syncs uat.
	l.Step("promote hello to uat during the soak: refused")
	promote := []string{"promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", l.RepoURL, "--github-repo", EnvRepo}
	refused := l.PlattrGenRefused(promote...)
	assert.Regexp(t, `hello sha256:aaaaaaaaaaaa has soaked \d+s of 10s in staging: \d+s left`, refused)
	healthy := d.Statuses[len(d.Statuses)-1].Created
	time.Sleep(time.Until(healthy.Add(soak + time.Second)))
	l.Step("promote hello to uat after the soak: pull request, merge")
	l.PlattrGen(promote...)
	head := gittest.Git(t, l.Bare, "rev-parse", "plattr/promote-uat-hello")
	st := l.GitHub.CommitStatuses(EnvRepo, head)
	if assert.NotEmpty(t, st) {
		assert.Equal(t, "success", st[len(st)-1].State, "plattr/promotion on the pull request's head")
		assert.Equal(t, "plattr/promotion", st[len(st)-1].Context)
	}
	assert.Contains(t, l.GitHub.PRs(EnvRepo)[0].Body, "healthy in staging since", "the evidence in the body")
	sha = l.Merge("plattr/promote-uat-hello")
	l.Converge("uat", "hello", sha, Digest('a'))
	l.CheckProvisioned("uat", "hello")
	assert.NotEqual(t, l.DBPassword("staging", "hello"), l.DBPassword("uat", "hello"), "uat has a database and role of its own")

	// 3. A preview for pull request 1, then its removal with its data.
	l.Step("open a preview for pull request 1 of hello")
	sha = l.PlattrGen("render", "--app-dir", l.Example, "--pr", "1", "--image", Digest('b'), "--repo", l.RepoURL)
	l.Converge("preview", "hello-pr-1", sha, Digest('b'))
	l.CheckProvisioned("preview", "hello-pr-1")
	l.Step("close pull request 1: delete its preview")
	preview := l.GitHubDeployment("hello-pr-1", Digest('b'), "success")
	assert.True(t, preview.Transient, "a preview is a transient environment")
	sha = l.PlattrGen("preview", "delete", "--app", "hello", "--pr", "1", "--repo", l.RepoURL)
	l.Gone("preview", "hello-pr-1", sha)
	l.GitHubDeployment("hello-pr-1", Digest('b'), "inactive")

	// 4. A second release to staging, then a rollback to the first.
	l.Step("render a second release of hello into staging")
	sha = l.PlattrGen("render", "--app-dir", l.Example, "--env", "staging", "--image", Digest('c'), "--repo", l.RepoURL)
	l.Converge("staging", "hello", sha, Digest('c'))
	l.Step("roll staging back one release: pull request, merge")
	l.PlattrGen("rollback", "--app", "hello", "--env", "staging", "--repo", l.RepoURL, "--github-repo", EnvRepo)
	sha = l.Merge("plattr/rollback-staging-hello")
	l.Converge("staging", "hello", sha, Digest('a'))

	// 5. The env repo moves to a project per environment, in the order its pull
	// request says; every child keeps running its release, in its own project.
	l.Step("upgrade the env repo to a project per environment: projects from the branch, merge, the roots again")
	l.PlattrGen("env", "upgrade", "--repo", l.RepoURL, "--github-repo", EnvRepo)
	l.ApplyBootstrap("plattr/env-upgrade")
	sha = l.Merge("plattr/env-upgrade")
	l.ApplyBootstrap("main", "staging", "uat", "preview")
	for _, env := range []string{"staging", "uat"} {
		l.Refresh(env, "hello")
		refreshed := time.Now()
		l.waitFor(time.Now(), env+"-hello in project plattr-"+env+", synced and healthy", func() (bool, string) {
			// A refresh that came before the root moved the child to its
			// project is not taken again (a project is no source): ask again
			// rather than wait for Argo CD's 3-minute poll.
			if time.Since(refreshed) > 5*time.Second {
				l.Refresh(env, "hello")
				refreshed = time.Now()
			}
			a, err := l.child(env, "hello")
			if err != nil {
				return false, err.Error()
			}
			return a.Spec.Project == "plattr-"+env && a.Status.Sync.Status == "Synced" && a.Status.Sync.Revision == sha && a.Status.Health.Status == "Healthy",
				fmt.Sprintf("project %s, %s at %.8s, %s, conditions %v", a.Spec.Project, a.Status.Sync.Status, a.Status.Sync.Revision, a.Status.Health.Status, a.Status.Conditions)
		})
	}
	assert.Equal(t, Digest('a'), l.Image("staging", "hello"))

	// 6. A rollback in Argo CD's UI comes back to git: auto-sync off and a
	// rollback through argocd-server (the UI's calls), the rollback pull
	// request from Plattr's rollback controller, merged, auto-sync on again.
	l.Step("render a release of hello into staging that will be rolled back in Argo CD")
	before := sha
	sha = l.PlattrGen("render", "--app-dir", l.Example, "--env", "staging", "--image", Digest('e'), "--repo", l.RepoURL)
	l.Converge("staging", "hello", sha, Digest('e'))
	l.StartRollbackController()
	l.Step("in Argo CD's UI, as admin: turn off auto-sync of staging-hello, roll back to the sync before")
	l.ArgoCDAPI(http.MethodPatch, "/api/v1/applications/staging-hello", map[string]string{"name": "staging-hello",
		"patch": `{"spec":{"syncPolicy":{"automated":null}}}`, "patchType": "merge"}, nil)
	var app struct {
		Status struct {
			History []struct {
				ID       int64  `json:"id"`
				Revision string `json:"revision"`
			} `json:"history"`
		} `json:"status"`
	}
	l.ArgoCDAPI(http.MethodGet, "/api/v1/applications/staging-hello", nil, &app)
	id, err := argoHistoryID(app.Status.History, sha)
	require.NoError(t, err)
	l.ArgoCDAPI(http.MethodPost, "/api/v1/applications/staging-hello/rollback", map[string]any{"name": "staging-hello", "id": id}, nil)
	l.waitFor(time.Now(), "staging/hello runs "+ShortDigest(Digest('a'))+" again (Argo CD rolled it back)", func() (bool, string) {
		img := l.Image("staging", "hello")
		return img == Digest('a'), "image " + ShortDigest(img)
	})
	var pr fakegithub.PR
	l.waitFor(time.Now(), "Plattr's rollback pull request", func() (bool, string) {
		prs := l.GitHub.PRs(EnvRepo)
		pr = prs[len(prs)-1]
		return pr.Head == "plattr/rollback-staging-hello" && pr.State == "open", fmt.Sprintf("latest pull request #%d %s (%s)", pr.Number, pr.Head, pr.State)
	})
	assert.Contains(t, pr.Body, "**Rolled back in Argo CD** by admin at ")
	l.T.Logf("         pull request #%d: %s", pr.Number, pr.Title)
	c, err := l.child("staging", "hello")
	require.NoError(t, err)
	assert.Nil(t, c.Spec.SyncPolicy.Automated, "the root left the child's auto-sync off")
	l.Step("merge the rollback pull request: git has what runs, auto-sync turns on again")
	sha = l.Merge("plattr/rollback-staging-hello")
	l.Refresh("staging", "hello")
	l.waitFor(time.Now(), "staging-hello synced at "+sha[:8]+" with auto-sync on", func() (bool, string) {
		a, err := l.child("staging", "hello")
		if err != nil {
			return false, err.Error()
		}
		on := a.Spec.SyncPolicy != nil && a.Spec.SyncPolicy.Automated != nil
		return on && a.Status.Sync.Status == "Synced" && a.Status.Sync.Revision == sha,
			fmt.Sprintf("auto-sync %v, %s at %.8s", on, a.Status.Sync.Status, a.Status.Sync.Revision)
	})
	assert.Equal(t, Digest('a'), l.Image("staging", "hello"))
	assert.Equal(t, gittest.Git(t, l.Bare, "show", before+":envs/staging/hello/release.yaml"),
		gittest.Git(t, l.Bare, "show", "main:envs/staging/hello/release.yaml"), "git has the release Argo CD rolled back to")

	// 7. A release phase: an app whose release command makes a table. Staging
	// is Ready only once it ran; a failing command keeps the previous pods
	// serving and says why; the next image runs it again, the same one not.
	l.Step("render shop, whose release command creates a table, into staging")
	shop := releaseApp(t, "CREATE TABLE widgets (id int)", "")
	sha = l.PlattrGen("render", "--app-dir", shop, "--env", "staging", "--image", Digest('1'), "--repo", l.RepoURL)
	l.Converge("staging", "shop", sha, Digest('1'))
	l.CheckReleasePhase("staging", "shop", Digest('1'), "widgets")
	l.Step("render a release of shop whose release command fails")
	shop = releaseApp(t, "CREATE TABLE widgets (id int)", "")
	sha = l.PlattrGen("render", "--app-dir", shop, "--env", "staging", "--image", Digest('2'), "--repo", l.RepoURL)
	msg := l.ReleaseFailed("staging", "shop", sha, Digest('2'))
	assert.Contains(t, msg, `relation "widgets" already exists`, "the command's last lines")
	assert.Contains(t, msg, "exit code 1")
	assert.NotContains(t, msg, l.DBPassword("staging", "shop"))
	assert.Equal(t, Digest('1'), l.DeploymentImage("staging", "shop"), "the previous release keeps serving")
	l.Step("render the next release of shop: its release command runs, and it rolls out")
	shop = releaseApp(t, "CREATE TABLE gadgets (id int)", "")
	sha = l.PlattrGen("render", "--app-dir", shop, "--env", "staging", "--image", Digest('3'), "--repo", l.RepoURL)
	l.Converge("staging", "shop", sha, Digest('3'))
	job := l.CheckReleasePhase("staging", "shop", Digest('3'), "gadgets")
	l.Step("render the same image of shop with another setting: the release command does not run again")
	shop = releaseApp(t, "CREATE TABLE gadgets (id int)", "again")
	sha = l.PlattrGen("render", "--app-dir", shop, "--env", "staging", "--image", Digest('3'), "--repo", l.RepoURL)
	l.Converge("staging", "shop", sha, Digest('3'))
	again := l.CheckReleasePhase("staging", "shop", Digest('3'), "gadgets")
	assert.Equal(t, job.UID, again.UID, "the same Job: the command ran once for this image")
	assert.Equal(t, 3, l.ReleaseJobs("staging", "shop"), "one Job per image: 1, 2 (failed) and 3")

	// 8. Credentials rotate by a reviewed commit: env.yaml's credentials.rotate.
	l.Step("rotate hello's credentials in staging by a commit to its env.yaml")
	redisBefore := l.SecretData("staging", "hello-redis")
	dbBefore := l.SecretData("staging", "hello-postgres")
	envYAML := gittest.Files(t, l.Bare)["envs/staging/hello/env.yaml"]
	committed := time.Now()
	sha = l.CommitByHand("staging/hello: rotate credentials", map[string]string{
		"envs/staging/hello/env.yaml": strings.Replace(envYAML, "spec:\n", "spec:\n  credentials:\n    rotate: r1\n", 1)})
	l.Converge("staging", "hello", sha, Digest('a'))
	l.CredentialsRotated(committed, sha, "staging", "hello", "redis", "r1")
	l.CredentialsRotated(committed, sha, "staging", "hello", "postgres", "r1")
	assert.NotEqual(t, redisBefore["REDIS_PASSWORD"], l.SecretData("staging", "hello-redis")["REDIS_PASSWORD"], "new Redis credentials")
	dbAfter := l.SecretData("staging", "hello-postgres")
	assert.Equal(t, "staging_hello_b", dbAfter["PGUSER"], "PostgreSQL's other login role")
	l.CheckLoginRefused(redisBefore["REDIS_URL"], dbBefore["DATABASE_URL"])

	// 9. `make bench-e2e` only: the baseline, a release Argo CD finds by its poll.
	if os.Getenv("PLATTR_E2E_POLL_BASELINE") != "" {
		l.Step("baseline: render a release into staging and let Argo CD find it by its 3-minute poll (no refresh)")
		sha = l.PlattrGen("render", "--app-dir", l.Example, "--env", "staging", "--image", Digest('d'), "--repo", l.RepoURL)
		l.Poll, l.Timeout = true, 8*time.Minute
		l.Converge("staging", "hello", sha, Digest('d'))
	}

	l.CheckNoLeaks()
	l.Summary()
}

// releaseApp writes the plattr.yaml of shop, an app with a database whose
// release command runs sql on it (this test binary as the migration tool),
// into a new folder; mode, when given, is a variable of its environment.
func releaseApp(t *testing.T, sql, mode string) string {
	t.Helper()
	cmd := testenv.SQLCommand(t, sql)
	dir := t.TempDir()
	if mode != "" {
		mode = "  MODE: " + mode + "\n"
	}
	yaml := "name: shop\nenv:\n  LOG_LEVEL: info\n" + mode + "database:\n  enabled: true\nrelease:\n  command: [" +
		strings.Join([]string{cmd[0], cmd[1], "'" + cmd[2] + "'"}, ", ") + "]\n  timeout: 2m\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plattr.yaml"), []byte(yaml), 0o644))
	return dir
}
