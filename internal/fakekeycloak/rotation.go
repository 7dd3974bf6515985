package fakekeycloak

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// FeatureSecretRotation is Keycloak's client-secret-rotation feature (a
// preview feature, off unless Keycloak starts with
// --features=client-secret-rotation). Without it the secret-rotation executor
// does not exist, a profile naming it is refused, and no client has a rotated
// secret.
const FeatureSecretRotation = "client-secret-rotation"

// SetFeature turns a Keycloak feature on or off, as starting Keycloak with or
// without --features=<name> does; what the realms hold is kept.
func (s *Server) SetFeature(name string, on bool) {
	s.Lock()
	defer s.Unlock()
	s.features[name] = on
}

// Advance moves the fake's clock forward (secrets' expiry).
func (s *Server) Advance(d time.Duration) {
	s.Lock()
	defer s.Unlock()
	s.offset += d
}

func (s *Server) now() time.Time { return time.Now().Add(s.offset) }

// Profile is a client profile of a realm's client policies, as the admin API
// represents it.
type Profile struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Executors   []Executor `json:"executors"`
}

// Executor is one executor of a client profile.
type Executor struct {
	Executor      string          `json:"executor"`
	Configuration json.RawMessage `json:"configuration,omitempty"`
}

// Policy is a client policy: when its conditions hold for a client, its
// profiles' executors act on the client's events.
type Policy struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Enabled     bool        `json:"enabled"`
	Conditions  []Condition `json:"conditions"`
	Profiles    []string    `json:"profiles"`
}

// Condition is one condition of a client policy.
type Condition struct {
	Condition     string          `json:"condition"`
	Configuration json.RawMessage `json:"configuration,omitempty"`
}

// rotationConfig is the secret-rotation executor's configuration in seconds,
// with Keycloak's defaults (29 days, 2 days, 10 days).
type rotationConfig struct {
	Expiration int `json:"expiration-period"`
	Rotated    int `json:"rotated-expiration-period"`
	Remaining  int `json:"remaining-rotation-period"`
}

// parseRotation reads an executor's configuration as Keycloak's Jackson does
// (numbers, or numbers in strings) and checks it as Keycloak's validateConfig:
// a positive expiration no shorter than either other period.
func parseRotation(raw json.RawMessage) (rotationConfig, bool) {
	cfg := rotationConfig{Expiration: 29 * 86400, Rotated: 2 * 86400, Remaining: 10 * 86400}
	if len(raw) > 0 {
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			return cfg, false
		}
		for key, field := range map[string]*int{"expiration-period": &cfg.Expiration, "rotated-expiration-period": &cfg.Rotated, "remaining-rotation-period": &cfg.Remaining} {
			switch v := m[key].(type) {
			case nil:
			case float64:
				*field = int(v)
			case string:
				n, err := strconv.Atoi(v)
				if err != nil {
					return cfg, false
				}
				*field = n
			default:
				return cfg, false
			}
		}
	}
	return cfg, cfg.Expiration > 0 && cfg.Rotated <= cfg.Expiration && cfg.Remaining <= cfg.Expiration
}

// clientPolicies serves GET and PUT of a realm's client profiles and policies;
// a PUT replaces the whole list, as Keycloak's does, after checking it.
func (s *Server) clientPolicies(w http.ResponseWriter, r *http.Request, realm, kind string) {
	switch {
	case kind == "profiles" && r.Method == http.MethodGet:
		out := map[string]any{"profiles": nonNil(s.profiles[realm])}
		if r.URL.Query().Get("include-global-profiles") == "true" {
			out["globalProfiles"] = []Profile{}
		}
		writeJSON(w, http.StatusOK, out)
	case kind == "profiles" && r.Method == http.MethodPut:
		var in struct {
			Profiles []Profile `json:"profiles"`
		}
		if json.NewDecoder(r.Body).Decode(&in) != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "invalid json representation for ClientProfilesRepresentation."})
			return
		}
		seen := map[string]bool{}
		for _, p := range in.Profiles {
			if p.Name == "" || seen[p.Name] {
				writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "proposed client profile name duplicated."})
				return
			}
			seen[p.Name] = true
			for _, e := range p.Executors {
				if _, ok := parseRotation(e.Configuration); e.Executor != "secret-rotation" || !s.features[FeatureSecretRotation] || !ok {
					writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "proposed client profile contains the executor, which does not have valid provider, or has invalid configuration."})
					return
				}
			}
		}
		s.profiles[realm] = in.Profiles
		w.WriteHeader(http.StatusNoContent)
	case kind == "policies" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"policies": nonNil(s.policies[realm])})
	case kind == "policies" && r.Method == http.MethodPut:
		var in struct {
			Policies []Policy `json:"policies"`
		}
		if json.NewDecoder(r.Body).Decode(&in) != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "invalid json representation for ClientPoliciesRepresentation."})
			return
		}
		for _, p := range in.Policies {
			for _, name := range p.Profiles {
				if !slices.ContainsFunc(s.profiles[realm], func(pr Profile) bool { return pr.Name == name }) {
					writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "proposed client policy contains the non-existent client profile."})
					return
				}
			}
			for _, c := range p.Conditions {
				if _, ok := conditionHolds(c, &Client{}); !ok {
					writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "proposed client policy contains the condition with its invalid configuration."})
					return
				}
			}
		}
		s.policies[realm] = in.Policies
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "HTTP 405 Method Not Allowed"})
	}
}

