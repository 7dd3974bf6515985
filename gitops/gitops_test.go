package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/internal/gittest"
	"github.com/plattr/plattr/ops"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testConfig(repoURL string) *generator.Config {
	return generator.DefaultConfig(repoURL, "apps.example.com", []string{"staging", "uat", "prod"})
}

// initRepo makes a bare repo holding a freshly initialised env repo.
func initRepo(t *testing.T, dir string) string {
	t.Helper()
	repo := gittest.BareRepo(t, dir)
	r, err := Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	require.True(t, r.Head().IsZero(), "a new repo has no head")
	op, err := ops.NewInit(testConfig("https://example.com/env.git"))
	require.NoError(t, err)
	var plan ops.Plan
	res, err := r.Apply(context.Background(), ops.Change(op.Plan, &plan), ApplyOptions{})
	require.NoError(t, err)
	require.False(t, res.Commit.IsZero())
	return repo
}

func renderChange(t *testing.T, app, image string) Change {
	m, err := manifest.Parse("plattr.yaml", []byte("name: "+app+"\ndatabase:\n  enabled: true\n"))
	require.NoError(t, err)
	img, err := generator.ParseImage(image, false)
	require.NoError(t, err)
	op := ops.Render{Release: generator.Release{Manifest: m, Image: img, Env: "staging"}, Branch: "main"}
	var plan ops.RenderPlan
	return ops.Change(op.Plan, &plan)
}

func TestRepo_InitAndRender(t *testing.T) {
	repo := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	files := gittest.Files(t, repo)
	assert.Contains(t, files, "plattr-env.yaml")
	assert.Contains(t, files, "bootstrap/staging.yaml")
	assert.Contains(t, files, "envs/prod/apps/kustomization.yaml")

	r, err := Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	res, err := r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/hello@"+digest), ApplyOptions{})
	require.NoError(t, err)
	assert.Equal(t, res.Commit.String(), gittest.Git(t, repo, "rev-parse", "main"), "the remote branch is at the new commit")
	assert.Equal(t, 2, gittest.CommitCount(t, repo))
	files = gittest.Files(t, repo)
	assert.Contains(t, files["envs/staging/hello/release.yaml"], "image: r.example.com/hello@"+digest)
	assert.Contains(t, files["envs/staging/apps/kustomization.yaml"], "- hello.yaml")
	assert.Equal(t, "hello: deploy sha256:0123456789ab to staging", gittest.Git(t, repo, "log", "-1", "--format=%s", "main"))
	// git itself finds the repo sound: every object is there and well-formed.
	gittest.Git(t, repo, "fsck", "--strict")
	assert.ElementsMatch(t, []string{"envs/staging/apps/hello.yaml", "envs/staging/apps/kustomization.yaml",
		"envs/staging/hello/env.yaml", "envs/staging/hello/kustomization.yaml", "envs/staging/hello/release.yaml"}, res.Changed)

	// The same render again changes nothing and makes no commit.
	r2, err := Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	res, err = r2.Apply(context.Background(), renderChange(t, "hello", "r.example.com/hello@"+digest), ApplyOptions{})
	require.NoError(t, err)
	assert.True(t, res.Commit.IsZero(), "re-render is a no-op")
	assert.Empty(t, res.Changed)
	assert.Equal(t, 2, gittest.CommitCount(t, repo))
}

func TestRepo_EnvPatchEditedByPersonSurvives(t *testing.T) {
	repo := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r, err := Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	_, err = r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/hello@"+digest), ApplyOptions{})
	require.NoError(t, err)

	work := gittest.Clone(t, repo)
	envFile := filepath.Join(work, "envs/staging/hello/env.yaml")
	data, err := os.ReadFile(envFile)
	require.NoError(t, err)
	edited := strings.Replace(string(data), "replicas: 1", "replicas: 4", 1) + "# tuned by a person\n"
	require.NoError(t, os.WriteFile(envFile, []byte(edited), 0o644))
	gittest.Git(t, work, "commit", "-qam", "staging: 4 replicas of hello")
	gittest.Git(t, work, "push", "-q", "origin", "main")

	other := strings.Replace(digest, "0123", "4567", 1)
	r, err = Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	res, err := r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/hello@"+other), ApplyOptions{})
	require.NoError(t, err)
	require.False(t, res.Commit.IsZero())
	files := gittest.Files(t, repo)
	assert.Equal(t, edited, files["envs/staging/hello/env.yaml"], "env.yaml is owned by people")
	assert.Contains(t, files["envs/staging/hello/release.yaml"], other)
}

