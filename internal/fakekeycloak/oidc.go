package fakekeycloak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// code is an authorization code the fake's login page handed out.
type code struct {
	realm, clientID, redirectURI string
	expires                      time.Time
}

// oidcEndpoint splits "/realms/<realm>/protocol/openid-connect/<endpoint>".
func oidcEndpoint(p string) (realm, endpoint string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/realms/"), "/")
	if !strings.HasPrefix(p, "/realms/") || len(parts) != 4 || parts[1] != "protocol" || parts[2] != "openid-connect" {
		return "", "", false
	}
	return parts[0], parts[3], parts[3] == "auth" || parts[3] == "token"
}

// oidc serves a realm's authorization endpoint — a user is always logged in
// here, so it redirects at once with a code, as Keycloak does for a browser
// with a session — and its token endpoint's authorization-code grant, which
// authenticates the client by its secret (client_secret_post or basic).
func (s *Server) oidc(w http.ResponseWriter, r *http.Request, realm, endpoint string) {
	clients := s.realms[realm]
	if clients == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm does not exist"})
		return
	}
	find := func(clientID string) *Client {
		for _, c := range clients {
			if c.ClientID == clientID {
				return c
			}
		}
		return nil
	}
	if endpoint == "auth" {
		q := r.URL.Query()
		c := find(q.Get("client_id"))
		switch {
		case c == nil || !c.Enabled:
			http.Error(w, "Client not found.", http.StatusBadRequest)
		case !redirectAllowed(c, q.Get("redirect_uri")):
			http.Error(w, "Invalid parameter: redirect_uri", http.StatusBadRequest)
		case q.Get("response_type") != "code" || !c.StandardFlowEnabled:
			redirectWith(w, r, q.Get("redirect_uri"), url.Values{"error": {"unauthorized_client"}, "state": {q.Get("state")}})
		default:
			k := id()
			s.codes[k] = code{realm: realm, clientID: c.ClientID, redirectURI: q.Get("redirect_uri"), expires: s.now().Add(time.Minute)}
			redirectWith(w, r, q.Get("redirect_uri"), url.Values{"code": {k}, "state": {q.Get("state")}})
		}
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "HTTP 405 Method Not Allowed"})
		return
	}
	clientID, secret, basic := r.BasicAuth()
	if !basic {
		clientID, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if r.PostFormValue("grant_type") != "authorization_code" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"})
		return
	}
	c := find(clientID)
	if c == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"})
		return
	}
	if !s.acceptsSecret(c, secret) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"})
		return
	}
	k := r.PostFormValue("code")
	grant, found := s.codes[k]
	delete(s.codes, k) // a code is used once, whatever the outcome
	switch {
	case !found || grant.realm != realm || grant.clientID != c.ClientID || !s.now().Before(grant.expires):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Code not valid"})
	case r.PostFormValue("redirect_uri") != grant.redirectURI:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Incorrect redirect_uri"})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"access_token": id(), "id_token": id(), "refresh_token": id(),
			"token_type": "Bearer", "expires_in": 300, "scope": "openid"})
	}
}

// redirectAllowed matches a redirect URI against the client's, where a
// trailing '*' matches any rest, as Keycloak's do.
func redirectAllowed(c *Client, uri string) bool {
	if uri == "" {
		return false
	}
	for _, allowed := range c.RedirectURIs {
		if uri == allowed || (strings.HasSuffix(allowed, "*") && strings.HasPrefix(uri, strings.TrimSuffix(allowed, "*"))) {
			return true
		}
	}
	return false
}

func redirectWith(w http.ResponseWriter, r *http.Request, to string, q url.Values) {
	u, err := url.Parse(to)
	if err != nil {
		http.Error(w, "Invalid parameter: redirect_uri", http.StatusBadRequest)
		return
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// LogIn is what an app's login does, against a Keycloak (the fake): the
// browser goes to the issuer's authorization endpoint and comes back to
// redirectURI with a code, which the app exchanges with its client ID and
// secret. An error says which step failed and what Keycloak answered; it
// never holds the secret.
func LogIn(ctx context.Context, issuer, clientID, secret, redirectURI string) error {
	hc := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	auth := issuer + "/protocol/openid-connect/auth?" + url.Values{"client_id": {clientID}, "redirect_uri": {redirectURI},
		"response_type": {"code"}, "scope": {"openid"}, "state": {"s"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, auth, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("authorization endpoint: %w", errors.Unwrap(err))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || back == nil || back.Query().Get("code") == "" {
		return fmt.Errorf("authorization endpoint: %d %s %s", resp.StatusCode, strings.TrimSpace(string(body)), back.Query().Get("error"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {redirectURI},
		"client_id": {clientID}, "client_secret": {secret}}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/protocol/openid-connect/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = hc.Do(req)
	if err != nil {
		return fmt.Errorf("token endpoint: %w", errors.Unwrap(err))
	}
	defer resp.Body.Close()
	var out struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		IDToken     string `json:"id_token"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out)
	if resp.StatusCode != http.StatusOK || out.IDToken == "" {
		return fmt.Errorf("token endpoint: %d %s: %s", resp.StatusCode, out.Error, out.Description)
	}
	return nil
}
