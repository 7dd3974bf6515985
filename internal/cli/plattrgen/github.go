package plattrgen

import (
	"net/url"
	"strings"

	"github.com/spf13/pflag"

	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/gitops/pulls"
)

// githubFlags say where pull requests go.
type githubFlags struct {
	repo, apiURL string
}

func (g *githubFlags) bind(f *pflag.FlagSet, io IO, what string) {
	f.StringVar(&g.repo, "github-repo", "", what+" (owner/name; default: from --repo when it is a github.com URL)")
	f.StringVar(&g.apiURL, "github-api-url", io.Getenv("GITHUB_API_URL"), "GitHub API URL, for GitHub Enterprise (default $GITHUB_API_URL, else api.github.com)")
}

// client returns a pull request client, or nil when there is no GitHub to talk to
// (a local env repo and no --github-repo): then the branch is pushed and the
// command says how to merge it. --github-api-url was checked before the command
// ran (invocation.prepare: https, no credentials); the client sends the token to
// its host only.
func (g *githubFlags) client(envRepo string) (*pulls.Client, error) {
	repo := g.repo
	if repo == "" {
		repo = githubRepoOf(envRepo)
	}
	if repo == "" {
		return nil, nil
	}
	var opts []pulls.Option
	if g.apiURL != "" && g.apiURL != "https://api.github.com" {
		u := strings.TrimSuffix(g.apiURL, "/") + "/"
		opts = append(opts, pulls.WithBaseURL(u))
	}
	return pulls.New(gitops.TokenFromEnv(), repo, opts...)
}

// githubRepoOf reads owner/name from an https://github.com/owner/name(.git) URL.
func githubRepoOf(location string) string {
	u, err := url.Parse(location)
	if err != nil || u.Host != "github.com" {
		return ""
	}
	parts := strings.Split(strings.Trim(strings.TrimSuffix(u.Path, ".git"), "/"), "/")
	if len(parts) != 2 {
		return ""
	}
	return parts[0] + "/" + parts[1]
}
