package workflows

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	plattrcli "github.com/plattr/plattr/internal/cli/plattr"
	"github.com/plattr/plattr/internal/fakegithub"
	"github.com/plattr/plattr/internal/gittest"
	"github.com/plattr/plattr/internal/release"
	"github.com/plattr/plattr/internal/testenv"
)

const token = "ghs_env-repo-s3cret-token"

// world is one app repository with Plattr's deploy workflow, and what it talks to.
type world struct {
	t         *testing.T
	root      string // Plattr's reusable workflow and actions: this repository's .github
	actBin    string
	app       string // the app's repository (its working tree)
	envRepo   string // the env repo, bare, served at <server>/acme/env
	server    *httptest.Server
	gh        *fakegithub.Server
	version   string // the plattr-gen release the workflow installs
	releases  string // the release files served at <server>/plattr/plattr/releases/download/
	downloads atomic.Int64
	standIns  string
	cache     string // act's action cache, with the runner's tool cache
	log       string // what the stand-ins were given
	plattrRef string // where plattr/plattr@<ref> of the caller maps (the root, or a sabotaged copy)
}

func actPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the workflows under act with a release archive (-short)")
	}
	p := os.Getenv("PLATTR_ACT")
	if p == "" {
		root, err := testenv.RepoRoot()
		require.NoError(t, err)
		p = filepath.Join(root, "bin", "tools", "act")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("act is not built at %s: run make test (it builds act from tools/act/go.mod), or set PLATTR_ACT", p)
	}
	return p
}

func newWorld(t *testing.T) *world {
	t.Helper()
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	version, err := release.RepoVersion(root)
	require.NoError(t, err)
	dir := t.TempDir()
	// act copies a mapped repository whole for each use: Plattr's is its
	// .github folder here (the workflows and actions), without bin/ and the rest.
	github := filepath.Join(dir, "plattr")
	require.NoError(t, os.CopyFS(filepath.Join(github, ".github"), os.DirFS(filepath.Join(root, ".github"))))
	w := &world{t: t, root: github, actBin: actPath(t), version: version, plattrRef: github,
		releases: filepath.Join(dir, "releases"), standIns: filepath.Join(dir, "standins"),
		cache: filepath.Join(dir, "act-cache"), log: filepath.Join(dir, "standins.log")}
	w.gh = fakegithub.New(token)
	t.Cleanup(w.gh.Close)

	// The release: plattr-gen of the working tree, linked as that version, in
	// goreleaser's archive and checksums layout.
	bin := plattrGen(t, root, version)
	w.publish(bin, "")

	// The env repo, as plattr-gen env init makes it.
	gitRoot := filepath.Join(dir, "git")
	require.NoError(t, os.MkdirAll(filepath.Join(gitRoot, "acme"), 0o755))
	w.envRepo = gittest.BareRepo(t, filepath.Join(gitRoot, "acme", "env"))
	out, err := exec.Command(bin, "env", "init", "--repo", w.envRepo, "--domain", "apps.example.com",
		"--repo-url", "https://github.com/acme/env.git").CombinedOutput()
	require.NoError(t, err, string(out))
	gitHandler := gittest.Handler(t, gitRoot, "x-access-token", token)
	mux := http.NewServeMux()
	mux.Handle("/plattr/plattr/releases/download/", http.StripPrefix("/plattr/plattr/releases/download/",
		http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, ".tar.gz") {
				w.downloads.Add(1)
			}
			http.FileServer(http.Dir(w.releases)).ServeHTTP(rw, r)
		})))
	mux.Handle("/", gitHandler)
	w.server = httptest.NewServer(mux)
	t.Cleanup(w.server.Close)

	// The app: what plattr init writes, a Dockerfile and tests, on GitHub as
	// Acme/hello (an owner with capitals, as GitHub allows).
	w.app = filepath.Join(dir, "hello")
	require.NoError(t, os.Mkdir(w.app, 0o755))
	var initOut bytes.Buffer
	code := plattrcli.Main(context.Background(), []string{"init", "--dir", w.app, "--env-repo", "acme/env"},
		plattrcli.IO{Out: &initOut, Err: &initOut})
	require.Equal(t, 0, code, initOut.String())
	w.write("Dockerfile", "FROM scratch\nCOPY . /app\n")
	w.write("Makefile", "test:\n\t@echo \"the app's tests ran\"\n")
	w.write("main.go", "package main\n")
	gittest.Git(t, w.app, "init", "-q", "-b", "main")
	gittest.Git(t, w.app, "remote", "add", "origin", "https://github.com/Acme/hello.git")
	w.commit("the app")

	// The stand-ins of every third-party action the workflows use, at the
	// commits they pin.
	for action, yml := range standIns {
		require.NoError(t, os.MkdirAll(filepath.Join(w.standIns, action), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(w.standIns, action, "action.yml"), []byte(yml), 0o644))
	}
	return w
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// plattrGen builds the working tree's plattr-gen as version, once per test binary.
func plattrGen(t *testing.T, root, version string) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "plattr-workflows-")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "plattr-gen")
		build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X github.com/plattr/plattr/internal/version.version="+version, "-o", built, "./cmd/plattr-gen")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/plattr-gen: %v: %s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return built
}

