// Package fakekeycloak is a stateful fake of the parts of Keycloak's admin REST API
// that Plattr uses — the admin token, realms, clients, client secrets, and the
// client policies with which Keycloak's secret rotation keeps a previous secret
// valid (only with the client-secret-rotation feature on) — and of a realm's
// authorization and token endpoints (an app's login), served
// on 127.0.0.1 for tests, because Keycloak cannot run here. It answers as Keycloak
// does: 201 with a Location header on create, 409 on a duplicate, 204 on update and
// delete, 404, 401 for a missing or expired token (tokens can be expired at will),
// and 5xx or a stall on demand. A PUT changes only the fields it carries, as
// Keycloak's does, and what was put (by hand, say) is what a GET returns. It is
// driven only through Plattr's Keycloak client, and has tests of its own.
package fakekeycloak

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/plattr/plattr/internal/fakehttp"
)

// Client is a client as the fake keeps it.
type Client struct {
	ID                        string   `json:"id"`
	ClientID                  string   `json:"clientId"`
	Name                      string   `json:"name,omitempty"`
	Protocol                  string   `json:"protocol"`
	ClientAuthenticatorType   string   `json:"clientAuthenticatorType"`
	PublicClient              bool     `json:"publicClient"`
	BearerOnly                bool     `json:"bearerOnly"`
	Enabled                   bool     `json:"enabled"`
	StandardFlowEnabled       bool     `json:"standardFlowEnabled"`
	ImplicitFlowEnabled       bool     `json:"implicitFlowEnabled"`
	DirectAccessGrantsEnabled bool     `json:"directAccessGrantsEnabled"`
	ServiceAccountsEnabled    bool     `json:"serviceAccountsEnabled"`
	RedirectURIs              []string `json:"redirectUris"`
	WebOrigins                []string `json:"webOrigins"`
	secret                    string
	// rotated is the previous secret a secret-rotation policy kept valid
	// until rotatedUntil; secretExpires, set by such a policy, is when the
	// current secret stops being accepted (zero: never).
	rotated                     string
	rotatedUntil, secretExpires time.Time
}

// clientIn is a client as a request carries it: the secret may be set.
type clientIn struct {
	Client
	Secret *string `json:"secret"`
}

// Server is the fake.
type Server struct {
	fakehttp.Base
	AdminUser, AdminPassword string

	tokens       map[string]bool
	realms       map[string]map[string]*Client
	profiles     map[string][]Profile // client profiles by realm
	policies     map[string][]Policy  // client policies by realm
	codes        map[string]code      // authorization codes not yet exchanged
	features     map[string]bool      // Keycloak features turned on (--features)
	offset       time.Duration        // Advance's
	methodFaults []methodFault
	hideFind     int
	issued       int // admin tokens issued
}

// New starts a fake whose master-realm admin is user/password.
func New(user, password string) *Server {
	s := &Server{AdminUser: user, AdminPassword: password, tokens: map[string]bool{}, realms: map[string]map[string]*Client{"master": {}},
		profiles: map[string][]Profile{}, policies: map[string][]Policy{}, codes: map[string]code{}, features: map[string]bool{}}
	s.Start(s.serve)
	return s
}

// SetAdminPassword changes the master admin's password.
func (s *Server) SetAdminPassword(pw string) {
	s.Lock()
	defer s.Unlock()
	s.AdminPassword = pw
}

// TokensIssued is how many admin tokens the server has issued.
func (s *Server) TokensIssued() int {
	s.Lock()
	defer s.Unlock()
	return s.issued
}

// ExpireTokens makes every token issued so far invalid (401), as when they expire.
func (s *Server) ExpireTokens() {
	s.Lock()
	defer s.Unlock()
	s.tokens = map[string]bool{}
}

// FailNextMethod makes the next admin API request with method answer status
// with a body, as Keycloak's own 4xx and 5xx answers have one.
func (s *Server) FailNextMethod(method string, status int) {
	s.Lock()
	defer s.Unlock()
	s.methodFaults = append(s.methodFaults, methodFault{method, status})
}

type methodFault struct {
	method string
	status int
}

// HideFromNextFind makes the next client search come back empty.
func (s *Server) HideFromNextFind() {
	s.Lock()
	defer s.Unlock()
	s.hideFind++
}

// Clients returns copies of a realm's clients.
func (s *Server) Clients(realm string) []Client {
	s.Lock()
	defer s.Unlock()
	var out []Client
	for _, c := range s.realms[realm] {
		out = append(out, c.clone())
	}
	return out
}

// clone is a copy that shares no slice with c.
func (c *Client) clone() Client {
	out := *c
	out.RedirectURIs = slices.Clone(c.RedirectURIs)
	out.WebOrigins = slices.Clone(c.WebOrigins)
	return out
}

// HasRealm says whether a realm exists.
func (s *Server) HasRealm(realm string) bool {
	s.Lock()
	defer s.Unlock()
	return s.realms[realm] != nil
}

