// Package fakegithub is a stateful fake of the part of GitHub's REST API that
// Plattr uses — pull requests, their labels and comments; deployments, their
// statuses and environments; commit statuses — served on 127.0.0.1
// for tests, because GitHub itself cannot run here. It answers with GitHub's real
// status codes and bodies: 201 on create, 422 "A pull request already exists", 422
// for a body over 65,536 characters, 401 "Bad credentials", 404, 403 secondary rate
// limits with Retry-After and 5xx on demand. It is driven only through go-github,
// and has tests of its own.
package fakegithub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxBody is GitHub's limit on a pull request's body.
const MaxBody = 65536

// PR is a pull request as the fake keeps it.
type PR struct {
	Number   int
	Title    string
	Body     string
	Head     string // branch name
	Base     string
	State    string // "open" or "closed"
	Merged   bool
	Labels   []string
	Comments []Comment
	Created  time.Time
	Updated  time.Time
}

// Comment is a comment on a pull request (GitHub's issue comment).
type Comment struct {
	ID   int64
	Body string
	User string
}

type repo struct {
	pulls        []*PR
	deployments  []*Deployment
	environments map[string]time.Time
	statuses     map[string][]CommitStatus // by commit
}

// Server is the fake.
type Server struct {
	*httptest.Server
	Token string

	mu       sync.Mutex
	repos    map[string]*repo
	faults   []fault
	requests int
	writes   int
	hideList int
	ids      int64
	apps     map[int64]*app
	tokens   map[string]installationToken
	users    map[string]string // other tokens → login
	caller   string            // the login of the request being served
}

// HideFromNextList makes the next listing of pull requests come back empty, as
// GitHub's eventually consistent listing can right after a pull request is opened.
func (s *Server) HideFromNextList() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hideList++
}

type fault struct {
	status     int
	retryAfter string
}