// publish writes the release of version: plattr-gen's archive for this
// machine and checksums.txt. tamper, when set, replaces the archive after its
// checksum was written.
func (w *world) publish(bin, tamper string) {
	t := w.t
	dir := filepath.Join(w.releases, w.version)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "plattr-gen", Mode: 0o755, Size: int64(len(data)), ModTime: time.Unix(0, 0)}))
	_, err = tw.Write(data)
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	name := fmt.Sprintf("plattr-gen_%s_linux_%s.tar.gz", strings.TrimPrefix(w.version, "v"), runtime.GOARCH)
	sum := sha256.Sum256(buf.Bytes())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "checksums.txt"),
		[]byte(hex.EncodeToString(sum[:])+"  "+name+"\n"+strings.Repeat("0", 64)+"  plattr_other.tar.gz\n"), 0o644))
	archive := buf.Bytes()
	if tamper != "" {
		archive = append(archive, tamper...)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), archive, 0o644))
}

func (w *world) write(name, content string) {
	w.t.Helper()
	require.NoError(w.t, os.WriteFile(filepath.Join(w.app, name), []byte(content), 0o644))
}

func (w *world) commit(msg string) string {
	w.t.Helper()
	gittest.Git(w.t, w.app, "add", "-A")
	gittest.Git(w.t, w.app, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", msg)
	return strings.TrimSpace(gittest.Git(w.t, w.app, "rev-parse", "HEAD"))
}

// pinned lists the owner/repo@ref of every uses: of the workflows and actions
// the caller reaches, as act's --local-repository keys.
var usesLine = regexp.MustCompile(`(?m)^\s*(?:- )?uses:\s*([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(/[^@\s]*)?@(\S+)`)

func (w *world) localRepositories(caller, reusable string) []string {
	t := w.t
	files := []string{
		caller,
		filepath.Join(w.plattrRef, ".github", "workflows", reusable),
		filepath.Join(w.root, ".github", "actions", "setup-plattr-gen", "action.yml"),
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range usesLine.FindAllStringSubmatch(string(data), -1) {
			repo, ref := m[1], m[3]
			key := repo + "@" + ref
			if seen[key] {
				continue
			}
			seen[key] = true
			var dest string
			switch {
			case repo == "plattr/plattr" && strings.HasPrefix(m[2], "/.github/workflows/"):
				dest = w.plattrRef
			case repo == "plattr/plattr":
				dest = w.root // its actions, at the commit TestOwnActionsPinned checks
			default:
				require.Regexp(t, `^[0-9a-f]{40}$`, ref, "%s: %s is not pinned by commit", filepath.Base(f), key)
				_, ok := standIns[repo]
				require.True(t, ok, "%s uses %s, which has no stand-in", filepath.Base(f), repo)
				dest = filepath.Join(w.standIns, repo)
			}
			out = append(out, "--local-repository="+key+"="+dest)
		}
	}
	sort.Strings(out)
	return out
}

type actRun struct {
	code int
	out  string
}

// run runs the app's workflow for event with act, with the settings a team
// gives it (vars, secrets), and returns act's exit code and output.
func (w *world) run(event string, payload map[string]any, vars, secrets map[string]string) actRun {
	t := w.t
	t.Helper()
	repository := map[string]any{"full_name": "Acme/hello", "name": "hello", "default_branch": "main",
		"owner": map[string]any{"login": "Acme"}}
	payload["repository"] = repository
	data, err := json.Marshal(payload)
	require.NoError(t, err)
	eventFile := filepath.Join(t.TempDir(), "event.json")
	require.NoError(t, os.WriteFile(eventFile, data, 0o644))
	args := []string{event, "-C", w.app, "-W", filepath.Join(w.app, ".github", "workflows", "plattr-deploy.yml"),
		"-e", eventFile, "-P", "ubuntu-latest=-self-hosted", "--use-new-action-cache", "--action-cache-path", w.cache,
		"--no-cache-server", "--concurrent-jobs", "1",
		"--env", "GITHUB_SERVER_URL=" + w.server.URL, "--env", "GITHUB_API_URL=" + w.gh.BaseURL(),
		"--env", "PLATTR_STANDIN_LOG=" + w.log}
	args = append(args, w.localRepositories(filepath.Join(w.app, ".github", "workflows", "plattr-deploy.yml"), "deploy.yml")...)
	for k, v := range vars {
		args = append(args, "--var", k+"="+v)
	}
	for k, v := range secrets {
		args = append(args, "-s", k+"="+v)
	}
	return w.act(event, args)
}

// act runs act with args (event first) and returns its exit code and output,
// which must not hold the token; PLATTR_ACT_DUMP names a folder to keep it in.
func (w *world) act(event string, args []string) actRun {
	t := w.t
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("act %s: %s", event, time.Since(start).Round(time.Millisecond)) }()
	cmd := exec.Command(w.actBin, args...)
	// act's host mode hands the steps this environment: only what a runner has.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LANG=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "act did not run: %v: %s", err, out)
		code = ee.ExitCode()
	}
	assert.NotContains(t, string(out), token, "the token never appears in the run's output")
	if os.Getenv("PLATTR_ACT_DUMP") != "" {
		_ = os.WriteFile(filepath.Join(os.Getenv("PLATTR_ACT_DUMP"), fmt.Sprintf("%s-%d.log", event, time.Now().UnixNano())), out, 0o644)
	}
	return actRun{code, string(out)}
}