func id() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !s.Enter(r, strings.HasPrefix(r.URL.Path, "/admin/")) {
		return
	}
	defer s.Unlock()
	if r.URL.Path == "/realms/master/protocol/openid-connect/token" && r.Method == http.MethodPost && r.PostFormValue("grant_type") == "password" {
		if r.Form.Get("client_id") != "admin-cli" || r.Form.Get("username") != s.AdminUser || r.Form.Get("password") != s.AdminPassword {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_grant", "error_description": "Invalid user credentials"})
			return
		}
		t := id()
		s.tokens[t] = true
		s.issued++
		writeJSON(w, http.StatusOK, map[string]any{"access_token": t, "expires_in": 60, "token_type": "Bearer"})
		return
	}
	if realm, endpoint, ok := oidcEndpoint(r.URL.Path); ok {
		s.oidc(w, r, realm, endpoint)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/admin/realms") {
		http.NotFound(w, r)
		return
	}
	if status, ok := s.NextFault(); ok {
		writeJSON(w, status, map[string]string{"error": "unknown_error"})
		return
	}
	for i, f := range s.methodFaults {
		if f.method == r.Method {
			s.methodFaults = append(s.methodFaults[:i], s.methodFaults[i+1:]...)
			writeJSON(w, f.status, map[string]string{"errorMessage": "Invalid client " + r.URL.Path})
			return
		}
	}
	if !s.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "HTTP 401 Unauthorized"})
		return
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/admin/realms"), "/"), "/")
	switch {
	case parts[0] == "" && r.Method == http.MethodPost:
		var in struct {
			Realm string `json:"realm"`
		}
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.Realm == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "invalid realm"})
			return
		}
		if s.realms[in.Realm] != nil {
			writeJSON(w, http.StatusConflict, map[string]string{"errorMessage": "Conflict detected. See logs for details"})
			return
		}
		s.realms[in.Realm] = map[string]*Client{}
		w.Header().Set("Location", s.URL+"/admin/realms/"+in.Realm)
		w.WriteHeader(http.StatusCreated)
	case len(parts) == 1 && r.Method == http.MethodGet:
		if s.realms[parts[0]] == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm not found."})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"realm": parts[0], "enabled": true})
	case len(parts) == 3 && parts[1] == "client-policies" && s.realms[parts[0]] != nil:
		s.clientPolicies(w, r, parts[0], parts[2])
	case len(parts) >= 2 && parts[1] == "clients":
		clients := s.realms[parts[0]]
		if clients == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm not found."})
			return
		}
		s.clients(w, r, parts[0], clients, parts[2:])
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "RESTEASY003210: Could not find resource for full path: " + r.URL.Path})
	}
}

func (s *Server) clients(w http.ResponseWriter, r *http.Request, realm string, clients map[string]*Client, rest []string) {
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		out := []*Client{}
		if s.hideFind > 0 {
			s.hideFind--
		} else {
			for _, c := range clients {
				if q := r.URL.Query().Get("clientId"); q == "" || q == c.ClientID {
					out = append(out, c)
				}
			}
		}
		writeJSON(w, http.StatusOK, out)
	case len(rest) == 0 && r.Method == http.MethodPost:
		var in clientIn
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.ClientID == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "invalid client"})
			return
		}
		for _, other := range clients {
			if other.ClientID == in.ClientID {
				writeJSON(w, http.StatusConflict, map[string]string{"errorMessage": fmt.Sprintf("Client %s already exists", in.ClientID)})
				return
			}
		}
		c := in.Client
		c.ID, c.secret = id(), id()
		if in.Secret != nil && *in.Secret != "" {
			c.secret = *in.Secret
		}
		s.applyPolicy(realm, &c)
		clients[c.ID] = &c
		w.Header().Set("Location", s.URL+"/admin/realms/"+realm+"/clients/"+c.ID)
		w.WriteHeader(http.StatusCreated)
	default:
		c := clients[rest[0]]
		if c == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Could not find client"})
			return
		}
		switch {
		case len(rest) == 1 && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, c)
		case len(rest) == 1 && r.Method == http.MethodPut:
			// Decoded over a copy: fields the body leaves out keep their values.
			in := clientIn{Client: c.clone()}
			if json.NewDecoder(r.Body).Decode(&in) != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "invalid client"})
				return
			}
			updated := in.Client
			updated.ID, updated.secret = c.ID, c.secret
			if in.Secret != nil && *in.Secret != "" {
				updated.secret = *in.Secret
			}
			updated.rotated, updated.rotatedUntil, updated.secretExpires = c.rotated, c.rotatedUntil, c.secretExpires
			s.applyPolicy(realm, &updated)
			clients[c.ID] = &updated
			w.WriteHeader(http.StatusNoContent)
		case len(rest) == 1 && r.Method == http.MethodDelete:
			delete(clients, c.ID)
			w.WriteHeader(http.StatusNoContent)
		case len(rest) == 2 && rest[1] == "client-secret" && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, map[string]string{"type": "secret", "value": c.secret})
		case len(rest) == 2 && rest[1] == "client-secret" && r.Method == http.MethodPost:
			s.regenerate(realm, c)
			writeJSON(w, http.StatusOK, map[string]string{"type": "secret", "value": c.secret})
		case len(rest) == 3 && rest[1] == "client-secret" && rest[2] == "rotated" && r.Method == http.MethodGet:
			if c.rotated == "" || !s.features[FeatureSecretRotation] {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "Client does not have a rotated secret"})
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"type": "secret", "value": c.rotated})
		case len(rest) == 3 && rest[1] == "client-secret" && rest[2] == "rotated" && r.Method == http.MethodDelete:
			c.rotated, c.rotatedUntil = "", time.Time{}
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "HTTP 405 Method Not Allowed"})
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
