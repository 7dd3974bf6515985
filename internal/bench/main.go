// Command bench measures Plattr's env repo work against the git and kustomize
// CLIs doing the same change, in the same run, on a generated env repo of
// 4,000 apps × 4 environments, and prints the ratios (make bench). It asserts
// nothing: the figures go into BENCHMARKS.md.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/ops"
)

var (
	apps      = flag.Int("apps", 4000, "apps per environment")
	rounds    = flag.Int("rounds", 7, "measured rounds per figure (the median is reported)")
	kustomize = flag.String("kustomize", "kustomize", "kustomize CLI for the baseline")
	workdir   = flag.String("workdir", "_build/bench", "scratch folder (recreated)")
	plattrGen = flag.String("plattr-gen", "bin/plattr-gen", "plattr-gen binary for the whole CI step")
)

var envs = []string{"dev", "staging", "uat", "prod"}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// usage is CPU (user+system, this process and the children it waited for) and wall time.
type usage struct{ cpu, wall time.Duration }

func cpuNow() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

func measure(f func() error) (usage, error) {
	c0, w0 := cpuNow(), time.Now()
	err := f()
	return usage{cpuNow() - c0, time.Since(w0)}, err
}

func median(us []usage) usage {
	c := make([]usage, len(us))
	copy(c, us)
	sort.Slice(c, func(i, j int) bool { return c[i].cpu < c[j].cpu })
	cpu := c[len(c)/2].cpu
	sort.Slice(c, func(i, j int) bool { return c[i].wall < c[j].wall })
	return usage{cpu, c[len(c)/2].wall}
}

func sh(dir string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return nil
}

func digest(i int) string { return fmt.Sprintf("sha256:%064x", i+1) }