// teamSettings are what the README tells a team to set.
func teamSettings() (vars, secrets map[string]string) {
	return map[string]string{"PLATTR_ENV_REPO": "acme/env"},
		map[string]string{"PLATTR_ENV_REPO_TOKEN": token, "GITHUB_TOKEN": "ghs_workflow-token"}
}

func pullRequest(action string, number int, headRepo, sha string) map[string]any {
	return map[string]any{"action": action, "number": number, "pull_request": map[string]any{
		"number": number, "state": map[bool]string{true: "closed", false: "open"}[action == "closed"],
		"head": map[string]any{"sha": sha, "ref": fmt.Sprintf("feature-%d", number), "repo": map[string]any{"full_name": headRepo}},
		"base": map[string]any{"ref": "main", "repo": map[string]any{"full_name": "Acme/hello"}},
	}}
}

func (w *world) envFiles() map[string]string { return gittest.Files(w.t, w.envRepo) }

var digestRef = regexp.MustCompile(`image: (ghcr\.io/acme/hello@sha256:[0-9a-f]{64})`)

func (w *world) imageIn(path string) string {
	w.t.Helper()
	m := digestRef.FindStringSubmatch(w.envFiles()[path])
	require.NotNil(w.t, m, "%s holds an image pinned by digest:\n%s", path, w.envFiles()[path])
	return m[1]
}

func (w *world) standInLog() string {
	data, _ := os.ReadFile(w.log)
	return string(data)
}

