// Package ghdeploy records where an app's commits run, as GitHub Deployments on
// the app's own repository: one deployment per release and environment, its
// statuses following the Application (in_progress, success, failure), inactive
// once replaced or removed. The operator calls it only when what it would
// record changed, so a steady state costs no request.
package ghdeploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/plattr/plattr/internal/ghtoken"
)

// Deployment states the operator sets.
const (
	StateInProgress = "in_progress"
	StateSuccess    = "success"
	StateFailure    = "failure"
	StateInactive   = "inactive"
)

// Release is what a deployment records: an app's commit running an image in an
// environment.
type Release struct {
	Repo        string // owner/name of the app's repository
	Commit      string // the source commit
	Environment string // the environment, or the preview's name
	Image       string
	App         string
	URL         string // where it is served
	// Transient: a preview, gone with its pull request; Production: the
	// production environment.
	Transient, Production bool
}

// Payload is the deployment's payload: what ran.
type Payload struct {
	App   string `json:"app"`
	Image string `json:"image"`
}

// Client talks to GitHub's deployments API, with a token (New) or as a GitHub
// App (NewApp).
type Client struct {
	gh *github.Client
}

// New is a client of the GitHub API at apiURL ("" for api.github.com) with token.
func New(token, apiURL string) (*Client, error) {
	if token == "" {
		return nil, errors.New("no GitHub token")
	}
	auth := &ghtoken.Transport{Token: token}
	gh, err := enterprise(github.NewClient(&http.Client{Timeout: 30 * time.Second, Transport: auth}), apiURL)
	if err != nil {
		return nil, err
	}
	auth.Scheme, auth.Host = gh.BaseURL.Scheme, gh.BaseURL.Host
	return &Client{gh: gh}, nil
}

func split(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("%q is not a GitHub repository (owner/name)", repo)
	}
	return owner, name, nil
}

// Create records r with a first status state and returns the deployment's ID.
// A deployment of the same commit, environment and image that exists already
// (made before a crash lost its ID) is taken instead of making another.
func (c *Client) Create(ctx context.Context, r Release, state string) (int64, error) {
	owner, name, err := split(r.Repo)
	if err != nil {
		return 0, err
	}
	payload := Payload{App: r.App, Image: r.Image}
	var id int64
	existing, _, err := c.gh.Repositories.ListDeployments(ctx, owner, name, &github.DeploymentsListOptions{SHA: r.Commit, Environment: r.Environment})
	if err != nil {
		return 0, describe("list the deployments of "+r.Repo, err)
	}
	for _, d := range existing {
		var p Payload
		if json.Unmarshal(d.Payload, &p) == nil && p == payload {
			id = d.GetID()
			break
		}
	}
	if id == 0 {
		d, _, err := c.gh.Repositories.CreateDeployment(ctx, owner, name, &github.DeploymentRequest{
			Ref: github.String(r.Commit), Task: github.String("deploy"), Environment: github.String(r.Environment),
			Description:          github.String(fmt.Sprintf("%s to %s by Plattr", shortImage(r.Image), r.Environment)),
			Payload:              payload,
			AutoMerge:            github.Bool(false),
			RequiredContexts:     &[]string{}, // it runs already: GitHub need not check it
			TransientEnvironment: github.Bool(r.Transient), ProductionEnvironment: github.Bool(r.Production),
		})
		if err != nil {
			return 0, describe("create a deployment on "+r.Repo, err)
		}
		id = d.GetID()
	}
	return id, c.SetState(ctx, r.Repo, id, state, r.URL)
}

// SetState adds a status to deployment id of repo; url is where the release is
// served. inactive is never made automatic: the operator says which one. A
// deployment whose latest status says so already gets none: a reconcile that
// read a stale status (the cache behind its own last write) writes nothing.
func (c *Client) SetState(ctx context.Context, repo string, id int64, state, url string) error {
	owner, name, err := split(repo)
	if err != nil {
		return err
	}
	latest, _, err := c.gh.Repositories.ListDeploymentStatuses(ctx, owner, name, id, &github.ListOptions{PerPage: 1})
	if err != nil {
		return describe(fmt.Sprintf("read deployment %d of %s", id, repo), err)
	}
	if len(latest) > 0 && latest[0].GetState() == state && (url == "" || latest[0].GetEnvironmentURL() == url) {
		return nil
	}
	req := &github.DeploymentStatusRequest{State: github.String(state), AutoInactive: github.Bool(false),
		Description: github.String(describeState(state))}
	if url != "" {
		req.EnvironmentURL = github.String(url)
	}
	if _, _, err := c.gh.Repositories.CreateDeploymentStatus(ctx, owner, name, id, req); err != nil {
		return describe(fmt.Sprintf("set deployment %d of %s %s", id, repo, state), err)
	}
	return nil
}

func describeState(state string) string {
	switch state {
	case StateSuccess:
		return "Ready"
	case StateFailure:
		return "Stalled: see the Application's conditions"
	case StateInactive:
		return "Replaced or removed"
	}
	return "Rolling out"
}

// describe keeps GitHub's status and message of a failed call (never a token).
func describe(what string, err error) error {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		msg := er.Message
		if er.Response.StatusCode == http.StatusNotFound {
			msg += " (the repository does not exist, or the token may not write its deployments)"
		}
		return fmt.Errorf("%s: GitHub answered %d: %s", what, er.Response.StatusCode, msg)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func shortImage(image string) string {
	if i := strings.Index(image, "@sha256:"); i >= 0 && len(image) >= i+8+12 {
		return image[i+1 : i+8+12]
	}
	return image
}