func TestRepo_SymlinkCannotRedirectWrite(t *testing.T) {
	repo := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	work := gittest.Clone(t, repo)
	require.NoError(t, os.MkdirAll(filepath.Join(work, "envs/prod/hello"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(work, "envs/prod/hello/keep"), []byte("prod\n"), 0o644))
	require.NoError(t, os.Symlink("../prod/hello", filepath.Join(work, "envs/staging/hello")))
	gittest.Git(t, work, "add", "-A")
	gittest.Git(t, work, "commit", "-qm", "a hostile link")
	gittest.Git(t, work, "push", "-q", "origin", "main")
	before := gittest.Git(t, repo, "rev-parse", "main")

	r, err := Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	_, err = r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/hello@"+digest), ApplyOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnsafeEntry)
	assert.Contains(t, err.Error(), `env repo entry "envs/staging/hello" is a symbolic link`)
	assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"), "nothing was committed")
	assert.NotContains(t, gittest.Files(t, repo), "envs/prod/hello/release.yaml", "prod was not written through the link")
}

func TestRepo_NonBareCheckout(t *testing.T) {
	bare := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	work := gittest.Clone(t, bare)
	r, err := Open(context.Background(), work, generator.Validate)
	require.NoError(t, err)
	_, err = r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/hello@"+digest), ApplyOptions{})
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(work, "envs/staging/hello/release.yaml"))
	require.NoError(t, err, "the working copy's files follow its branch")
	assert.Contains(t, string(data), digest)
	assert.Empty(t, gittest.Git(t, work, "status", "--porcelain"), "and it is clean")
}

func TestRepo_ConcurrentRendersOverHTTP(t *testing.T) {
	root := t.TempDir()
	initRepo(t, filepath.Join(root, "env.git"))
	srv := gittest.Serve(t, root, "", "")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	attempts := make([]int, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			r, err := Open(context.Background(), srv.URL+"/env.git", generator.Validate, WithAllowHTTP())
			if err != nil {
				errs[i] = err
				return
			}
			res, err := r.Apply(context.Background(), renderChange(t, fmt.Sprintf("app%d", i), "r.example.com/x@"+digest),
				ApplyOptions{MaxAttempts: 30, Backoff: 20 * time.Millisecond})
			errs[i], attempts[i] = err, res.Attempts
		}(i)
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "render %d", i)
	}
	repo := filepath.Join(root, "env.git")
	assert.Equal(t, 1+n, gittest.CommitCount(t, repo), "every render is one commit, none lost")
	files := gittest.Files(t, repo)
	kust := files["envs/staging/apps/kustomization.yaml"]
	for i := 0; i < n; i++ {
		assert.Contains(t, files, fmt.Sprintf("envs/staging/app%d/release.yaml", i))
		assert.Contains(t, kust, fmt.Sprintf("- app%d.yaml\n", i), "the apps list holds every app")
	}
	gittest.Git(t, repo, "fsck", "--strict")
	total := 0
	for _, a := range attempts {
		total += a
	}
	t.Logf("%d renders took %d pushes in all", n, total)
}

func TestRepo_StaleHeadIsRetriedNotForced(t *testing.T) {
	repo := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	a, err := Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	b, err := Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	_, err = a.Apply(context.Background(), renderChange(t, "alpha", "r.example.com/x@"+digest), ApplyOptions{})
	require.NoError(t, err)
	// b still holds the old head: its first push must be refused, then retried.
	res, err := b.Apply(context.Background(), renderChange(t, "beta", "r.example.com/x@"+digest), ApplyOptions{Backoff: time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Attempts)
	files := gittest.Files(t, repo)
	assert.Contains(t, files, "envs/staging/alpha/release.yaml", "the first push is kept")
	assert.Contains(t, files, "envs/staging/beta/release.yaml")
	assert.Contains(t, files["envs/staging/apps/kustomization.yaml"], "- alpha.yaml\n- beta.yaml\n", "the second render was recomputed on the new head")
}

func TestRepo_PushRejectedWithoutConflictIsAnError(t *testing.T) {
	repo := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	// A server-side hook refuses every update: not a race, so no retry.
	hook := filepath.Join(repo, "hooks", "pre-receive")
	require.NoError(t, os.WriteFile(hook, []byte("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n"), 0o755))
	r, err := Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	res, err := r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/x@"+digest), ApplyOptions{})
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrConflict))
	assert.Equal(t, 1, res.Attempts)
	assert.Equal(t, 1, gittest.CommitCount(t, repo))
}