// Every event of the app's workflow, as GitHub would run it: previews for pull
// requests (not for forks), their removal, staging from main, the promotion
// pull request, the nightly clean-up. plattr-gen comes from the release, once.
func TestDeployWorkflow_EveryEvent(t *testing.T) {
	w := newWorld(t)
	vars, secrets := teamSettings()
	for i := 1; i <= 3; i++ {
		w.gh.OpenPR("Acme/hello", fmt.Sprintf("feature-%d", i), fmt.Sprintf("feature %d", i))
	}

	// A pull request is opened: tested, built, previewed.
	head := strings.TrimSpace(gittest.Git(t, w.app, "rev-parse", "HEAD"))
	r := w.run("pull_request", pullRequest("opened", 1, "Acme/hello", head), vars, secrets)
	require.Equal(t, 0, r.code, r.out)
	assert.Contains(t, r.out, "the app's tests ran")
	first := w.imageIn("envs/preview/hello-pr-1/release.yaml")
	assert.Contains(t, w.envFiles()["envs/preview/hello-pr-1/release.yaml"], head, "the preview records the pull request's commit")
	log := w.standInLog()
	assert.Contains(t, log, "login ghcr.io as ", "ghcr.io with the job's token")
	assert.Contains(t, log, "build-push push=true tags=ghcr.io/acme/hello:", "the owner lower-cased in the image name")
	assert.Equal(t, int64(1), w.downloads.Load(), "plattr-gen downloaded once")
	assert.Contains(t, r.out, "has no signature of checksums.txt: checked against the checksums only")

	// New commits on the pull request: a new image in the same preview.
	w.write("main.go", "package main\n\nfunc main() {}\n")
	head = w.commit("more work")
	r = w.run("pull_request", pullRequest("synchronize", 1, "Acme/hello", head), vars, secrets)
	require.Equal(t, 0, r.code, r.out)
	second := w.imageIn("envs/preview/hello-pr-1/release.yaml")
	assert.NotEqual(t, first, second, "the preview runs the new image")

	// A pull request from a fork: tested, but no secrets, no image, no preview.
	commits := gittest.CommitCount(t, w.envRepo)
	r = w.run("pull_request", pullRequest("opened", 2, "mallory/hello", head), vars, map[string]string{})
	require.Equal(t, 0, r.code, r.out)
	assert.Contains(t, r.out, "comes from the fork mallory/hello")
	assert.Contains(t, r.out, "the app's tests ran")
	assert.Equal(t, commits, gittest.CommitCount(t, w.envRepo), "nothing is committed for a fork")

	// The main branch: staging.
	r = w.run("push", map[string]any{"ref": "refs/heads/main", "after": head}, vars, secrets)
	require.Equal(t, 0, r.code, r.out)
	assert.Equal(t, second, w.imageIn("envs/staging/hello/release.yaml"), "staging runs what was built from main")

	// Run workflow: the promotion pull request in the env repo.
	r = w.run("workflow_dispatch", map[string]any{"inputs": map[string]any{"from": "staging", "to": "uat"}}, vars, secrets)
	require.Equal(t, 0, r.code, r.out)
	prs := w.gh.PRs("acme/env")
	require.Len(t, prs, 1, r.out)
	assert.Equal(t, "plattr/promote-uat-hello", prs[0].Head)
	assert.Contains(t, prs[0].Body, second[strings.Index(second, "sha256:"):][:19], "the body names the image promoted")

	// Closed: the preview goes.
	r = w.run("pull_request", pullRequest("closed", 1, "Acme/hello", head), vars, secrets)
	require.Equal(t, 0, r.code, r.out)
	for path := range w.envFiles() {
		assert.NotContains(t, path, "hello-pr-1", "the preview of a closed pull request is removed")
	}

	// The nightly clean-up removes previews whose pull request closed without an event.
	r = w.run("pull_request", pullRequest("opened", 3, "Acme/hello", head), vars, secrets)
	require.Equal(t, 0, r.code, r.out)
	require.Contains(t, w.envFiles(), "envs/preview/hello-pr-3/release.yaml")
	w.gh.ClosePR("Acme/hello", 3)
	r = w.run("schedule", map[string]any{"schedule": "17 3 * * *"}, vars, secrets)
	require.Equal(t, 0, r.code, r.out)
	assert.NotContains(t, w.envFiles(), "envs/preview/hello-pr-3/release.yaml", r.out)

	assert.Equal(t, int64(1), w.downloads.Load(), "every later job found plattr-gen in the runner's tool cache")
}

// A team that forgot a setting is told which, before anything is built or committed.
func TestDeployWorkflow_MissingSettings(t *testing.T) {
	w := newWorld(t)
	vars, secrets := teamSettings()
	head := strings.TrimSpace(gittest.Git(t, w.app, "rev-parse", "HEAD"))
	commits := gittest.CommitCount(t, w.envRepo)

	// plattr init without --env-repo, and no PLATTR_ENV_REPO variable.
	var out bytes.Buffer
	require.Equal(t, 0, plattrcli.Main(context.Background(), []string{"init", "--dir", w.app, "--force"}, plattrcli.IO{Out: &out, Err: &out}))
	w.commit("no env repo")
	r := w.run("push", map[string]any{"ref": "refs/heads/main", "after": head}, map[string]string{}, secrets)
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.out, "env-repo is empty: set the repository variable PLATTR_ENV_REPO")
	assert.NotContains(t, w.standInLog(), "build-push", "nothing was built")

	r = w.run("push", map[string]any{"ref": "refs/heads/main", "after": head}, vars, map[string]string{"GITHUB_TOKEN": "ghs_x"})
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.out, "the secret PLATTR_ENV_REPO_TOKEN is missing")
	assert.NotContains(t, w.standInLog(), "build-push", "nothing was built")
	assert.Equal(t, commits, gittest.CommitCount(t, w.envRepo), "nothing was committed")
}

