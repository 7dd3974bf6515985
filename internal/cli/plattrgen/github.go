package plattrgen

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/pflag"

	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/gitops/pulls"
	"github.com/plattr/plattr/operator/ghdeploy"
)

// githubFlags say where pull requests go.
type githubFlags struct {
	repo, apiURL string
	// repoFlag is the flag that gives repo, for messages: --github-repo, or
	// --app-repo for preview gc.
	repoFlag string
}

func (g *githubFlags) bind(f *pflag.FlagSet, io IO, what string) {
	g.repoFlag = "--github-repo"
	f.StringVar(&g.repo, "github-repo", "", what+" (owner/name; default: from --repo when it is a github.com URL)")
	g.bindAPI(f, io)
}

func (g *githubFlags) bindAPI(f *pflag.FlagSet, io IO) {
	f.StringVar(&g.apiURL, "github-api-url", io.Getenv("GITHUB_API_URL"),
		"GitHub API URL, for GitHub Enterprise (default $GITHUB_API_URL, else api.github.com when --repo is on github.com)")
}

// githubAPI is the API the token goes to when --github-api-url is not given.
const githubAPI = "https://api.github.com"

// client returns a pull request client, or nil when there is no GitHub to talk to
// (no --github-repo and an env repo not on github.com): then the branch is pushed
// and the command says how to merge it. It runs before anything is pushed.
//
// The token goes to api.github.com only when the env repo is on github.com
// (the token is meant for it) or --github-api-url says so; any other env repo
// needs --github-api-url, so that a token for a GitHub Enterprise server or a
// local test never leaves for github.com. --github-api-url was checked before
// the command ran (invocation.prepare: https, no credentials); the client sends
// the token to its host only.
func (g *githubFlags) client(envRepo string) (*pulls.Client, error) {
	repo, api, token, err := g.api(envRepo)
	if repo == "" || err != nil {
		return nil, err
	}
	var opts []pulls.Option
	if api != githubAPI {
		opts = append(opts, pulls.WithBaseURL(api+"/"))
	}
	return pulls.New(token, repo, opts...)
}

// api says where GitHub requests go, by client's rules: the env repo's GitHub
// repository ("" when there is no GitHub to talk to), the API URL and the token.
func (g *githubFlags) api(envRepo string) (repo, api, token string, err error) {
	repo, flag := g.repo, g.repoFlag
	if repo == "" {
		repo, flag = githubRepoOf(envRepo), "--repo"
	}
	if repo == "" {
		return "", "", "", nil
	}
	if err := names.Repo(repo); err != nil {
		return "", "", "", fmt.Errorf("%s: %w", flag, err)
	}
	switch api = strings.TrimSuffix(g.apiURL, "/"); {
	case api == "" && !onGitHub(envRepo):
		return "", "", "", fmt.Errorf("--github-api-url is required: --repo is not on github.com, so the token is not sent to %s "+
			"unless you say so; give your GitHub Enterprise server's API URL (https://HOST/api/v3), or %s", githubAPI, githubAPI)
	case api == "":
		api = githubAPI
	}
	token, _, err = gitops.TokenSource()
	if err == nil && token == "" {
		err = errors.New("no GitHub token: set PLATTR_GIT_TOKEN or GITHUB_TOKEN")
	}
	return repo, api, token, err
}

// deployments is a client of the deployments Plattr's operator records on
// apps' repositories, on the same GitHub and with the same token as client;
// nil when there is no GitHub.
func (g *githubFlags) deployments(envRepo string) (*ghdeploy.Client, error) {
	repo, api, token, err := g.api(envRepo)
	if repo == "" || err != nil {
		return nil, err
	}
	return ghdeploy.New(token, api+"/")
}

// onGitHub says whether location is an https URL on github.com.
func onGitHub(location string) bool {
	u, err := url.Parse(location)
	return err == nil && u.Scheme == "https" && strings.EqualFold(u.Host, "github.com")
}

// githubRepoOf reads owner/name from an https://github.com/owner/name(.git) URL.
func githubRepoOf(location string) string {
	if !onGitHub(location) {
		return ""
	}
	u, _ := url.Parse(location)
	parts := strings.Split(strings.Trim(strings.TrimSuffix(u.Path, ".git"), "/"), "/")
	if len(parts) != 2 {
		return ""
	}
	return parts[0] + "/" + parts[1]
}
