// Package pulls opens and updates pull requests on GitHub (or GitHub Enterprise)
// through go-github, idempotently: a pull request is found by its head branch
// before one is opened, and "already exists" resolves to the existing one. Rate
// limits and server errors are retried with backoff. The token never appears in
// an error.
package pulls

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/internal/ghtoken"
)

// Client works on the pull requests of one repository.
type Client struct {
	gh          *github.Client
	owner, repo string
	token       string
	attempts    int
	maxWait     time.Duration
	sleep       func(context.Context, time.Duration) error
	optErr      error // from an Option, returned by New
}

// Option configures a Client.
type Option func(*Client)

// WithBaseURL points the client at GitHub Enterprise (or a test server): the API's
// base URL, such as https://github.example.com/api/v3/. The token is sent to its
// host only. The caller checks the URL (gitops.CheckURL: https, no credentials).
func WithBaseURL(url string) Option {
	return func(c *Client) {
		gh, err := c.gh.WithEnterpriseURLs(url, url)
		if err != nil {
			// Never fall back to api.github.com with the token meant for another
			// server; never print the URL, which may hold credentials.
			c.optErr = errors.New("the GitHub API URL is not a valid URL")
			return
		}
		c.gh = gh
	}
}

// New returns a client for ownerRepo ("owner/name") authenticated with token.
func New(token, ownerRepo string, opts ...Option) (*Client, error) {
	// The name goes into API paths: "acme/.." reached /repos/pulls, and
	// "acme?x=/y" forged a query.
	if err := names.Repo(ownerRepo); err != nil {
		return nil, fmt.Errorf("GitHub repository: %w", err)
	}
	owner, repo, _ := strings.Cut(ownerRepo, "/")
	if token == "" {
		return nil, errors.New("no GitHub token: set PLATTR_GIT_TOKEN or GITHUB_TOKEN")
	}
	auth := &ghtoken.Transport{Token: token}
	c := &Client{gh: github.NewClient(&http.Client{Timeout: 30 * time.Second, Transport: auth}), owner: owner, repo: repo,
		token: token, attempts: 5, maxWait: 60 * time.Second, sleep: sleepCtx}
	for _, o := range opts {
		o(c)
	}
	if c.optErr != nil {
		return nil, c.optErr
	}
	auth.Scheme, auth.Host = c.gh.BaseURL.Scheme, c.gh.BaseURL.Host
	return c, nil
}

// Repo is "owner/name".
func (c *Client) Repo() string { return c.owner + "/" + c.repo }

// Spec is the pull request to have.
type Spec struct {
	Head, Base  string
	Title, Body string
	Labels      []string
}

// PR is a pull request.
type PR struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
	State  string `json:"state"`
	Merged bool   `json:"merged"`
	// Head and Base are its branches, Labels its labels (filled by Open and
	// Get).
	Head   string   `json:"-"`
	Base   string   `json:"-"`
	Labels []string `json:"-"`
	// Fork: its branch is in another repository (a fork, or a deleted one),
	// not in this one.
	Fork bool `json:"-"`
}

// Ensure makes sure one open pull request from spec.Head to spec.Base exists with
// spec's title, body and labels: the existing one is updated, or one is opened. It
// says whether it opened one.
func (c *Client) Ensure(ctx context.Context, spec Spec) (PR, bool, error) {
	existing, err := c.find(ctx, spec.Head, spec.Base)
	if err != nil {
		return PR{}, false, err
	}
	created := false
	if existing == nil {
		err = c.retry(ctx, "open pull request", func() (*github.Response, error) {
			p, resp, err := c.gh.PullRequests.Create(ctx, c.owner, c.repo, &github.NewPullRequest{
				Title: github.String(spec.Title), Head: github.String(spec.Head), Base: github.String(spec.Base), Body: github.String(spec.Body)})
			existing = p
			return resp, err
		})
		if isAlreadyExists(err) {
			// Someone (a concurrent run) opened it since we looked.
			if existing, err = c.find(ctx, spec.Head, spec.Base); err == nil && existing == nil {
				err = fmt.Errorf("GitHub says a pull request from %s exists, but none is open", spec.Head)
			}
		} else if err == nil {
			created = true
		}
		if err != nil {
			return PR{}, false, err
		}
	}
	if !created && (existing.GetTitle() != spec.Title || existing.GetBody() != spec.Body) {
		err = c.retry(ctx, "update pull request", func() (*github.Response, error) {
			p, resp, err := c.gh.PullRequests.Edit(ctx, c.owner, c.repo, existing.GetNumber(),
				&github.PullRequest{Title: github.String(spec.Title), Body: github.String(spec.Body)})
			if err == nil {
				existing = p
			}
			return resp, err
		})
		if err != nil {
			return PR{}, false, err
		}
	}
	if missing := missingLabels(existing, spec.Labels); len(missing) > 0 {
		err = c.retry(ctx, "label pull request", func() (*github.Response, error) {
			_, resp, err := c.gh.Issues.AddLabelsToIssue(ctx, c.owner, c.repo, existing.GetNumber(), missing)
			return resp, err
		})
		if err != nil {
			return PR{}, false, err
		}
	}
	return toPR(existing), created, nil
}

