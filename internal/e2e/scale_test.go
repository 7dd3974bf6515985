package e2e

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/internal/gittest"
	"github.com/plattr/plattr/internal/testenv"
)

// scaleEnvs are the environments the scale benchmark fills.
var scaleEnvs = []string{"staging", "uat", "prod"}

// TestArgoCDAtScale is a benchmark (make bench-e2e-scale): the loop of
// TestEndToEnd with the real Argo CD, first with one app in the env repo, then
// with PLATTR_E2E_SCALE apps in each of staging, uat and prod besides it. Each
// time it releases hello into staging as CI does, asks Argo CD to refresh as
// the git host's webhook would, and measures commit → synced → Ready, and the
// CPU the repo server and application controller spend on one commit: over a
// window of one Argo CD poll of every Application after the commit, less the
// same window with no commit. It prints the two runs side by side, as ratios.
func TestArgoCDAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PLATTR_E2E_SCALE"))
	if n <= 0 {
		t.Skip("a benchmark: PLATTR_E2E_SCALE=<apps per environment> runs it (make bench-e2e-scale)")
	}
	// Argo CD polls every Application each minute (180 s by default): a window
	// of one poll after a commit holds all the commit's work, with no jitter.
	const resync = 60 * time.Second
	window := resync + 20*time.Second
	l := NewLoop(t, Options{Roots: scaleEnvs, ArgoCDResync: resync})
	l.Timeout = 5 * time.Minute

	l.Step("render hello into staging: the only app in the env repo")
	sha := l.PlattrGen("render", "--app-dir", l.Example, "--env", "staging", "--image", Digest('a'), "--repo", l.RepoURL)
	l.Converge("staging", "hello", sha, Digest('a'))
	one := l.probeReleases("1 app", "123", window)

	// bases/environments' quota fits about 250 apps of the default size in
	// staging and uat (200 pods; 64Gi of memory limits at 256Mi each): a
	// platform team with more apps raises all of it, as here.
	for _, env := range scaleEnvs {
		quota := &corev1.ResourceQuota{}
		require.NoError(t, l.Hub.C.Client.Get(l.Ctx, client.ObjectKey{Namespace: env, Name: "plattr-quota"}, quota))
		patch := client.MergeFrom(quota.DeepCopy())
		times := int64(n/100 + 1)
		for name, q := range quota.Spec.Hard {
			quota.Spec.Hard[name] = *resource.NewMilliQuantity(q.MilliValue()*times, q.Format)
		}
		require.NoError(t, l.Hub.C.Client.Patch(l.Ctx, quota, patch))
	}
	l.Step(fmt.Sprintf("commit %d apps into each of %s (rendered by the generator, one commit)", n, strings.Join(scaleEnvs, ", ")))
	files := scaleRepo(t, l, n)
	cpu0, t0 := testenv.ProcessCPU(), time.Now()
	sha = l.CommitByHand(fmt.Sprintf("%d apps in each of %s", n, strings.Join(scaleEnvs, ", ")), files)
	for _, env := range scaleEnvs {
		l.Refresh(env, "")
	}
	children := len(scaleEnvs)*n + 1
	l.waitAll(sha, children, 30*time.Minute)
	fill, fillCPU := time.Since(t0), cpu0.Delta(testenv.ProcessCPU())
	l.Step(fmt.Sprintf("Argo CD synced %d child Applications, every one Healthy (the operator: Ready), %s after the commit", children, fill.Round(time.Second)))
	many := l.probeReleases(fmt.Sprintf("%d × %d apps", n, len(scaleEnvs)), "456", window)

	fmt.Printf("\n| Argo CD %s, one release of hello into staging, refresh as a webhook would | %s | %s | ratio | goal |\n|---|---|---|---|---|\n",
		testenv.ArgoCDVersion, one.what, many.what)
	row := func(what string, a, b float64, unit, goal string) {
		fmt.Printf("| %s | %.2f %s | %.2f %s | **%s** | %s |\n", what, a, unit, b, unit, testenv.Ratio(b, a), goal)
	}
	row("commit → child synced (median of 3)", one.synced.Seconds(), many.synced.Seconds(), "s", "—")
	row("commit → Ready (median of 3)", one.ready.Seconds(), many.ready.Seconds(), "s", "≤ 2×")
	for _, p := range []string{"argocd-repo-server", "argocd-application-controller"} {
		row(p+": CPU per commit (window less idle)", one.perCommit[p], many.perCommit[p], "s", "—")
		row(p+": CPU idle, per minute", 60*one.idle[p]/window.Seconds(), 60*many.idle[p]/window.Seconds(), "s", "—")
	}
	fmt.Printf("\nthe first sync of %d child Applications (%d × %d apps and hello) until all Healthy: %s; CPU seconds by process:", children, n, len(scaleEnvs), fill.Round(time.Second))
	for _, p := range slices.Sorted(maps.Keys(fillCPU)) {
		fmt.Printf(" %s %.0f;", p, fillCPU[p])
	}
	fmt.Printf(" all %.0f (of %.0f on 2 cores)\n", fillCPU.Total(), 2*fill.Seconds())
}

