package fakegithub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Deployment is a deployment as the fake keeps it, with its statuses (oldest
// first).
type Deployment struct {
	ID          int64
	SHA, Ref    string
	Task        string
	Environment string
	Description string
	Payload     json.RawMessage
	Transient   bool
	Production  bool
	Created     time.Time
	Creator     string // the login that created it
	Statuses    []DeploymentStatus
}

// State is the deployment's latest status ("" with none).
func (d *Deployment) State() string {
	if len(d.Statuses) == 0 {
		return ""
	}
	return d.Statuses[len(d.Statuses)-1].State
}

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	ID                                 int64
	State, Description, EnvironmentURL string
	LogURL, Environment                string
	Created                            time.Time
	Creator                            string
}

// CommitStatus is one status of a commit (the statuses API).
type CommitStatus struct {
	ID                                     int64
	State, Context, Description, TargetURL string
	Created                                time.Time
}

// MaxStatusesPerContext is GitHub's limit of statuses per commit and context.
const MaxStatusesPerContext = 1000

var (
	deploymentStates = []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
	commitStates     = []string{"error", "failure", "pending", "success"}
	shaRef           = regexp.MustCompile(`^[0-9a-f]{7,40}$`)
)

// Deployments returns copies of a repository's deployments, oldest first.
func (s *Server) Deployments(ownerRepo string) []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Deployment
	if r := s.repos[ownerRepo]; r != nil {
		for _, d := range r.deployments {
			c := *d
			c.Statuses = slices.Clone(d.Statuses)
			out = append(out, c)
		}
	}
	return out
}

// Backdate moves the times of a repository's deployments and their statuses
// d into the past, as if they had been made that much earlier: how a test
// shows a soak that has passed without waiting for it.
func (s *Server) Backdate(ownerRepo string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[ownerRepo]; r != nil {
		for _, dep := range r.deployments {
			dep.Created = dep.Created.Add(-d)
			for i := range dep.Statuses {
				dep.Statuses[i].Created = dep.Statuses[i].Created.Add(-d)
			}
		}
	}
}

// DeleteAllDeployments forgets a repository's deployments (a test's reset).
func (s *Server) DeleteAllDeployments(ownerRepo string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[ownerRepo]; r != nil {
		r.deployments = nil
	}
	return nil
}

// Environments lists a repository's environments, sorted.
func (s *Server) Environments(ownerRepo string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if r := s.repos[ownerRepo]; r != nil {
		for e := range r.environments {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

// CommitStatuses returns copies of the statuses of a commit, oldest first.
func (s *Server) CommitStatuses(ownerRepo, sha string) []CommitStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[ownerRepo]; r != nil {
		return slices.Clone(r.statuses[sha])
	}
	return nil
}

// Writes is how many requests that change something (any method but GET and
// HEAD) were served, faults and refusals included: what a steady state must not
// make.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

var (
	deploymentsPath = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/deployments$`)
	deploymentPath  = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/deployments/(\d+)$`)
	depStatusesPath = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/deployments/(\d+)/statuses$`)
	environmentsPat = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/environments$`)
	environmentPath = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/environments/([^/]+)$`)
	statusesPath    = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/statuses/([^/]+)$`)
	commitStatuses  = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/commits/([^/]+)/statuses$`)
	combinedStatus  = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/commits/([^/]+)/status$`)
)