// New starts a fake accepting token; it stops when Close is called.
func New(token string) *Server {
	s := &Server{Token: token, repos: map[string]*repo{}, tokens: map[string]installationToken{}, users: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is the API's base URL for go-github (with its trailing slash).
func (s *Server) BaseURL() string { return s.URL + "/api/v3/" }

// FailNext makes the next n requests fail with status: 403 is a secondary rate
// limit with Retry-After retryAfter (seconds), 5xx a server error.
func (s *Server) FailNext(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.faults = append(s.faults, fault{status, retryAfter})
	}
}

// Requests is how many requests were served.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// PRs returns copies of the repo's pull requests, by number.
func (s *Server) PRs(ownerRepo string) []PR {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PR
	if r := s.repos[ownerRepo]; r != nil {
		for _, p := range r.pulls {
			c := *p
			c.Labels = append([]string(nil), p.Labels...)
			c.Comments = append([]Comment(nil), p.Comments...)
			out = append(out, c)
		}
	}
	return out
}

// Merge marks a pull request merged and closed (the test merges the branch in git itself).
func (s *Server) Merge(ownerRepo string, number int) { s.setState(ownerRepo, number, "closed", true) }

// ClosePR closes a pull request without merging it.
func (s *Server) ClosePR(ownerRepo string, number int) {
	s.setState(ownerRepo, number, "closed", false)
}

// OpenPR adds an open pull request, as a developer would open one in an app repo.
func (s *Server) OpenPR(ownerRepo, head, title string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(ownerRepo)
	p := &PR{Number: len(r.pulls) + 1, Title: title, Head: head, Base: "main", State: "open", Created: time.Now(), Updated: time.Now()}
	r.pulls = append(r.pulls, p)
	return p.Number
}

func (s *Server) setState(ownerRepo string, number int, state string, merged bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[ownerRepo]; r != nil && number >= 1 && number <= len(r.pulls) {
		r.pulls[number-1].State, r.pulls[number-1].Merged = state, merged
	}
}

func (s *Server) repo(name string) *repo {
	r := s.repos[name]
	if r == nil {
		r = &repo{environments: map[string]time.Time{}, statuses: map[string][]CommitStatus{}}
		s.repos[name] = r
	}
	return r
}

var (
	pullsPath   = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/pulls$`)
	pullPath    = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/pulls/(\d+)$`)
	labelsPath  = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/issues/(\d+)/labels$`)
	commPath    = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$`)
	commentPath = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/issues/comments/(\d+)$`)
)

func (s *Server) serve(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		s.writes++
	}
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		if f.status == http.StatusForbidden {
			w.Header().Set("Retry-After", f.retryAfter)
			writeJSON(w, f.status, map[string]string{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
				"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"})
			return
		}
		writeJSON(w, f.status, map[string]string{"message": "Server Error"})
		return
	}
	if !s.authorize(w, req) {
		return
	}
	if s.serveDeployments(w, req) {
		return
	}
	path := req.URL.Path
	switch m := match(path); {
	case m.re == pullsPath && req.Method == http.MethodGet:
		s.listPulls(w, req, m.repo)
	case m.re == pullsPath && req.Method == http.MethodPost:
		s.createPull(w, req, m.repo)
	case m.re == pullPath && req.Method == http.MethodGet:
		if p := s.pull(m.repo, m.number); p != nil {
			writeJSON(w, http.StatusOK, s.render(m.repo, p))
		} else {
			notFound(w)
		}
	case m.re == pullPath && req.Method == http.MethodPatch:
		s.updatePull(w, req, m.repo, m.number)
	case m.re == labelsPath && req.Method == http.MethodPost:
		s.addLabels(w, req, m.repo, m.number)
	case m.re == commPath && req.Method == http.MethodPost:
		s.addComment(w, req, m.repo, m.number)
	case m.re == commPath && req.Method == http.MethodGet:
		p := s.pull(m.repo, m.number)
		if p == nil {
			notFound(w)
			return
		}
		out := []map[string]any{}
		for _, c := range p.Comments {
			out = append(out, s.renderComment(m.repo, p, c))
		}
		writeJSON(w, http.StatusOK, page(req, out))
	case m.re == commentPath && req.Method == http.MethodPatch:
		s.editComment(w, req, m.repo, int64(m.number))
	default:
		notFound(w)
	}
}

type matched struct {
	re     *regexp.Regexp
	repo   string
	number int
}

func match(path string) matched {
	for _, re := range []*regexp.Regexp{pullsPath, pullPath, labelsPath, commPath, commentPath} {
		if m := re.FindStringSubmatch(path); m != nil {
			out := matched{re: re, repo: m[1] + "/" + m[2]}
			if len(m) > 3 {
				out.number, _ = strconv.Atoi(m[3])
			}
			return out
		}
	}
	return matched{}
}

func (s *Server) pull(repo string, n int) *PR {
	r := s.repos[repo]
	if r == nil || n < 1 || n > len(r.pulls) {
		return nil
	}
	return r.pulls[n-1]
}

func (s *Server) listPulls(w http.ResponseWriter, req *http.Request, repo string) {
	q := req.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	head := q.Get("head") // "owner:branch"
	out := []map[string]any{}
	if s.hideList > 0 {
		s.hideList--
		writeJSON(w, http.StatusOK, out)
		return
	}
	if r := s.repos[repo]; r != nil {
		owner := strings.Split(repo, "/")[0]
		for _, p := range r.pulls {
			if state != "all" && p.State != state {
				continue
			}
			if head != "" && head != owner+":"+p.Head {
				continue
			}
			if b := q.Get("base"); b != "" && b != p.Base {
				continue
			}
			out = append(out, s.render(repo, p))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createPull(w http.ResponseWriter, req *http.Request, repo string) {
	var in struct{ Title, Head, Base, Body string }
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	if in.Title == "" || in.Head == "" || in.Base == "" {
		validationFailed(w, "missing_field", "title, head and base are required")
		return
	}
	if len(in.Body) > MaxBody {
		validationFailed(w, "custom", fmt.Sprintf("body is too long (maximum is %d characters)", MaxBody))
		return
	}
	r := s.repo(repo)
	owner := strings.Split(repo, "/")[0]
	for _, p := range r.pulls {
		if p.State == "open" && p.Head == in.Head && p.Base == in.Base {
			validationFailed(w, "custom", fmt.Sprintf("A pull request already exists for %s:%s.", owner, in.Head))
			return
		}
	}
	now := time.Now()
	p := &PR{Number: len(r.pulls) + 1, Title: in.Title, Body: in.Body, Head: in.Head, Base: in.Base, State: "open", Created: now, Updated: now}
	r.pulls = append(r.pulls, p)
	writeJSON(w, http.StatusCreated, s.render(repo, p))
}

func (s *Server) updatePull(w http.ResponseWriter, req *http.Request, repo string, n int) {
	p := s.pull(repo, n)
	if p == nil {
		notFound(w)
		return
	}
	var in struct {
		Title, Body, State *string
	}
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	if in.Body != nil && len(*in.Body) > MaxBody {
		validationFailed(w, "custom", fmt.Sprintf("body is too long (maximum is %d characters)", MaxBody))
		return
	}
	if in.Title != nil {
		p.Title = *in.Title
	}
	if in.Body != nil {
		p.Body = *in.Body
	}
	if in.State != nil {
		p.State = *in.State
	}
	p.Updated = time.Now()
	writeJSON(w, http.StatusOK, s.render(repo, p))
}

func (s *Server) addLabels(w http.ResponseWriter, req *http.Request, repo string, n int) {
	p := s.pull(repo, n)
	if p == nil {
		notFound(w)
		return
	}
	// GitHub takes {"labels": [...]} or a bare array (what go-github sends).
	var in struct{ Labels []string }
	var raw json.RawMessage
	if err := json.NewDecoder(req.Body).Decode(&raw); err != nil ||
		(json.Unmarshal(raw, &in.Labels) != nil && json.Unmarshal(raw, &in) != nil) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	set := map[string]bool{}
	for _, l := range append(p.Labels, in.Labels...) {
		set[l] = true
	}
	p.Labels = p.Labels[:0]
	for l := range set {
		p.Labels = append(p.Labels, l)
	}
	sort.Strings(p.Labels)
	writeJSON(w, http.StatusOK, labelsJSON(p.Labels))
}

func (s *Server) addComment(w http.ResponseWriter, req *http.Request, repo string, n int) {
	p := s.pull(repo, n)
	if p == nil {
		notFound(w)
		return
	}
	body, ok := commentBody(w, req)
	if !ok {
		return
	}
	c := Comment{ID: s.nextID(), Body: body, User: s.caller}
	p.Comments = append(p.Comments, c)
	writeJSON(w, http.StatusCreated, s.renderComment(repo, p, c))
}

// editComment replaces a comment's body (PATCH /repos/o/r/issues/comments/ID).
func (s *Server) editComment(w http.ResponseWriter, req *http.Request, repo string, id int64) {
	r := s.repos[repo]
	if r == nil {
		notFound(w)
		return
	}
	for _, p := range r.pulls {
		for i := range p.Comments {
			if p.Comments[i].ID == id {
				body, ok := commentBody(w, req)
				if !ok {
					return
				}
				p.Comments[i].Body = body
				writeJSON(w, http.StatusOK, s.renderComment(repo, p, p.Comments[i]))
				return
			}
		}
	}
	notFound(w)
}

// commentBody reads a comment's body as GitHub checks it.
func commentBody(w http.ResponseWriter, req *http.Request) (string, bool) {
	var in struct{ Body string }
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return "", false
	}
	if len([]rune(in.Body)) > MaxBody {
		validationFailedOn(w, "IssueComment", "custom", fmt.Sprintf("body is too long (maximum is %d characters)", MaxBody),
			"https://docs.github.com/rest/issues/comments#create-an-issue-comment")
		return "", false
	}
	return in.Body, true
}

func (s *Server) renderComment(repo string, p *PR, c Comment) map[string]any {
	return map[string]any{"id": c.ID, "body": c.Body, "user": user(c.User),
		"html_url": fmt.Sprintf("https://github.com/%s/pull/%d#issuecomment-%d", repo, p.Number, c.ID)}
}

func (s *Server) render(repo string, p *PR) map[string]any {
	owner := strings.Split(repo, "/")[0]
	return map[string]any{
		"number": p.Number, "title": p.Title, "body": p.Body, "state": p.State, "merged": p.Merged,
		"html_url":   fmt.Sprintf("https://github.com/%s/pull/%d", repo, p.Number),
		"url":        fmt.Sprintf("%s/api/v3/repos/%s/pulls/%d", s.URL, repo, p.Number),
		"head":       map[string]any{"ref": p.Head, "label": owner + ":" + p.Head, "repo": map[string]any{"full_name": repo}},
		"base":       map[string]any{"ref": p.Base, "label": owner + ":" + p.Base, "repo": map[string]any{"full_name": repo}},
		"labels":     labelsJSON(p.Labels),
		"created_at": p.Created.UTC().Format(time.RFC3339), "updated_at": p.Updated.UTC().Format(time.RFC3339),
	}
}

func labelsJSON(labels []string) []map[string]any {
	out := []map[string]any{}
	for _, l := range labels {
		out = append(out, map[string]any{"name": l})
	}
	return out
}

func validationFailed(w http.ResponseWriter, code, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message":           "Validation Failed",
		"errors":            []map[string]string{{"resource": "PullRequest", "code": code, "message": msg}},
		"documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
	})
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