// Get reads pull request number.
func (c *Client) Get(ctx context.Context, number int) (PR, error) {
	var p *github.PullRequest
	err := c.retry(ctx, fmt.Sprintf("read pull request #%d", number), func() (*github.Response, error) {
		var resp *github.Response
		var err error
		p, resp, err = c.gh.PullRequests.Get(ctx, c.owner, c.repo, number)
		return resp, err
	})
	if err != nil {
		return PR{}, err
	}
	return toPR(p), nil
}

// maxOpenPages bounds the open pull requests Open reads (100 a page).
const maxOpenPages = 20

// Open lists the open pull requests into base that carry label, oldest first.
func (c *Client) Open(ctx context.Context, base, label string) ([]PR, error) {
	var out []PR
	opt := &github.PullRequestListOptions{State: "open", Base: base, Sort: "created", Direction: "asc", ListOptions: github.ListOptions{PerPage: 100}}
	for range maxOpenPages {
		var list []*github.PullRequest
		var next int
		err := c.retry(ctx, "list pull requests", func() (*github.Response, error) {
			l, resp, err := c.gh.PullRequests.List(ctx, c.owner, c.repo, opt)
			list = l
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, p := range list {
			if len(missingLabels(p, []string{label})) == 0 {
				out = append(out, toPR(p))
			}
		}
		if next == 0 {
			break
		}
		opt.Page = next
	}
	return out, nil
}

// maxCommentPages bounds the comments UpsertComment reads (100 a page).
const maxCommentPages = 30

// UpsertComment makes sure pull request number has one comment holding marker,
// with body (which must hold marker): the first such comment is edited (only
// when its body differs), or one is made. It says whether it made one.
func (c *Client) UpsertComment(ctx context.Context, number int, marker, body string) (bool, error) {
	if !strings.Contains(body, marker) {
		return false, errors.New("the comment's body does not hold its marker")
	}
	opt := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for range maxCommentPages {
		var list []*github.IssueComment
		var next int
		err := c.retry(ctx, "list comments", func() (*github.Response, error) {
			l, resp, err := c.gh.Issues.ListComments(ctx, c.owner, c.repo, number, opt)
			list = l
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return false, err
		}
		for _, cm := range list {
			if !strings.Contains(cm.GetBody(), marker) {
				continue
			}
			if cm.GetBody() == body {
				return false, nil
			}
			return false, c.retry(ctx, "edit comment", func() (*github.Response, error) {
				_, resp, err := c.gh.Issues.EditComment(ctx, c.owner, c.repo, cm.GetID(), &github.IssueComment{Body: github.String(body)})
				return resp, err
			})
		}
		if next == 0 {
			break
		}
		opt.Page = next
	}
	return true, c.retry(ctx, "comment", func() (*github.Response, error) {
		_, resp, err := c.gh.Issues.CreateComment(ctx, c.owner, c.repo, number, &github.IssueComment{Body: github.String(body)})
		return resp, err
	})
}

// Status is a commit status: state (pending, success, failure, error), a
// description of at most 140 characters, and a link.
type Status struct {
	Context, State, Description, TargetURL string
}

// SetStatus sets a commit status on sha, unless it says that already (the
// newest status of its context is the same): a steady state writes nothing.
func (c *Client) SetStatus(ctx context.Context, sha string, st Status) error {
	var current []*github.RepoStatus
	err := c.retry(ctx, "read commit statuses", func() (*github.Response, error) {
		l, resp, err := c.gh.Repositories.ListStatuses(ctx, c.owner, c.repo, sha, &github.ListOptions{PerPage: 100})
		current = l
		return resp, err
	})
	if err != nil {
		return err
	}
	for _, s := range current { // newest first
		if s.GetContext() == st.Context {
			if s.GetState() == st.State && s.GetDescription() == st.Description && s.GetTargetURL() == st.TargetURL {
				return nil
			}
			break
		}
	}
	return c.retry(ctx, "set commit status "+st.Context, func() (*github.Response, error) {
		_, resp, err := c.gh.Repositories.CreateStatus(ctx, c.owner, c.repo, sha, &github.RepoStatus{
			State: github.String(st.State), Context: github.String(st.Context),
			Description: github.String(st.Description), TargetURL: github.String(st.TargetURL)})
		return resp, err
	})
}

func (c *Client) find(ctx context.Context, head, base string) (*github.PullRequest, error) {
	var found *github.PullRequest
	err := c.retry(ctx, "find pull request", func() (*github.Response, error) {
		list, resp, err := c.gh.PullRequests.List(ctx, c.owner, c.repo, &github.PullRequestListOptions{
			State: "open", Head: c.owner + ":" + head, Base: base})
		if err == nil && len(list) > 0 {
			found = list[0]
		}
		return resp, err
	})
	return found, err
}

func toPR(p *github.PullRequest) PR {
	pr := PR{Number: p.GetNumber(), URL: p.GetHTMLURL(), State: p.GetState(), Merged: p.GetMerged(),
		Head: p.GetHead().GetRef(), Base: p.GetBase().GetRef()}
	if base := p.GetBase().GetRepo().GetFullName(); base != "" {
		pr.Fork = !strings.EqualFold(p.GetHead().GetRepo().GetFullName(), base) // a deleted fork has no head repository
	}
	for _, l := range p.Labels {
		pr.Labels = append(pr.Labels, l.GetName())
	}
	return pr
}

func missingLabels(p *github.PullRequest, want []string) []string {
	have := map[string]bool{}
	for _, l := range p.Labels {
		have[l.GetName()] = true
	}
	var out []string
	for _, l := range want {
		if !have[l] {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

func isAlreadyExists(err error) bool {
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil || er.Response.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	for _, e := range er.Errors {
		if strings.Contains(e.Message, "already exists") {
			return true
		}
	}
	return false
}

// retry runs call until it succeeds, fails for good, or attempts run out: a
// secondary rate limit waits its Retry-After, a primary one until its reset, a
// 5xx or network error backs off exponentially; each wait is capped at maxWait.
func (c *Client) retry(ctx context.Context, what string, call func() (*github.Response, error)) error {
	backoff := 500 * time.Millisecond
	var err error
	for attempt := 1; attempt <= c.attempts; attempt++ {
		var resp *github.Response
		resp, err = call()
		if err == nil {
			return nil
		}
		var wait time.Duration
		var abuse *github.AbuseRateLimitError
		var rate *github.RateLimitError
		switch {
		case errors.As(err, &abuse):
			wait = abuse.GetRetryAfter()
			if wait == 0 {
				wait = time.Minute
			}
		case errors.As(err, &rate):
			wait = time.Until(rate.Rate.Reset.Time)
		case resp != nil && resp.StatusCode >= 500, resp == nil && !errors.Is(err, context.Canceled):
			wait = backoff
			backoff *= 2
		default:
			return c.clean(what, err)
		}
		if attempt == c.attempts {
			break
		}
		if wait > c.maxWait {
			wait = c.maxWait
		}
		if err := c.sleep(ctx, wait); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s: gave up after %d attempts: %w", what, c.attempts, c.clean(what, err))
}

// clean words an API error for people and makes sure the token is not in it.
func (c *Client) clean(what string, err error) error {
	msg := err.Error()
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		msg = fmt.Sprintf("GitHub answered %d %s", er.Response.StatusCode, er.Message)
		for _, e := range er.Errors {
			if e.Message != "" {
				msg += ": " + e.Message
			}
		}
		if er.Response.StatusCode == http.StatusUnauthorized {
			msg += " (check PLATTR_GIT_TOKEN or GITHUB_TOKEN)"
		}
	}
	if c.token != "" {
		msg = strings.ReplaceAll(msg, c.token, "***")
	}
	return &apiError{msg: fmt.Sprintf("%s in %s: %s", what, c.Repo(), msg), err: err}
}

// apiError is an API error worded for people; it unwraps to go-github's error so
// that callers can still tell what it was.
type apiError struct {
	msg string
	err error
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.err }

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