// probe is what probeReleases measured.
type probe struct {
	what          string
	synced, ready time.Duration // medians
	idle          testenv.CPU   // over one window with no commit
	perCommit     testenv.CPU   // a window with a commit, less idle
}

// probeReleases releases hello into staging once per digest byte of
// releases, each converged with a refresh, and returns the medians; the last
// release is measured for CPU over window, after an idle window of the same
// length (also measured) that follows the earlier releases' window.
func (l *Loop) probeReleases(what, releases string, window time.Duration) probe {
	l.T.Helper()
	p := probe{what: what}
	var synced, ready []time.Duration
	for i, b := range []byte(releases) {
		last := i == len(releases)-1
		if last {
			l.Step(fmt.Sprintf("%s: let the earlier releases' work end (%s), then measure %s with no commit", what, window, window))
			time.Sleep(window)
			cpu0 := testenv.ProcessCPU()
			time.Sleep(window)
			p.idle = cpu0.Delta(testenv.ProcessCPU())
		}
		l.Step(fmt.Sprintf("%s: render release %d of hello into staging", what, i+1))
		cpu0, t0 := testenv.ProcessCPU(), time.Now()
		sha := l.PlattrGen("render", "--app-dir", l.Example, "--env", "staging", "--image", Digest(b), "--repo", l.RepoURL)
		l.Converge("staging", "hello", sha, Digest(b))
		m := l.timeline[len(l.timeline)-1]
		synced, ready = append(synced, m.synced), append(ready, m.ready)
		if last {
			time.Sleep(time.Until(t0.Add(window)))
			p.perCommit = p.idle.Delta(cpu0.Delta(testenv.ProcessCPU()))
		}
	}
	slices.Sort(synced)
	slices.Sort(ready)
	p.synced, p.ready = synced[len(synced)/2], ready[len(ready)/2]
	return p
}

// scaleRepo renders n apps (no backing services) into each of scaleEnvs with
// the generator, as n renders each would, and returns the files to commit.
func scaleRepo(t *testing.T, l *Loop, n int) map[string]string {
	tree := generator.MapTree{}
	for p, d := range gittest.Files(t, l.Bare) {
		tree[p] = []byte(d)
	}
	cfg, err := generator.ReadConfig(tree)
	require.NoError(t, err)
	out := map[string]string{}
	for _, env := range scaleEnvs {
		for i := range n {
			name := fmt.Sprintf("app-%03d", i)
			m, err := manifest.Parse("plattr.yaml", []byte("name: "+name+"\nport: 8080\n"))
			require.NoError(t, err)
			img, err := generator.ParseImage(fmt.Sprintf("%s-%s@sha256:%064x", imageRepo, name, i+1), false)
			require.NoError(t, err)
			files, _, err := generator.Render(cfg, generator.Release{Manifest: m, Image: img, Env: env}, tree)
			require.NoError(t, err, "%s in %s", name, env)
			for p, d := range files {
				tree[p] = d
				out[p] = string(d)
			}
		}
	}
	return out
}

// waitAll waits until Argo CD has want child Applications (the roots aside),
// each Synced and Healthy, and prints progress each half minute. The children
// commit made are synced at it once Synced; hello's is Synced already.
func (l *Loop) waitAll(commit string, want int, timeout time.Duration) {
	l.T.Helper()
	roots := map[string]bool{}
	for _, env := range scaleEnvs {
		roots[generator.RootName(env)] = true
	}
	deadline, report := time.Now().Add(timeout), time.Now()
	for {
		var apps argov1.ApplicationList
		require.NoError(l.T, l.Hub.C.Client.List(l.Ctx, &apps, client.InNamespace(l.Argo.Namespace)))
		children, synced, healthy := 0, 0, 0
		var unhealthy []string
		for _, a := range apps.Items {
			if roots[a.Name] {
				continue
			}
			children++
			if a.Status.Sync.Status == argov1.SyncStatusCodeSynced {
				synced++
			}
			if a.Status.Health.Status == "Healthy" {
				healthy++
			} else if len(unhealthy) < 3 {
				unhealthy = append(unhealthy, fmt.Sprintf("%s %s", a.Name, a.Status.Health.Status))
			}
		}
		state := fmt.Sprintf("%d child Applications of %d, %d Synced (commit %.8s), %d Healthy", children, want, synced, commit, healthy)
		if children == want && synced == want && healthy == want {
			return
		}
		if time.Now().After(deadline) {
			l.T.Fatalf("not within %s: %s; not Healthy, for instance: %s\nArgo CD application controller's log ends:\n%s",
				timeout, state, strings.Join(unhealthy, "; "), l.Argo.LogTail("argocd-application-controller", 3000))
		}
		if time.Since(report) > 30*time.Second {
			l.Step(state)
			report = time.Now()
		}
		time.Sleep(2 * time.Second)
	}
}