func TestRepo_CredentialsNeverPrinted(t *testing.T) {
	root := t.TempDir()
	initRepo(t, filepath.Join(root, "env.git"))
	srv := gittest.Serve(t, root, "ci", "right-token")
	host := strings.TrimPrefix(srv.URL, "http://")

	_, err := Open(context.Background(), "http://ci:wrong-s3cret@"+host+"/env.git", generator.Validate, WithAllowHTTP())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "wrong-s3cret")
	assert.Contains(t, err.Error(), "PLATTR_GIT_TOKEN", "the error says what to do")

	_, err = Open(context.Background(), srv.URL+"/env.git", generator.Validate, WithToken("another-s3cret"), WithAllowHTTP())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "another-s3cret")

	r, err := Open(context.Background(), "http://ci:right-token@"+host+"/env.git", generator.Validate, WithAllowHTTP())
	require.NoError(t, err)
	assert.NotContains(t, r.URL(), "right-token")
	res, err := r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/x@"+digest), ApplyOptions{})
	require.NoError(t, err, "the credentials in the URL authenticate the push")
	assert.False(t, res.Commit.IsZero())
}

func TestRepo_InvalidChangeIsNeverCommitted(t *testing.T) {
	repo := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r, err := Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	_, err = r.Apply(context.Background(), func(generator.Tree) (generator.Files, string, error) {
		return generator.Files{"envs/staging/apps/kustomization.yaml": []byte("resources:\n- missing.yaml\n")}, "broken\n", nil
	}, ApplyOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kustomize build envs/staging/apps")
	assert.Equal(t, 1, gittest.CommitCount(t, repo))
}

func TestRepo_DeleteRemovesEmptyFolders(t *testing.T) {
	repo := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r, err := Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	before := gittest.Git(t, repo, "rev-parse", "main^{tree}")
	_, err = r.Apply(context.Background(), func(generator.Tree) (generator.Files, string, error) {
		return generator.Files{"notes/a/b.txt": []byte("x\n")}, "add\n", nil
	}, ApplyOptions{})
	require.NoError(t, err)
	_, err = r.Apply(context.Background(), func(generator.Tree) (generator.Files, string, error) {
		return generator.Files{"notes/a/b.txt": nil}, "remove\n", nil
	}, ApplyOptions{})
	require.NoError(t, err)
	assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main^{tree}"), "removing the only file removes its folders: the tree is as before")
}

// A clone fetches trees only when the server serves partial clones (as GitHub
// does), then the few blobs a render reads; other servers get a whole depth-1
// fetch; a server that advertises filters but refuses blobs by id falls back to it.
func TestRepo_PartialClone(t *testing.T) {
	cases := map[string]struct {
		reason      string
		config      [][2]string
		partial     bool
		blobsAtOpen bool
	}{
		"github-like":   {"filter and any object by id", [][2]string{{"uploadpack.allowFilter", "true"}, {"uploadpack.allowAnySHA1InWant", "true"}}, true, false},
		"plain server":  {"no partial clone", [][2]string{{"uploadpack.allowFilter", "false"}}, false, true},
		"refuses blobs": {"blobs by id are refused: fall back to the whole head", [][2]string{{"uploadpack.allowFilter", "true"}, {"uploadpack.allowAnySHA1InWant", "true"}}, true, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			repo := initRepo(t, filepath.Join(root, "env.git"))
			// Content the render never reads: 20 apps, in one commit.
			r, err := Open(context.Background(), repo, generator.Validate)
			require.NoError(t, err)
			_, err = r.Apply(context.Background(), func(tree envfiles.Tree) (envfiles.Files, string, error) {
				files := envfiles.Files{}
				for i := 0; i < 20; i++ {
					f, _, err := renderChange(t, fmt.Sprintf("other%d", i), "r.example.com/x@"+digest)(envfiles.Overlay{Base: tree, Changes: files})
					if err != nil {
						return nil, "", err
					}
					maps.Copy(files, f)
				}
				return files, "release 20 apps\n", nil
			}, ApplyOptions{})
			require.NoError(t, err)
			for _, kv := range tc.config {
				gittest.Git(t, repo, "config", kv[0], kv[1])
			}
			h := gittest.Handler(t, root, "", "")
			var uploadPacks atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/git-upload-pack") {
					uploadPacks.Add(1)
				}
				if name == "refuses blobs" && strings.HasSuffix(req.URL.Path, "/git-upload-pack") {
					body, _ := io.ReadAll(req.Body)
					if !bytes.Contains(body, []byte("deepen")) {
						http.Error(w, "upload-pack: not our ref", http.StatusForbidden)
						return
					}
					req.Body = io.NopCloser(bytes.NewReader(body))
				}
				h.ServeHTTP(w, req)
			}))
			defer srv.Close()
			r, err = Open(context.Background(), srv.URL+"/env.git", generator.Validate, WithAllowHTTP())
			require.NoError(t, err)
			assert.Equal(t, tc.partial, r.partial, tc.reason)
			assert.Equal(t, tc.blobsAtOpen, len(r.st.Blobs) > 0, "blobs fetched by the clone")
			newDigest := strings.Replace(digest, "0123", "9999", 1)
			before := uploadPacks.Load()
			res, err := r.Apply(context.Background(), renderChange(t, "other7", "r.example.com/x@"+newDigest), ApplyOptions{})
			require.NoError(t, err, tc.reason)
			if name == "github-like" {
				assert.Equal(t, int32(1), uploadPacks.Load()-before, "a release of one app fetches what it reads (plattr-env.yaml, the app's folder) in one request")
			}
			require.False(t, res.Commit.IsZero())
			if name == "refuses blobs" {
				assert.False(t, r.partial, "the refused blob fetch fell back to the whole head")
			}
			if name == "github-like" {
				assert.LessOrEqual(t, len(r.st.Blobs), 10, "only the blobs a release of one app reads and writes are in memory")
			}
			files := gittest.Files(t, repo)
			assert.Contains(t, files["envs/staging/other7/release.yaml"], newDigest)
			// A new app reads the whole apps folder to rebuild its list.
			_, err = r.Apply(context.Background(), renderChange(t, "hello", "r.example.com/hello@"+digest), ApplyOptions{})
			require.NoError(t, err, tc.reason)
			files = gittest.Files(t, repo)
			assert.Contains(t, files["envs/staging/apps/kustomization.yaml"], "- hello.yaml\n- other0.yaml\n")
			gittest.Git(t, repo, "fsck", "--strict")
		})
	}
}