// serveDeployments answers the deployments, environments and statuses API; it
// reports false for a path that is none of theirs. s.mu is held.
func (s *Server) serveDeployments(w http.ResponseWriter, req *http.Request) bool {
	path := req.URL.Path
	sub := func(re *regexp.Regexp) []string { return re.FindStringSubmatch(path) }
	get, post := req.Method == http.MethodGet, req.Method == http.MethodPost
	if m := sub(deploymentsPath); m != nil && post {
		s.createDeployment(w, req, m[1]+"/"+m[2])
	} else if m != nil && get {
		s.listDeployments(w, req, m[1]+"/"+m[2])
	} else if m := sub(deploymentPath); m != nil {
		d := s.deployment(m[1]+"/"+m[2], m[3])
		switch {
		case d == nil:
			notFound(w)
		case get:
			writeJSON(w, http.StatusOK, s.renderDeployment(m[1]+"/"+m[2], d))
		case req.Method == http.MethodDelete:
			s.deleteDeployment(w, m[1]+"/"+m[2], d)
		default:
			notFound(w)
		}
	} else if m := sub(depStatusesPath); m != nil {
		d := s.deployment(m[1]+"/"+m[2], m[3])
		switch {
		case d == nil:
			notFound(w)
		case post:
			s.createDeploymentStatus(w, req, m[1]+"/"+m[2], d)
		case get:
			out := []map[string]any{}
			for i := len(d.Statuses) - 1; i >= 0; i-- {
				out = append(out, s.renderDeploymentStatus(m[1]+"/"+m[2], d, d.Statuses[i]))
			}
			writeJSON(w, http.StatusOK, page(req, out))
		default:
			notFound(w)
		}
	} else if m := sub(environmentsPat); m != nil && get {
		r := s.repo(m[1] + "/" + m[2])
		var names []string
		for e := range r.environments {
			names = append(names, e)
		}
		slices.Sort(names)
		envs := []map[string]any{}
		for _, e := range names {
			envs = append(envs, map[string]any{"name": e, "created_at": r.environments[e].UTC().Format(time.RFC3339)})
		}
		writeJSON(w, http.StatusOK, map[string]any{"total_count": len(envs), "environments": envs})
	} else if m := sub(environmentPath); m != nil {
		r := s.repo(m[1] + "/" + m[2])
		switch req.Method {
		case http.MethodPut:
			if _, ok := r.environments[m[3]]; !ok {
				r.environments[m[3]] = time.Now()
			}
			writeJSON(w, http.StatusOK, map[string]any{"name": m[3], "created_at": r.environments[m[3]].UTC().Format(time.RFC3339)})
		case http.MethodDelete:
			if _, ok := r.environments[m[3]]; !ok {
				notFound(w)
				return true
			}
			delete(r.environments, m[3])
			r.deployments = slices.DeleteFunc(r.deployments, func(d *Deployment) bool { return d.Environment == m[3] })
			w.WriteHeader(http.StatusNoContent)
		default:
			notFound(w)
		}
	} else if m := sub(statusesPath); m != nil && post {
		s.createStatus(w, req, m[1]+"/"+m[2], m[3])
	} else if m := sub(commitStatuses); m != nil && get {
		r := s.repo(m[1] + "/" + m[2])
		out := []map[string]any{}
		for i := len(r.statuses[m[3]]) - 1; i >= 0; i-- {
			out = append(out, renderStatus(r.statuses[m[3]][i]))
		}
		writeJSON(w, http.StatusOK, page(req, out))
	} else if m := sub(combinedStatus); m != nil && get {
		writeJSON(w, http.StatusOK, s.combined(m[1]+"/"+m[2], m[3]))
	} else {
		return false
	}
	return true
}

func (s *Server) deployment(repo, id string) *Deployment {
	n, _ := strconv.ParseInt(id, 10, 64)
	for _, d := range s.repo(repo).deployments {
		if d.ID == n {
			return d
		}
	}
	return nil
}

func (s *Server) nextID() int64 {
	s.ids++
	return s.ids
}

func (s *Server) createDeployment(w http.ResponseWriter, req *http.Request, repo string) {
	var in struct {
		Ref                   string          `json:"ref"`
		Task                  *string         `json:"task"`
		Environment           *string         `json:"environment"`
		Description           string          `json:"description"`
		Payload               json.RawMessage `json:"payload"`
		AutoMerge             *bool           `json:"auto_merge"`
		RequiredContexts      *[]string       `json:"required_contexts"`
		TransientEnvironment  bool            `json:"transient_environment"`
		ProductionEnvironment *bool           `json:"production_environment"`
	}
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	if in.Ref == "" {
		validationFailedOn(w, "Deployment", "missing_field", "ref is required", "https://docs.github.com/rest/deployments/deployments#create-a-deployment")
		return
	}
	// The fake knows no branches: a commit id is the ref it takes.
	if !shaRef.MatchString(in.Ref) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "No ref found for: " + in.Ref,
			"documentation_url": "https://docs.github.com/rest/deployments/deployments#create-a-deployment"})
		return
	}
	env, task := "production", "deploy"
	if in.Environment != nil {
		env = *in.Environment
	}
	if in.Task != nil {
		task = *in.Task
	}
	if in.RequiredContexts == nil || len(*in.RequiredContexts) > 0 {
		// Without required_contexts: [] every context of the commit must be success.
		c := s.combined(repo, in.Ref)
		for _, st := range c["statuses"].([]map[string]any) {
			if st["state"] != "success" && (in.RequiredContexts == nil || slices.Contains(*in.RequiredContexts, st["context"].(string))) {
				writeJSON(w, http.StatusConflict, map[string]string{"message": "Conflict: Commit status checks failed for " + in.Ref + ".",
					"documentation_url": "https://docs.github.com/rest/deployments/deployments#create-a-deployment"})
				return
			}
		}
	}
	if len(in.Payload) > 0 && in.Payload[0] == '"' {
		var str string
		_ = json.Unmarshal(in.Payload, &str)
		in.Payload = json.RawMessage(str)
	}
	if len(in.Payload) == 0 {
		in.Payload = json.RawMessage("{}")
	}
	if !json.Valid(in.Payload) {
		validationFailedOn(w, "Deployment", "invalid", "payload is not valid JSON", "https://docs.github.com/rest/deployments/deployments#create-a-deployment")
		return
	}
	production := env == "production"
	if in.ProductionEnvironment != nil {
		production = *in.ProductionEnvironment
	}
	r := s.repo(repo)
	d := &Deployment{Creator: s.caller, ID: s.nextID(), SHA: in.Ref, Ref: in.Ref, Task: task, Environment: env, Description: in.Description,
		Payload: in.Payload, Transient: in.TransientEnvironment, Production: production, Created: time.Now()}
	r.deployments = append(r.deployments, d)
	if _, ok := r.environments[env]; !ok {
		r.environments[env] = time.Now()
	}
	writeJSON(w, http.StatusCreated, s.renderDeployment(repo, d))
}