func run() error {
	ctx := context.Background()
	work, err := filepath.Abs(*workdir)
	if err != nil {
		return err
	}
	os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	fmt.Printf("generating an env repo of %d apps × %d environments…\n", *apps, len(envs))
	seed := filepath.Join(work, "seed.git")
	nfiles, err := generateRepo(seed)
	if err != nil {
		return err
	}
	fmt.Printf("%d files\n\n", nfiles)

	plattrRemote := filepath.Join(work, "plattr-remote.git")
	cliRemote := filepath.Join(work, "cli-remote.git")
	cliWork := filepath.Join(work, "cli-work")
	for _, r := range []string{plattrRemote, cliRemote} {
		if err := sh(work, "git", "clone", "-q", "--bare", seed, r); err != nil {
			return err
		}
	}
	if err := sh(work, "git", "clone", "-q", cliRemote, cliWork); err != nil {
		return err
	}

	// 1. Clone, as CI does on every run.
	var cloneP, cloneG []usage
	var repo *gitops.Repo
	for i := 0; i < *rounds; i++ {
		u, err := measure(func() (err error) { repo, err = gitops.Open(ctx, plattrRemote, generator.Validate); return err })
		if err != nil {
			return err
		}
		cloneP = append(cloneP, u)
		dst := filepath.Join(work, fmt.Sprintf("clone-%d", i))
		u, err = measure(func() error {
			return sh(work, "git", "clone", "-q", "--depth", "1", "--no-checkout", "file://"+cliRemote, dst)
		})
		if err != nil {
			return err
		}
		cloneG = append(cloneG, u)
		os.RemoveAll(dst)
	}

	// 2. Render + commit one app, and 3. push it.
	m, err := manifest.Parse("plattr.yaml", []byte(appManifest("app-0042")))
	if err != nil {
		return err
	}
	cfgData, err := os.ReadFile(filepath.Join(cliWork, generator.ConfigFile))
	if err != nil {
		return err
	}
	cfg, err := generator.ParseConfig(cfgData)
	if err != nil {
		return err
	}
	var commitP, commitG, pushP, pushG []usage
	for i := 0; i < *rounds; i++ {
		img, _ := generator.ParseImage("registry.example.com/acme/app-0042@"+digest(100+i), false)
		rel := generator.Release{Manifest: m, Image: img, Env: "staging"}
		// A fresh clone each round, as in CI: the render pays for the blobs it reads.
		if repo, err = gitops.Open(ctx, plattrRemote, generator.Validate); err != nil {
			return err
		}
		base := repo.Head()
		u, err := measure(func() error {
			var plan ops.RenderPlan
			res, err := repo.Stage(ctx, ops.Change(ops.Render{Release: rel, Branch: cfg.TargetRevision}.Plan, &plan))
			if err == nil && res.Commit.IsZero() {
				err = fmt.Errorf("render changed nothing")
			}
			return err
		})
		if err != nil {
			return err
		}
		commitP = append(commitP, u)
		u, err = measure(func() error { return repo.Push(ctx, base) })
		if err != nil {
			return err
		}
		pushP = append(pushP, u)

		// The CLI pair does the same change in a checked-out working copy.
		files, _, err := generator.Render(cfg, rel, generator.MapTree{})
		if err != nil {
			return err
		}
		release := files["envs/staging/app-0042/release.yaml"]
		if err := os.WriteFile(filepath.Join(cliWork, "envs/staging/app-0042/release.yaml"), release, 0o644); err != nil {
			return err
		}
		u, err = measure(func() error {
			if err := sh(cliWork, *kustomize, "build", "envs/staging/app-0042", "-o", os.DevNull); err != nil {
				return err
			}
			return sh(cliWork, "sh", "-c", "git add -A && git commit -qm 'app-0042: deploy'")
		})
		if err != nil {
			return err
		}
		commitG = append(commitG, u)
		u, err = measure(func() error { return sh(cliWork, "git", "push", "-q", "origin", "main") })
		if err != nil {
			return err
		}
		pushG = append(pushG, u)
	}

	fmt.Printf("| work (%d apps × %d envs, %d files) | Plattr CPU | Plattr wall | baseline (same run) | baseline CPU | baseline wall | Plattr ÷ baseline CPU | Plattr ÷ baseline wall | goal |\n",
		*apps, len(envs), nfiles)
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	// 4. The whole CI step, as processes: plattr-gen render against a fresh
	// clone, checkout, kustomize build, commit and push.
	appDir := filepath.Join(work, "app")
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(appDir, "plattr.yaml"), []byte(appManifest("app-0042")), 0o644); err != nil {
		return err
	}
	var stepP, stepG []usage
	for i := 0; i < *rounds; i++ {
		img := "registry.example.com/acme/app-0042@" + digest(1000+i)
		u, err := measure(func() error {
			return sh(work, *plattrGen, "render", "--app-dir", appDir, "--env", "staging", "--image", img, "--repo", plattrRemote)
		})
		if err != nil {
			return err
		}
		stepP = append(stepP, u)
		files, _, err := generator.Render(cfg, generator.Release{Manifest: m, Image: generator.Image{Ref: img}, Env: "staging"}, generator.MapTree{})
		if err != nil {
			return err
		}
		release := filepath.Join(work, "release.yaml")
		if err := os.WriteFile(release, files["envs/staging/app-0042/release.yaml"], 0o644); err != nil {
			return err
		}
		dst := filepath.Join(work, fmt.Sprintf("ci-%d", i))
		u, err = measure(func() error {
			return sh(work, "sh", "-c", fmt.Sprintf("git clone -q --depth 1 file://%s %s && cp %s %s/envs/staging/app-0042/release.yaml && cd %s && "+
				"%s build envs/staging/app-0042 -o /dev/null && git add -A && git commit -qm deploy && git push -q origin main",
				cliRemote, dst, release, dst, dst, *kustomize))
		})
		if err != nil {
			return err
		}
		stepG = append(stepG, u)
		os.RemoveAll(dst)
	}

	report("clone the env repo (in memory, depth 1)", "`git clone --depth 1 --no-checkout`", median(cloneP), median(cloneG), "wall ≤ 1×")
	report("render + validate + commit one app", "`kustomize build` + `git add -A && git commit`", median(commitP), median(commitG), "CPU ≤ 0.1×")
	report("push that commit", "`git push`", median(pushP), median(pushG), "≤ 1.5×")
	report("the whole CI step: `plattr-gen render` process", "`git clone --depth 1` + `kustomize build` + commit + push", median(stepP), median(stepG), "—")
	fmt.Printf("\nMedians of %d rounds. CPU is user+system of this process and the child processes it waited for\n"+
		"(git-upload-pack/receive-pack for Plattr; git, kustomize and their children for the baseline).\n", *rounds)
	return nil
}

