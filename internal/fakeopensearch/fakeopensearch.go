// Package fakeopensearch is a stateful fake of the parts of OpenSearch that Plattr
// uses — the security plugin's REST API (roles, internal users, role mappings,
// authinfo) and enough of the index API (create, index a document, read it, list,
// delete) to check who may touch which index — served on 127.0.0.1 for tests,
// because OpenSearch cannot run here. Index permissions are evaluated as
// OpenSearch does, by matching the roles' index patterns against index names, so
// cross-tenant tests mean something. Status codes and bodies follow OpenSearch
// 2.x: 200/201 on PUT, 404 NOT_FOUND, 403 for reserved or hidden resources and for
// missing permissions, 401 for bad credentials, 5xx or a stall on demand. A PUT
// replaces the whole resource, as OpenSearch's does, and what was put (by hand,
// say) is what a GET and authinfo return: roles reach a user through its name or
// its backend roles.
package fakeopensearch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/plattr/plattr/internal/fakehttp"
)

// Role is a security role.
type Role struct {
	ClusterPermissions []string           `json:"cluster_permissions"`
	IndexPermissions   []IndexPermission  `json:"index_permissions"`
	TenantPermissions  []TenantPermission `json:"tenant_permissions"`
	Description        string             `json:"description,omitempty"`
	Reserved           bool               `json:"reserved"`
	Hidden             bool               `json:"hidden"`
}

// IndexPermission allows actions on indices matching patterns.
type IndexPermission struct {
	IndexPatterns  []string `json:"index_patterns"`
	DLS            string   `json:"dls,omitempty"`
	FLS            []string `json:"fls"`
	MaskedFields   []string `json:"masked_fields"`
	AllowedActions []string `json:"allowed_actions"`
}

// TenantPermission allows actions on Dashboards tenants.
type TenantPermission struct {
	TenantPatterns []string `json:"tenant_patterns"`
	AllowedActions []string `json:"allowed_actions"`
}

type user struct {
	password     string
	backendRoles []string
	reserved     bool
	hidden       bool
}

type mapping struct {
	Users           []string `json:"users"`
	BackendRoles    []string `json:"backend_roles"`
	AndBackendRoles []string `json:"and_backend_roles"`
	Hosts           []string `json:"hosts"`
	Reserved        bool     `json:"reserved"`
	Hidden          bool     `json:"hidden"`
}

// Server is the fake.
type Server struct {
	fakehttp.Base
	AdminUser, AdminPassword string

	roles    map[string]*Role
	users    map[string]*user
	mappings map[string]*mapping
	indices  map[string]map[string]json.RawMessage
}

// New starts a fake whose admin is admin/password, with OpenSearch's reserved
// all_access role (mapped to the admin and to the backend role "admin") and admin user.
func New(admin, password string) *Server {
	s := &Server{AdminUser: admin, AdminPassword: password,
		roles: map[string]*Role{"all_access": {Reserved: true, ClusterPermissions: []string{"*"}}, "security_rest_api_access": {Reserved: true, Hidden: true}},
		users: map[string]*user{admin: {password: password, reserved: true}},
		// As OpenSearch's default roles_mapping.yml: the backend role "admin" is all_access.
		mappings: map[string]*mapping{"all_access": {Users: []string{admin}, BackendRoles: []string{"admin"}, Reserved: true}},
		indices:  map[string]map[string]json.RawMessage{}}
	s.Start(s.serve)
	return s
}

// Role returns a copy of a role as stored, nil when absent.
func (s *Server) Role(name string) *Role {
	s.Lock()
	defer s.Unlock()
	r := s.roles[name]
	if r == nil {
		return nil
	}
	var out Role
	data, _ := json.Marshal(r)
	_ = json.Unmarshal(data, &out)
	return &out
}

