package ghdeploy

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
)

// History is what GitHub recorded of one release in one environment: the
// deployment the operator made, read back by plattr-gen promote as evidence.
type History struct {
	// Deployment is its ID, 0 when none was recorded.
	Deployment int64
	// Since is when its current (or last) healthy run began: the success that
	// followed a rollout or a failure. Zero: it never succeeded.
	Since time.Time
	// Until is when that run ended (a failure, or inactive: replaced or
	// removed); zero while it runs.
	Until time.Time
	// State is its latest state.
	State string
	// Failed: its last healthy run (or its rollout) ended in failure or
	// error, even when it was replaced after.
	Failed bool
	// URL is where it was last served.
	URL string
}

// maxStatusPages bounds the statuses read of one deployment (100 each).
const maxStatusPages = 10

// History reads back what was recorded of app running image at commit in
// environment env of repo. A release never recorded is a zero History. With
// deployer (a GitHub login, such as the operator's GitHub App's bot), only
// deployments and statuses it created count: anyone who may write the app's
// repository may create deployments, and they are no evidence.
func (c *Client) History(ctx context.Context, repo, commit, env, app, image, deployer string) (History, error) {
	owner, name, err := split(repo)
	if err != nil {
		return History{}, err
	}
	want := Payload{App: app, Image: image}
	ds, _, err := c.gh.Repositories.ListDeployments(ctx, owner, name,
		&github.DeploymentsListOptions{SHA: commit, Environment: env, ListOptions: github.ListOptions{PerPage: 100}})
	if err != nil {
		return History{}, describe("list the deployments of "+repo, err)
	}
	var id int64
	for _, d := range ds { // newest first: a release recorded again after a cleanup
		if deployer != "" && !strings.EqualFold(d.GetCreator().GetLogin(), deployer) {
			continue
		}
		var p Payload
		if json.Unmarshal(d.Payload, &p) == nil && p == want {
			id = d.GetID()
			break
		}
	}
	if id == 0 {
		return History{}, nil
	}
	var statuses []*github.DeploymentStatus
	opt := &github.ListOptions{PerPage: 100}
	for range maxStatusPages {
		page, resp, err := c.gh.Repositories.ListDeploymentStatuses(ctx, owner, name, id, opt)
		if err != nil {
			return History{}, describe("list the statuses of deployment "+repo, err)
		}
		for _, st := range page {
			if deployer == "" || strings.EqualFold(st.GetCreator().GetLogin(), deployer) {
				statuses = append(statuses, st)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	slices.Reverse(statuses) // GitHub lists the newest first
	return replay(id, statuses), nil
}

// replay follows a deployment's statuses, oldest first.
func replay(id int64, statuses []*github.DeploymentStatus) History {
	h := History{Deployment: id}
	healthy := false
	for _, s := range statuses {
		at := s.GetCreatedAt().Time
		h.State = s.GetState()
		if u := s.GetEnvironmentURL(); u != "" {
			h.URL = u
		}
		switch h.State {
		case StateSuccess:
			if !healthy {
				h.Since, h.Until, healthy, h.Failed = at, time.Time{}, true, false
			}
		case StateFailure, "error":
			h.Failed = true
			if healthy {
				h.Until, healthy = at, false
			}
		case StateInactive:
			if healthy {
				h.Until, healthy = at, false
			}
		}
	}
	return h
}