func report(what, baseline string, p, g usage, goal string) {
	fmt.Printf("| %s | %s | %s | %s | %s | %s | **%.2f×** | **%.2f×** | %s |\n",
		what, p.cpu.Round(100*time.Microsecond), p.wall.Round(100*time.Microsecond), baseline,
		g.cpu.Round(100*time.Microsecond), g.wall.Round(100*time.Microsecond),
		float64(p.cpu)/float64(g.cpu), float64(p.wall)/float64(g.wall), goal)
}

func appManifest(name string) string {
	return "name: " + name + "\nport: 8080\nhealthCheck:\n  path: /healthz\ndatabase:\n  enabled: true\nredis:\n  enabled: true\n" +
		"resources:\n  requests: {cpu: 100m, memory: 128Mi}\n"
}

// generateRepo writes the env repo with git fast-import: every app rendered by the
// generator into every environment.
func generateRepo(dir string) (int, error) {
	if err := sh(filepath.Dir(dir), "git", "init", "-q", "--bare", "-b", "main", dir); err != nil {
		return 0, err
	}
	envList := []string{}
	envList = append(envList, envs...)
	cfg := generator.DefaultConfig("https://github.com/acme/env.git", "apps.example.com", envList)
	files, err := generator.InitRepo(cfg)
	if err != nil {
		return 0, err
	}
	all := map[string][]byte{}
	for p, d := range files {
		all[p] = d
	}
	for i := 0; i < *apps; i++ {
		name := fmt.Sprintf("app-%04d", i)
		m, err := manifest.Parse("plattr.yaml", []byte(appManifest(name)))
		if err != nil {
			return 0, err
		}
		img, _ := generator.ParseImage("registry.example.com/acme/"+name+"@"+digest(i), false)
		for _, env := range envs {
			out, _, err := generator.Render(cfg, generator.Release{Manifest: m, Image: img, Env: env}, generator.MapTree{})
			if err != nil {
				return 0, err
			}
			for p, d := range out {
				if !strings.HasSuffix(p, "apps/kustomization.yaml") {
					all[p] = d
				}
			}
		}
	}
	// Each environment's apps/kustomization.yaml lists every app: render the last
	// app once more against a tree that holds the whole apps folder.
	for _, env := range envs {
		tree := generator.MapTree{}
		for p, d := range all {
			if strings.HasPrefix(p, "envs/"+env+"/apps/") {
				tree[p] = d
			}
		}
		m, _ := manifest.Parse("plattr.yaml", []byte(appManifest("app-0000")))
		img, _ := generator.ParseImage("registry.example.com/acme/app-0000@"+digest(0), false)
		out, _, err := generator.Render(cfg, generator.Release{Manifest: m, Image: img, Env: env}, tree)
		if err != nil {
			return 0, err
		}
		k := "envs/" + env + "/apps/kustomization.yaml"
		all[k] = out[k]
	}
	var stream bytes.Buffer
	stream.WriteString("commit refs/heads/main\ncommitter bench <bench@example.com> 1700000000 +0000\ndata 5\nseed\n")
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(&stream, "M 100644 inline %s\ndata %d\n", p, len(all[p]))
		stream.Write(all[p])
		stream.WriteString("\n")
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = &stream
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("git fast-import: %v\n%s", err, out)
	}
	return len(all), sh(dir, "git", "repack", "-adq")
}