// An archive that does not match the release's checksums is refused: no
// plattr-gen runs, nothing is committed.
func TestDeployWorkflow_TamperedRelease(t *testing.T) {
	w := newWorld(t)
	vars, secrets := teamSettings()
	bin := filepath.Join(t.TempDir(), "evil")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\necho plattr-gen "+w.version+" \n"), 0o755))
	// checksums.txt of one archive, and another archive served.
	w.publish(bin, "appended by whoever controls the download")
	commits := gittest.CommitCount(t, w.envRepo)
	r := w.run("push", map[string]any{"ref": "refs/heads/main"}, vars, secrets)
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.out, "does not match checksums.txt")
	assert.Equal(t, commits, gittest.CommitCount(t, w.envRepo))
}

// The test can fail: with the registry default broken as it once was (an
// owner's capitals kept in the image name), the run fails where Docker would.
func TestDeployWorkflow_BrokenRegistryDefaultFails(t *testing.T) {
	w := newWorld(t)
	vars, secrets := teamSettings()
	sabotaged := t.TempDir()
	data, err := os.ReadFile(filepath.Join(w.root, ".github", "workflows", "deploy.yml"))
	require.NoError(t, err)
	const lower = "          registry=${registry,,}   # image references are lower case; owners may not be\n"
	require.Contains(t, string(data), lower)
	require.NoError(t, os.MkdirAll(filepath.Join(sabotaged, ".github", "workflows"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(sabotaged, ".github", "workflows", "deploy.yml"),
		[]byte(strings.Replace(string(data), lower, "", 1)), 0o644))
	w.plattrRef = sabotaged
	r := w.run("push", map[string]any{"ref": "refs/heads/main"}, vars, secrets)
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.out, "ghcr.io/Acme", "the capitals of the owner are what fails")
	_, staged := w.envFiles()["envs/staging/hello/release.yaml"]
	assert.False(t, staged)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built != "" {
		os.RemoveAll(filepath.Dir(built))
	}
	os.Exit(code)
}

// An ECR registry: the role assumed through OIDC in the registry's region, ECR's
// login, the image pushed there; no ghcr.io login.
func TestDeployWorkflow_ECR(t *testing.T) {
	w := newWorld(t)
	vars, secrets := teamSettings()
	const registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme"
	var out bytes.Buffer
	require.Equal(t, 0, plattrcli.Main(context.Background(), []string{"init", "--dir", w.app, "--env-repo", "acme/env",
		"--registry", registry, "--force"}, plattrcli.IO{Out: &out, Err: &out}), out.String())
	head := w.commit("ECR")
	vars["PLATTR_AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/push"
	r := w.run("push", map[string]any{"ref": "refs/heads/main", "after": head}, vars, secrets)
	require.Equal(t, 0, r.code, r.out)
	log := w.standInLog()
	assert.Contains(t, log, "aws assume arn:aws:iam::123456789012:role/push in eu-west-1")
	assert.Contains(t, log, "ecr-login")
	assert.Contains(t, log, "build-push push=true tags="+registry+"/hello:")
	assert.NotContains(t, log, "login ghcr.io")
	assert.Contains(t, w.envFiles()["envs/staging/hello/release.yaml"], "image: "+registry+"/hello@sha256:")

	// Without the role: named, before anything is built.
	delete(vars, "PLATTR_AWS_ROLE_ARN")
	r = w.run("push", map[string]any{"ref": "refs/heads/main", "after": head}, vars, secrets)
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.out, "pass aws-role-arn")
}

// Every uses: of Plattr's workflows and actions, and of what plattr init of a
// release writes, names a commit (local actions aside).
func TestEveryUsesPinnedByCommit(t *testing.T) {
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	require.NoError(t, err)
	actions, err := filepath.Glob(filepath.Join(root, ".github", "actions", "*", "action.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, actions)
	count := 0
	for _, f := range append(files, actions...) {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range usesLine.FindAllStringSubmatch(string(data), -1) {
			count++
			assert.Regexp(t, `^[0-9a-f]{40}$`, m[3], "%s: %s%s@%s is not pinned by commit", filepath.Base(f), m[1], m[2], m[3])
		}
	}
	assert.Greater(t, count, 10)
}
