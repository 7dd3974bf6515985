// Package twoclusters runs the loop with production in a cluster of its own: Argo
// CD and staging, uat and previews on the hub, prod on a spoke with its own API
// server, operator, PostgreSQL and Redis, reached by Argo CD through a cluster
// Secret. Its own test binary: it starts its own hub.
package twoclusters

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/plattr/plattr/internal/e2e"
	"github.com/plattr/plattr/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const spoke = "prod-eu"

func TestTwoClusters(t *testing.T) {
	l := e2e.NewLoop(t, e2e.Options{
		InitArgs: []string{"--envs", "staging,uat,prod", "--cluster", "prod=" + spoke},
		Spokes:   map[string][]string{spoke: {"prod"}},
		Roots:    []string{"staging", "uat", "prod", "preview"},
	})
	hub, prod := l.Hub, l.Site("prod")

	l.Step("render hello into staging, and a preview of pull request 1 (both on the hub)")
	sha := l.PlattrGen("render", "--app-dir", l.Example, "--env", "staging", "--image", e2e.Digest('a'), "--repo", l.RepoURL)
	l.Converge("staging", "hello", sha, e2e.Digest('a'))
	l.CheckProvisioned("staging", "hello")
	sha = l.PlattrGen("render", "--app-dir", l.Example, "--pr", "1", "--image", e2e.Digest('b'), "--repo", l.RepoURL)
	l.Converge("preview", "hello-pr-1", sha, e2e.Digest('b'))

	l.Step("promote hello to uat: pull request, merge")
	l.PlattrGen("promote", "--app", "hello", "--from", "staging", "--to", "uat", "--repo", l.RepoURL, "--github-repo", e2e.EnvRepo)
	sha = l.Merge("plattr/promote-uat-hello")
	l.Converge("uat", "hello", sha, e2e.Digest('a'))

	l.Step("promote hello to prod before " + spoke + " is registered with Argo CD: Argo CD shows why it cannot deploy")
	l.PlattrGen("promote", "--app", "hello", "--from", "uat", "--to", "prod", "--repo", l.RepoURL, "--github-repo", e2e.EnvRepo)
	sha = l.Merge("plattr/promote-prod-hello")
	l.Refused("prod", "hello", sha, "there are no clusters with this name: "+spoke)

	l.Step("register " + spoke + " with Argo CD (its cluster Secret): prod deploys there")
	l.RegisterSpoke(spoke)
	l.Converge("prod", "hello", sha, e2e.Digest('a'))
	l.CheckProvisioned("prod", "hello")
	l.CheckAbsent(hub, "prod", "hello")
	for _, env := range []string{"staging", "uat"} {
		l.CheckAbsent(prod, env, "hello")
	}
	assert.Equal(t, 1, l.Count(prod, "SELECT count(*) FROM pg_database WHERE datname LIKE '%hello%'"), "the spoke's PostgreSQL holds prod's database only")

	l.Step("a second release, staging → uat → prod")
	sha = l.PlattrGen("render", "--app-dir", l.Example, "--env", "staging", "--image", e2e.Digest('c'), "--repo", l.RepoURL)
	l.Converge("staging", "hello", sha, e2e.Digest('c'))
	for _, p := range [][2]string{{"staging", "uat"}, {"uat", "prod"}} {
		l.PlattrGen("promote", "--app", "hello", "--from", p[0], "--to", p[1], "--repo", l.RepoURL, "--github-repo", e2e.EnvRepo)
		sha = l.Merge("plattr/promote-" + p[1] + "-hello")
		l.Converge(p[1], "hello", sha, e2e.Digest('c'))
	}

	l.Step("roll prod back one release: pull request, merge; staging and uat keep theirs")
	l.PlattrGen("rollback", "--app", "hello", "--env", "prod", "--repo", l.RepoURL, "--github-repo", e2e.EnvRepo)
	sha = l.Merge("plattr/rollback-prod-hello")
	l.Converge("prod", "hello", sha, e2e.Digest('a'))
	assert.Equal(t, e2e.Digest('c'), l.Image("staging", "hello"))
	assert.Equal(t, e2e.Digest('c'), l.Image("uat", "hello"))

	l.Step("commit by hand, past validation, children of prod that deploy elsewhere or something else: the projects refuse them")
	// Argo CD's default project locked down, as overlays/hub does.
	var def argov1.AppProject
	require.NoError(t, hub.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: l.Argo.Namespace, Name: "default"}, &def))
	def.Spec.Destinations, def.Spec.SourceRepos, def.Spec.ClusterResourceWhitelist = nil, nil, nil
	require.NoError(t, hub.C.Client.Update(l.Ctx, &def))
	files := map[string]string{"envs/prod/apps/kustomization.yaml": "resources: [hello.yaml, elsewhere.yaml, something.yaml, unprojected.yaml]\n"}
	for _, f := range []struct{ name, project, dest string }{
		{"elsewhere", "plattr-prod", "server: https://kubernetes.default.svc\n    namespace: staging"},
		{"something", "plattr-prod", "name: " + spoke + "\n    namespace: prod"},
		{"unprojected", "default", "name: " + spoke + "\n    namespace: prod"},
	} {
		files["envs/prod/apps/"+f.name+".yaml"] = fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: prod-%s
  namespace: argocd
spec:
  project: %s
  source:
    repoURL: %s
    targetRevision: main
    path: envs/prod/%s
  destination:
    %s
  syncPolicy:
    automated: {}
`, f.name, f.project, l.RepoURL, f.name, f.dest)
		files["envs/prod/"+f.name+"/kustomization.yaml"] = "resources: [configmap.yaml]\n"
		files["envs/prod/"+f.name+"/configmap.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + f.name + "\ndata:\n  stolen: \"yes\"\n"
	}
	sha = l.CommitByHand("prod: deploy something else, elsewhere", files)
	l.Refused("prod", "elsewhere", sha, "application destination server 'https://kubernetes.default.svc' and namespace 'staging' do not match any of the allowed destinations in project 'plattr-prod'")
	l.Refused("prod", "something", sha, "resource :ConfigMap is not permitted in project plattr-prod")
	l.Refused("prod", "unprojected", sha, "in project 'default'")
	for _, c := range []struct {
		site     *e2e.Site
		ns, name string
	}{{hub, "staging", "elsewhere"}, {prod, "prod", "something"}, {prod, "prod", "unprojected"}} {
		var cm corev1.ConfigMap
		err := c.site.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: c.ns, Name: c.name}, &cm)
		assert.True(t, apierrors.IsNotFound(err), "ConfigMap %s/%s on %s: %v", c.ns, c.name, c.site, err)
	}

	l.Step("close pull request 1: delete its preview (on the hub)")
	sha = l.PlattrGen("preview", "delete", "--app", "hello", "--pr", "1", "--repo", l.RepoURL)
	l.Gone("preview", "hello-pr-1", sha)

	l.CheckNoLeaks()
	l.Summary()
}
