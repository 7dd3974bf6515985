package uirollback

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/gitops/pulls"
)

// Config is how the rollback controller reaches the env repo and GitHub
// (plattr-operator rollbacks: flags and environment).
type Config struct {
	// EnvRepo is the env repo's https:// URL, Branch the one Argo CD follows.
	EnvRepo, Branch string
	// GitHubRepo is its owner/name on GitHub, for the pull request (empty:
	// the branch is pushed, no pull request); GitHubAPIURL its API (empty:
	// api.github.com).
	GitHubRepo, GitHubAPIURL string
	// Token reads and writes the env repo and its pull requests.
	Token string
	// Namespace is Argo CD's.
	Namespace string
	// AllowHTTP allows plain http:// to a loopback address (a test server).
	AllowHTTP bool
}

// Scheme knows Argo CD's Applications (and the built-in types, for events
// and leader election).
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := argov1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// CacheOptions watches Argo CD's namespace only.
func CacheOptions(namespace string) cache.Options {
	return cache.Options{DefaultNamespaces: map[string]cache.Config{namespace: {}}}
}

// Setup checks cfg, naming the flag of a mistake, and adds the controller to
// mgr.
func Setup(mgr ctrl.Manager, cfg Config) error {
	r, err := New(mgr, cfg)
	if err != nil {
		return err
	}
	return r.SetupWithManager(mgr)
}

// New is the Reconciler of cfg.
func New(mgr ctrl.Manager, cfg Config) (*Reconciler, error) {
	if cfg.EnvRepo == "" {
		return nil, errors.New("--env-repo (PLATTR_ENV_REPO) is required: the env repo's https:// URL")
	}
	loc, err := gitops.CheckLocation(cfg.EnvRepo, cfg.AllowHTTP)
	if err != nil {
		return nil, fmt.Errorf("--env-repo: %w", err)
	}
	if loc.Local {
		return nil, errors.New("--env-repo: give the env repo's https:// URL (the controller runs in a cluster, with no checkout)")
	}
	if cfg.Branch == "" {
		cfg.Branch = "main"
	}
	if err := names.Branch(cfg.Branch); err != nil {
		return nil, fmt.Errorf("--branch: %w", err)
	}
	if cfg.Namespace == "" || names.Env(cfg.Namespace) != nil {
		return nil, fmt.Errorf("--namespace: %q is not a namespace", cfg.Namespace)
	}
	if cfg.Token == "" {
		return nil, errors.New("no token: set PLATTR_GIT_TOKEN (or GITHUB_TOKEN) to one that may push branches to the env repo and open pull requests")
	}
	opts := []gitops.Option{gitops.WithBranch(cfg.Branch), gitops.WithToken(cfg.Token)}
	if cfg.AllowHTTP {
		opts = append(opts, gitops.WithAllowHTTP())
	}
	r := &Reconciler{Client: mgr.GetClient(), Namespace: cfg.Namespace, Base: cfg.Branch, Log: mgr.GetLogger().WithName("uirollback"),
		Open: func(ctx context.Context) (*gitops.Repo, error) {
			return gitops.Open(ctx, cfg.EnvRepo, generator.Validate, opts...)
		}}
	if cfg.GitHubRepo != "" {
		var opts []pulls.Option
		if api := strings.TrimSuffix(cfg.GitHubAPIURL, "/"); api != "" && api != "https://api.github.com" {
			if _, err := gitops.CheckURL(api, cfg.AllowHTTP); err != nil {
				return nil, fmt.Errorf("--github-api-url: %w", err)
			}
			opts = append(opts, pulls.WithBaseURL(api+"/"))
		}
		prs, err := pulls.New(cfg.Token, cfg.GitHubRepo, opts...)
		if err != nil {
			return nil, fmt.Errorf("--github-repo: %w", err)
		}
		r.PullRequests = prs
	}
	return r, nil
}