func nonNil[T any](in []T) []T {
	if in == nil {
		return []T{}
	}
	return in
}

// conditionHolds says whether a condition holds for c, and whether the fake
// knows the condition (any-client, client-access-type).
func conditionHolds(cond Condition, c *Client) (holds, known bool) {
	switch cond.Condition {
	case "any-client":
		return true, true
	case "client-access-type":
		var cfg struct {
			Type []string `json:"type"`
		}
		if len(cond.Configuration) > 0 && json.Unmarshal(cond.Configuration, &cfg) != nil {
			return false, false
		}
		if len(cfg.Type) == 0 {
			cfg.Type = []string{"confidential"}
		}
		kind := "confidential"
		switch {
		case c.BearerOnly:
			kind = "bearer-only"
		case c.PublicClient:
			kind = "public"
		}
		return slices.Contains(cfg.Type, kind), true
	}
	return false, false
}

// rotation is the secret-rotation configuration that applies to c in realm:
// the feature is on, an enabled policy's conditions all hold for c, and one of
// its profiles has the executor. Public and bearer-only clients have no
// secret to rotate.
func (s *Server) rotation(realm string, c *Client) (rotationConfig, bool) {
	if !s.features[FeatureSecretRotation] || c.PublicClient || c.BearerOnly {
		return rotationConfig{}, false
	}
	for _, p := range s.policies[realm] {
		if !p.Enabled || len(p.Conditions) == 0 {
			continue
		}
		all := true
		for _, cond := range p.Conditions {
			if holds, _ := conditionHolds(cond, c); !holds {
				all = false
			}
		}
		if !all {
			continue
		}
		for _, name := range p.Profiles {
			for _, pr := range s.profiles[realm] {
				for _, e := range pr.Executors {
					if pr.Name == name && e.Executor == "secret-rotation" {
						cfg, _ := parseRotation(e.Configuration)
						return cfg, true
					}
				}
			}
		}
	}
	return rotationConfig{}, false
}

// regenerate is the admin API's "Regenerate secret": a new secret; under a
// secret-rotation policy the old one stays valid as the rotated secret for
// the policy's rotated-expiration-period, otherwise it is invalid at once and
// any rotated secret is dropped.
func (s *Server) regenerate(realm string, c *Client) {
	old := c.secret
	c.secret = id()
	cfg, ok := s.rotation(realm, c)
	if !ok || cfg.Rotated <= 0 {
		c.rotated, c.rotatedUntil = "", time.Time{}
		if ok {
			c.secretExpires = s.now().Add(time.Duration(cfg.Expiration) * time.Second)
		}
		return
	}
	c.rotated, c.rotatedUntil = old, s.now().Add(time.Duration(cfg.Rotated)*time.Second)
	c.secretExpires = s.now().Add(time.Duration(cfg.Expiration) * time.Second)
}

// applyPolicy is what a secret-rotation policy does when a client is created
// or updated: a client without an expiry gets one; an expired secret is
// rotated (the old one kept as the rotated secret).
func (s *Server) applyPolicy(realm string, c *Client) {
	cfg, ok := s.rotation(realm, c)
	switch {
	case !ok:
	case c.secretExpires.IsZero():
		c.secretExpires = s.now().Add(time.Duration(cfg.Expiration) * time.Second)
	case !s.now().Before(c.secretExpires):
		s.regenerate(realm, c)
	}
}

// acceptsSecret is Keycloak's client-secret authenticator: the secret is the
// current one or the rotated one (only while the feature is on, and until the
// rotated one expires), and the current secret has not expired (an expired
// current secret fails both).
func (s *Server) acceptsSecret(c *Client, secret string) bool {
	now := s.now()
	current := secret == c.secret
	rotated := s.features[FeatureSecretRotation] && c.rotated != "" && secret == c.rotated && now.Before(c.rotatedUntil)
	return secret != "" && (current || rotated) && (c.secretExpires.IsZero() || now.Before(c.secretExpires))
}