// Has says whether a role, internal user or role mapping exists ("roles", "internalusers", "rolesmapping").
func (s *Server) Has(kind, name string) bool {
	s.Lock()
	defer s.Unlock()
	switch kind {
	case "roles":
		return s.roles[name] != nil
	case "internalusers":
		return s.users[name] != nil
	default:
		return s.mappings[name] != nil
	}
}

// AddReservedRole adds a reserved role, as OpenSearch's own static roles are.
func (s *Server) AddReservedRole(name string) {
	s.Lock()
	defer s.Unlock()
	s.roles[name] = &Role{Reserved: true, Description: "reserved"}
}

// RoleDescription is a role's description ("" when absent).
func (s *Server) RoleDescription(name string) string {
	s.Lock()
	defer s.Unlock()
	if r := s.roles[name]; r != nil {
		return r.Description
	}
	return ""
}

// Indices lists the indices, sorted.
func (s *Server) Indices() []string {
	s.Lock()
	defer s.Unlock()
	var out []string
	for n := range s.indices {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

const securityAPI = "/_plugins/_security/api/"

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !s.Enter(r, true) {
		return
	}
	defer s.Unlock()
	if status, ok := s.NextFault(); ok {
		writeJSON(w, status, map[string]any{"status": http.StatusText(status), "message": "injected fault"})
		return
	}
	name, pw, ok := r.BasicAuth()
	u := s.users[name]
	if !ok || u == nil || u.password != pw {
		w.Header().Set("WWW-Authenticate", `Basic realm="OpenSearch Security"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"status": 401, "error": "Unauthorized"})
		return
	}
	admin := name == s.AdminUser
	switch {
	case r.URL.Path == "/_plugins/_security/authinfo":
		backend := []string{}
		if u.backendRoles != nil {
			backend = u.backendRoles
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": "User [name=" + name + ", backend_roles=" + fmt.Sprint(backend) + "]",
			"user_name": name, "backend_roles": backend, "roles": s.rolesOf(name)})
	case strings.HasPrefix(r.URL.Path, securityAPI):
		if !admin {
			writeJSON(w, http.StatusForbidden, map[string]any{"status": "FORBIDDEN", "message": "No permission to access REST API: User " + name + " with Security roles " + fmt.Sprint(s.rolesOf(name)) + " does not have any access to endpoint"})
			return
		}
		s.security(w, r, strings.TrimPrefix(r.URL.Path, securityAPI))
	default:
		s.index(w, r, name, admin)
	}
}

// rolesOf is the security roles mapped to user, by name or by a backend role.
func (s *Server) rolesOf(user string) []string {
	out := []string{}
	var backend []string
	if u := s.users[user]; u != nil {
		backend = u.backendRoles
	}
	for role, m := range s.mappings {
		if slices.Contains(m.Users, user) || slices.ContainsFunc(m.BackendRoles, func(b string) bool { return slices.Contains(backend, b) }) {
			out = append(out, role)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) security(w http.ResponseWriter, r *http.Request, rest string) {
	kind, name, _ := strings.Cut(rest, "/")
	if name == "" || strings.Contains(name, "/") {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "BAD_REQUEST", "message": "invalid resource name"})
		return
	}
	reserved, hidden, exists := false, false, false
	switch kind {
	case "roles":
		if x := s.roles[name]; x != nil {
			exists, reserved, hidden = true, x.Reserved, x.Hidden
		}
	case "internalusers":
		if x := s.users[name]; x != nil {
			exists, reserved, hidden = true, x.reserved, x.hidden
		}
	case "rolesmapping":
		if x := s.mappings[name]; x != nil {
			exists, reserved, hidden = true, x.Reserved, x.Hidden
		}
	default:
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "BAD_REQUEST", "message": "unknown endpoint " + kind})
		return
	}
	if hidden || (reserved && r.Method != http.MethodGet) {
		writeJSON(w, http.StatusForbidden, map[string]any{"status": "FORBIDDEN", "message": fmt.Sprintf("Resource '%s' is reserved.", name)})
		return
	}
	switch r.Method {
	case http.MethodGet:
		if !exists {
			writeJSON(w, http.StatusNotFound, map[string]any{"status": "NOT_FOUND", "message": fmt.Sprintf("Resource '%s' not found.", name)})
			return
		}
		var item any
		switch kind {
		case "roles":
			item = s.roles[name]
		case "internalusers":
			backend := []string{}
			if b := s.users[name].backendRoles; b != nil {
				backend = b
			}
			item = map[string]any{"hash": "", "reserved": s.users[name].reserved, "hidden": false, "backend_roles": backend, "attributes": map[string]string{}}
		case "rolesmapping":
			item = s.mappings[name]
		}
		writeJSON(w, http.StatusOK, map[string]any{name: item})
	case http.MethodPut:
		var err error
		switch kind {
		case "roles":
			var role Role
			// A body that does not parse changes nothing (400 below).
			if err = json.NewDecoder(r.Body).Decode(&role); err == nil {
				role.Reserved, role.Hidden = false, false
				s.roles[name] = &role
			}
		case "internalusers":
			var in struct {
				Password     string   `json:"password"`
				BackendRoles []string `json:"backend_roles"`
			}
			err = json.NewDecoder(r.Body).Decode(&in)
			if err == nil && in.Password == "" && !exists {
				writeJSON(w, http.StatusBadRequest, map[string]any{"status": "BAD_REQUEST", "message": "Please specify either 'hash' or 'password' when creating a new internal user."})
				return
			}
			if err == nil {
				if in.Password == "" {
					in.Password = s.users[name].password
				}
				s.users[name] = &user{password: in.Password, backendRoles: in.BackendRoles}
			}
		case "rolesmapping":
			var m mapping
			if err = json.NewDecoder(r.Body).Decode(&m); err == nil {
				m.Reserved, m.Hidden = false, false
				s.mappings[name] = &m
			}
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": "BAD_REQUEST", "message": "Could not parse content of request."})
			return
		}
		if exists {
			writeJSON(w, http.StatusOK, map[string]any{"status": "OK", "message": fmt.Sprintf("'%s' updated.", name)})
		} else {
			writeJSON(w, http.StatusCreated, map[string]any{"status": "CREATED", "message": fmt.Sprintf("'%s' created.", name)})
		}
	case http.MethodDelete:
		if !exists {
			writeJSON(w, http.StatusNotFound, map[string]any{"status": "NOT_FOUND", "message": fmt.Sprintf("Resource '%s' not found.", name)})
			return
		}
		switch kind {
		case "roles":
			delete(s.roles, name)
		case "internalusers":
			delete(s.users, name)
		case "rolesmapping":
			delete(s.mappings, name)
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "OK", "message": fmt.Sprintf("'%s' deleted.", name)})
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"status": "METHOD_NOT_ALLOWED", "message": r.Method})
	}
}

// allowed says whether user may do action (a coarse class: "read", "write",
// "create_index", "delete_index") on index, through the roles mapped to it.
func (s *Server) allowed(user, index, action string) bool {
	for _, roleName := range s.rolesOf(user) {
		role := s.roles[roleName]
		if role == nil {
			continue
		}
		for _, p := range role.IndexPermissions {
			if !matchAny(p.IndexPatterns, index) {
				continue
			}
			for _, a := range p.AllowedActions {
				switch {
				case a == "*" || a == "indices_all" || a == "indices:*":
					return true
				case a == "crud" && (action == "read" || action == "write"):
					return true
				case a == "read" && action == "read", a == "write" && action == "write", a == "create_index" && action == "create_index",
					a == "delete" && action == "write", a == "indices:admin/delete" && action == "delete_index":
					return true
				}
			}
		}
	}
	return false
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if Match(p, name) {
			return true
		}
	}
	return false
}

// Match is OpenSearch's simple wildcard matching: '*' any run, '?' one character.
func Match(pattern, name string) bool {
	if pattern == "" {
		return name == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(name); i++ {
			if Match(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	case '?':
		return name != "" && Match(pattern[1:], name[1:])
	default:
		return name != "" && name[0] == pattern[0] && Match(pattern[1:], name[1:])
	}
}

func (s *Server) forbidden(w http.ResponseWriter, user, action, index string) {
	writeJSON(w, http.StatusForbidden, map[string]any{
		"error": map[string]any{"type": "security_exception", "reason": fmt.Sprintf("no permissions for [%s] and User [name=%s]", action, user),
			"root_cause": []map[string]any{{"type": "security_exception", "reason": fmt.Sprintf("no permissions for [%s] and User [name=%s] on index %s", action, user, index)}}},
		"status": 403})
}

func (s *Server) index(w http.ResponseWriter, r *http.Request, user string, admin bool) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if parts[0] == "_cat" && len(parts) >= 2 && parts[1] == "indices" {
		pattern := "*"
		if len(parts) > 2 {
			pattern = parts[2]
		}
		out := []map[string]string{}
		for n, docs := range s.indices {
			if Match(pattern, n) && (admin || s.allowed(user, n, "read")) {
				out = append(out, map[string]string{"index": n, "docs.count": fmt.Sprint(len(docs))})
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i]["index"] < out[j]["index"] })
		writeJSON(w, http.StatusOK, out)
		return
	}
	idx := parts[0]
	if idx == "" || strings.HasPrefix(idx, "_") {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "error": "unsupported by the fake: " + r.URL.Path})
		return
	}
	switch {
	case len(parts) == 1 && r.Method == http.MethodPut:
		if !admin && !s.allowed(user, idx, "create_index") {
			s.forbidden(w, user, "indices:admin/create", idx)
			return
		}
		if s.indices[idx] != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"type": "resource_already_exists_exception", "reason": "index [" + idx + "] already exists"}, "status": 400})
			return
		}
		s.indices[idx] = map[string]json.RawMessage{}
		writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true, "index": idx})
	case len(parts) == 1 && r.Method == http.MethodDelete:
		if !admin && !s.allowed(user, idx, "delete_index") {
			s.forbidden(w, user, "indices:admin/delete", idx)
			return
		}
		if s.indices[idx] == nil {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"type": "index_not_found_exception", "reason": "no such index [" + idx + "]"}, "status": 404})
			return
		}
		delete(s.indices, idx)
		writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
	case len(parts) >= 2 && parts[1] == "_doc" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		if !admin && !s.allowed(user, idx, "write") {
			s.forbidden(w, user, "indices:data/write/index", idx)
			return
		}
		if s.indices[idx] == nil {
			if !admin && !s.allowed(user, idx, "create_index") {
				s.forbidden(w, user, "indices:admin/create", idx)
				return
			}
			s.indices[idx] = map[string]json.RawMessage{}
		}
		id := fmt.Sprint(len(s.indices[idx]) + 1)
		if len(parts) > 2 {
			id = parts[2]
		}
		var doc json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"type": "mapper_parsing_exception", "reason": "failed to parse"}, "status": 400})
			return
		}
		s.indices[idx][id] = doc
		writeJSON(w, http.StatusCreated, map[string]any{"_index": idx, "_id": id, "result": "created"})
	case len(parts) == 3 && parts[1] == "_doc" && r.Method == http.MethodGet:
		if !admin && !s.allowed(user, idx, "read") {
			s.forbidden(w, user, "indices:data/read/get", idx)
			return
		}
		doc, ok := s.indices[idx][parts[2]]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"_index": idx, "_id": parts[2], "found": false})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"_index": idx, "_id": parts[2], "found": true, "_source": doc})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "error": "unsupported by the fake: " + r.Method + " " + r.URL.Path})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