// A change that names a folder as if it were a file, to delete or to write it,
// is an error: it was skipped, and a preview delete reported "removed" while a
// subfolder of the preview stayed. Nothing is committed.
func TestRepo_ChangeNamingAFolderRefused(t *testing.T) {
	repo := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	r, err := Open(context.Background(), repo, generator.Validate)
	require.NoError(t, err)
	_, err = r.Apply(context.Background(), func(generator.Tree) (generator.Files, string, error) {
		return generator.Files{"notes/a/b.txt": []byte("x\n"), "notes/c.txt": []byte("y\n")}, "add\n", nil
	}, ApplyOptions{})
	require.NoError(t, err)
	before := gittest.Git(t, repo, "rev-parse", "main")
	for _, data := range [][]byte{nil, []byte("z\n")} {
		res, err := r.Apply(context.Background(), func(generator.Tree) (generator.Files, string, error) {
			return generator.Files{"notes/a": data, "notes/c.txt": nil}, "remove\n", nil
		}, ApplyOptions{})
		require.Error(t, err)
		verb := map[bool]string{true: "delete", false: "write"}[data == nil]
		assert.Contains(t, err.Error(), "cannot "+verb+" notes/a as a file: it is a folder in the env repo")
		assert.True(t, res.Commit.IsZero())
		assert.Equal(t, before, gittest.Git(t, repo, "rev-parse", "main"), "nothing was committed")
	}
}

// FileAt reads a file as of any commit History read, including one that did
// not change it; a commit beyond the history read, or a file it lacks, is not
// found.
func TestRepo_FileAt(t *testing.T) {
	repo := initRepo(t, filepath.Join(t.TempDir(), "env.git"))
	ctx := context.Background()
	r, err := Open(ctx, repo, generator.Validate)
	require.NoError(t, err)
	_, err = r.Apply(ctx, renderChange(t, "hello", "r.example.com/hello@"+digest), ApplyOptions{})
	require.NoError(t, err)
	first := gittest.Git(t, repo, "rev-parse", "main")
	_, err = r.Apply(ctx, renderChange(t, "other", "r.example.com/other@"+digest), ApplyOptions{})
	require.NoError(t, err)
	other := "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	_, err = r.Apply(ctx, renderChange(t, "hello", "r.example.com/hello@"+other), ApplyOptions{})
	require.NoError(t, err)
	untouched := gittest.Git(t, repo, "rev-parse", "main~1") // rendered "other" only

	fresh, err := Open(ctx, repo, generator.Validate)
	require.NoError(t, err)
	_, err = fresh.FileAt(ctx, first, "envs/staging/hello/release.yaml")
	assert.ErrorIs(t, err, fs.ErrNotExist, "not read yet: the clone is shallow")
	_, err = fresh.History(ctx, "envs/staging/hello/release.yaml", 10)
	require.NoError(t, err)
	data, err := fresh.FileAt(ctx, untouched, "envs/staging/hello/release.yaml")
	require.NoError(t, err)
	assert.Contains(t, string(data), "image: r.example.com/hello@"+digest, "as of a commit that did not change it")
	_, err = fresh.FileAt(ctx, first, "envs/staging/other/release.yaml")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = fresh.FileAt(ctx, "HEAD", "envs/staging/hello/release.yaml")
	assert.ErrorContains(t, err, "is not a full commit id")
	_, err = fresh.FileAt(ctx, first, "../x")
	assert.Error(t, err)
}
