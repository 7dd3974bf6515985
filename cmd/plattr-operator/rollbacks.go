package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/internal/version"
	"github.com/plattr/plattr/uirollback"
)

// rollbacks runs the rollback controller (plattr-operator rollbacks): flags
// and environment → manager → uirollback.Setup → start.
func rollbacks(args []string) {
	fs := flag.NewFlagSet("plattr-operator rollbacks", flag.ExitOnError)
	var cfg uirollback.Config
	var probeAddr string
	var leaderElect bool
	fs.StringVar(&cfg.EnvRepo, "env-repo", os.Getenv("PLATTR_ENV_REPO"), "the env repo's https:// URL (PLATTR_ENV_REPO)")
	fs.StringVar(&cfg.Branch, "branch", envOr("PLATTR_ENV_BRANCH", "main"), "the env repo's branch Argo CD follows")
	fs.StringVar(&cfg.GitHubRepo, "github-repo", os.Getenv("PLATTR_GITHUB_REPO"), "the env repo's owner/name on GitHub, for the pull requests (empty: push the branch only)")
	fs.StringVar(&cfg.GitHubAPIURL, "github-api-url", os.Getenv("GITHUB_API_URL"), "GitHub's API URL (default api.github.com)")
	fs.StringVar(&cfg.Namespace, "namespace", envOr("ARGOCD_NAMESPACE", "argocd"), "Argo CD's namespace, whose Applications are watched")
	metrics := metricsFlags(fs)
	fs.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&cfg.AllowHTTP, "allow-http", false, "allow plain http:// for --env-repo and --github-api-url, to a loopback address only (a test server)")
	fs.BoolVar(&leaderElect, "leader-elect", true, "elect a leader, so that only one replica reconciles")
	opts := zap.Options{}
	opts.BindFlags(fs)
	_ = fs.Parse(args)
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")
	// The token is never a flag: flags show in process listings.
	token, _, err := gitops.TokenSource()
	if err != nil {
		fail(log, "read the token", err)
	}
	cfg.Token = token
	restCfg := ctrl.GetConfigOrDie()
	restCfg.UserAgent = version.UserAgent("plattr-operator-rollbacks")
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                  uirollback.Scheme(),
		Cache:                   uirollback.CacheOptions(cfg.Namespace),
		Metrics:                 metrics(),
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "plattr-rollbacks.plattr.dev",
		LeaderElectionNamespace: cfg.Namespace,
	})
	if err != nil {
		fail(log, "create the manager", err)
	}
	if err := uirollback.Setup(mgr, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "plattr-operator rollbacks: %v\n", err)
		os.Exit(2)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		fail(log, "add the health check", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		fail(log, "add the readiness check", err)
	}
	log.Info("starting the rollback controller", "version", version.Version(), "namespace", cfg.Namespace, "pullRequests", cfg.GitHubRepo != "")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fail(log, "run the manager", err)
	}
}