func (s *Server) listDeployments(w http.ResponseWriter, req *http.Request, repo string) {
	q := req.URL.Query()
	out := []map[string]any{}
	ds := s.repo(repo).deployments
	for i := len(ds) - 1; i >= 0; i-- { // newest first
		d := ds[i]
		if (q.Get("sha") != "" && q.Get("sha") != d.SHA) || (q.Get("ref") != "" && q.Get("ref") != d.Ref) ||
			(q.Get("environment") != "" && q.Get("environment") != d.Environment) || (q.Get("task") != "" && q.Get("task") != d.Task) {
			continue
		}
		out = append(out, s.renderDeployment(repo, d))
	}
	writeJSON(w, http.StatusOK, page(req, out))
}

func (s *Server) deleteDeployment(w http.ResponseWriter, repo string, d *Deployment) {
	r := s.repo(repo)
	others := 0
	for _, o := range r.deployments {
		if o != d && o.Environment == d.Environment {
			others++
		}
	}
	if d.State() != "inactive" && others > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{
			"message":           "We cannot delete an active deployment unless it is the only deployment in a given environment.",
			"documentation_url": "https://docs.github.com/rest/deployments/deployments#delete-a-deployment"})
		return
	}
	r.deployments = slices.DeleteFunc(r.deployments, func(o *Deployment) bool { return o == d })
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createDeploymentStatus(w http.ResponseWriter, req *http.Request, repo string, d *Deployment) {
	var in struct {
		State          string  `json:"state"`
		Description    string  `json:"description"`
		EnvironmentURL string  `json:"environment_url"`
		LogURL         string  `json:"log_url"`
		Environment    *string `json:"environment"`
		AutoInactive   *bool   `json:"auto_inactive"`
	}
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	if !slices.Contains(deploymentStates, in.State) {
		validationFailedOn(w, "DeploymentStatus", "invalid", fmt.Sprintf("state is not included in the list (%q)", in.State),
			"https://docs.github.com/rest/deployments/statuses#create-a-deployment-status")
		return
	}
	if len(in.Description) > 140 {
		validationFailedOn(w, "DeploymentStatus", "custom", "description is too long (maximum is 140 characters)",
			"https://docs.github.com/rest/deployments/statuses#create-a-deployment-status")
		return
	}
	if in.Environment != nil {
		d.Environment = *in.Environment
	}
	st := DeploymentStatus{Creator: s.caller, ID: s.nextID(), State: in.State, Description: in.Description, EnvironmentURL: in.EnvironmentURL,
		LogURL: in.LogURL, Environment: d.Environment, Created: time.Now()}
	d.Statuses = append(d.Statuses, st)
	// auto_inactive (default true): prior successful deployments of the same
	// environment, non-transient and non-production, turn inactive.
	if in.State == "success" && (in.AutoInactive == nil || *in.AutoInactive) {
		for _, o := range s.repo(repo).deployments {
			if o != d && o.Environment == d.Environment && !o.Transient && !o.Production && o.State() == "success" {
				o.Statuses = append(o.Statuses, DeploymentStatus{ID: s.nextID(), State: "inactive", Environment: o.Environment, Created: time.Now(), Creator: s.caller})
			}
		}
	}
	writeJSON(w, http.StatusCreated, s.renderDeploymentStatus(repo, d, st))
}

func (s *Server) createStatus(w http.ResponseWriter, req *http.Request, repo, sha string) {
	var in struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	if !slices.Contains(commitStates, in.State) {
		validationFailedOn(w, "Status", "custom", fmt.Sprintf("state is not included in the list (%q)", in.State),
			"https://docs.github.com/rest/commits/statuses#create-a-commit-status")
		return
	}
	if !shaRef.MatchString(sha) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "No commit found for SHA: " + sha,
			"documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status"})
		return
	}
	if in.Context == "" {
		in.Context = "default"
	}
	r := s.repo(repo)
	n := 0
	for _, st := range r.statuses[sha] {
		if st.Context == in.Context {
			n++
		}
	}
	if n >= MaxStatusesPerContext {
		validationFailedOn(w, "Status", "custom", "This SHA and context has reached the maximum number of statuses.",
			"https://docs.github.com/rest/commits/statuses#create-a-commit-status")
		return
	}
	st := CommitStatus{ID: s.nextID(), State: in.State, Context: in.Context, Description: in.Description, TargetURL: in.TargetURL, Created: time.Now()}
	r.statuses[sha] = append(r.statuses[sha], st)
	writeJSON(w, http.StatusCreated, renderStatus(st))
}

// combined is GitHub's combined status of a commit: the latest status of each
// context; failure when one is failure or error, pending when one is pending
// or there is none, else success.
func (s *Server) combined(repo, sha string) map[string]any {
	latest := map[string]CommitStatus{}
	var order []string
	for _, st := range s.repo(repo).statuses[sha] {
		if _, ok := latest[st.Context]; !ok {
			order = append(order, st.Context)
		}
		latest[st.Context] = st
	}
	state := "success"
	statuses := []map[string]any{}
	if len(order) == 0 {
		state = "pending"
	}
	for _, c := range order {
		st := latest[c]
		switch {
		case st.State == "failure" || st.State == "error":
			state = "failure"
		case st.State == "pending" && state == "success":
			state = "pending"
		}
		statuses = append(statuses, renderStatus(st))
	}
	return map[string]any{"state": state, "sha": sha, "total_count": len(statuses), "statuses": statuses}
}

func (s *Server) renderDeployment(repo string, d *Deployment) map[string]any {
	return map[string]any{
		"id": d.ID, "sha": d.SHA, "ref": d.Ref, "task": d.Task, "environment": d.Environment, "original_environment": d.Environment,
		"description": d.Description, "payload": d.Payload, "transient_environment": d.Transient, "production_environment": d.Production,
		"url":          fmt.Sprintf("%s/api/v3/repos/%s/deployments/%d", s.URL, repo, d.ID),
		"statuses_url": fmt.Sprintf("%s/api/v3/repos/%s/deployments/%d/statuses", s.URL, repo, d.ID),
		"created_at":   d.Created.UTC().Format(time.RFC3339), "updated_at": d.Created.UTC().Format(time.RFC3339),
		"creator": user(d.Creator),
	}
}

func (s *Server) renderDeploymentStatus(repo string, d *Deployment, st DeploymentStatus) map[string]any {
	return map[string]any{
		"id": st.ID, "state": st.State, "description": st.Description, "environment": st.Environment,
		"environment_url": st.EnvironmentURL, "log_url": st.LogURL, "target_url": st.LogURL,
		"deployment_url": fmt.Sprintf("%s/api/v3/repos/%s/deployments/%d", s.URL, repo, d.ID),
		"created_at":     st.Created.UTC().Format(time.RFC3339), "updated_at": st.Created.UTC().Format(time.RFC3339),
		"creator": user(st.Creator),
	}
}

// user is GitHub's simple user object of login.
func user(login string) map[string]any {
	kind := "User"
	if strings.HasSuffix(login, "[bot]") {
		kind = "Bot"
	}
	return map[string]any{"login": login, "type": kind}
}

func renderStatus(st CommitStatus) map[string]any {
	return map[string]any{"id": st.ID, "state": st.State, "context": st.Context, "description": st.Description,
		"target_url": st.TargetURL, "created_at": st.Created.UTC().Format(time.RFC3339), "updated_at": st.Created.UTC().Format(time.RFC3339)}
}

// page cuts a list as GitHub's per_page (default 30, at most 100) and page do.
func page(req *http.Request, all []map[string]any) []map[string]any {
	per, _ := strconv.Atoi(req.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 30
	}
	per = min(per, 100)
	p, _ := strconv.Atoi(req.URL.Query().Get("page"))
	p = max(p, 1)
	start := (p - 1) * per
	if start >= len(all) {
		return []map[string]any{}
	}
	return all[start:min(start+per, len(all))]
}

func validationFailedOn(w http.ResponseWriter, resource, code, msg, doc string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message":           "Validation Failed",
		"errors":            []map[string]string{{"resource": resource, "code": code, "message": msg}},
		"documentation_url": doc,
	})
}
