package keycloak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
)

// Client is a small client of exactly the parts of Keycloak's admin REST API that
// Plattr needs (no Go client for it can be had here): an admin token (fetched
// again once when a call answers 401), realms, clients and client secrets.
//
// Every call is one request bounded by RequestTimeout and is never retried
// here: a reconcile worker must not wait out a stalled Keycloak several times
// over; a failure is returned and the controller's workqueue backs off.
type Client struct {
	base, user string
	password   func(context.Context) (string, error)
	http       *http.Client

	mu    sync.Mutex
	token string
}

// NewClient returns a client of the Keycloak at base (e.g. https://sso.example.com),
// authenticating as an admin of the master realm.
func NewClient(base, user, password string) *Client {
	return NewClientWithPassword(base, user, Static(password))
}

// Static is a password that does not change.
func Static(password string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return password, nil }
}

// NewClientWithPassword is NewClient with a password read when a token is needed
// (for example from a Secret that appears after the operator started).
func NewClientWithPassword(base, user string, password func(context.Context) (string, error)) *Client {
	return &Client{base: strings.TrimSuffix(base, "/"), user: user, password: password,
		http: &http.Client{Timeout: RequestTimeout}}
}

// RequestTimeout bounds each request to Keycloak, the answer's body included.
const RequestTimeout = 5 * time.Second

// ErrNotFound is a 404; ErrConflict a 409.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// StatusError is an unexpected answer.
type StatusError struct {
	Op     string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("keycloak %s: %d %s", e.Op, e.Status, strings.TrimSpace(e.Body))
}

func (c *Client) getToken(ctx context.Context, renew bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && !renew {
		return c.token, nil
	}
	password, err := c.password(ctx)
	if err != nil {
		return "", fmt.Errorf("keycloak admin password: %w", err)
	}
	form := url.Values{"grant_type": {"password"}, "client_id": {"admin-cli"}, "username": {c.user}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/realms/master/protocol/openid-connect/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("keycloak admin token: %w", errors.Unwrap(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusUnauthorized {
			return "", errors.New("keycloak admin token: the admin credentials were refused (check KEYCLOAK_ADMIN_USER and KEYCLOAK_ADMIN_PASSWORD)")
		}
		return "", &StatusError{Op: "admin token", Status: resp.StatusCode}
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", errors.New("keycloak admin token: no access_token in the answer")
	}
	c.token = tok.AccessToken
	return c.token, nil
}

// do sends one admin API call: body (if any) as JSON, the answer decoded into out
// (if any). It returns the answer's Location header (set on creation).
func (c *Client) do(ctx context.Context, op, method, p string, body, out any) (string, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return "", err
		}
	}
	for renewed := false; ; renewed = true {
		token, err := c.getToken(ctx, renewed)
		if err != nil {
			return "", err
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+p, bytes.NewReader(payload))
		if err != nil {
			return "", fmt.Errorf("keycloak %s: %w", op, err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			// The *url.Error names the URL; its cause is all a person needs.
			return "", fmt.Errorf("keycloak %s: cannot reach Keycloak: %w", op, errors.Unwrap(err))
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch status := resp.StatusCode; {
		case status == http.StatusUnauthorized && !renewed:
			// The token expired mid-reconcile: fetch a new one, once.
			continue
		case status < 300:
			if out != nil && len(data) > 0 {
				if err := json.Unmarshal(data, out); err != nil {
					return "", fmt.Errorf("keycloak %s: unexpected answer: %w", op, err)
				}
			}
			return resp.Header.Get("Location"), nil
		case status == http.StatusNotFound:
			return "", fmt.Errorf("keycloak %s: %w", op, ErrNotFound)
		case status == http.StatusConflict:
			return "", fmt.Errorf("keycloak %s: %w", op, ErrConflict)
		default:
			return "", &StatusError{Op: op, Status: status, Body: string(data)}
		}
	}
}

// RealmRep is a Keycloak realm, as the admin API represents it.
type RealmRep struct {
	Realm   string `json:"realm"`
	Enabled bool   `json:"enabled"`
}

// OIDCClient is a Keycloak client (an OIDC relying party). Every flag is sent,
// false ones too: Keycloak leaves a field that is absent from a PUT as it was.
type OIDCClient struct {
	ID                        string   `json:"id,omitempty"`
	ClientID                  string   `json:"clientId"`
	Name                      string   `json:"name,omitempty"`
	Protocol                  string   `json:"protocol"`
	ClientAuthenticatorType   string   `json:"clientAuthenticatorType,omitempty"`
	PublicClient              bool     `json:"publicClient"`
	BearerOnly                bool     `json:"bearerOnly"`
	Enabled                   bool     `json:"enabled"`
	StandardFlowEnabled       bool     `json:"standardFlowEnabled"`
	ImplicitFlowEnabled       bool     `json:"implicitFlowEnabled"`
	DirectAccessGrantsEnabled bool     `json:"directAccessGrantsEnabled"`
	ServiceAccountsEnabled    bool     `json:"serviceAccountsEnabled"`
	RedirectURIs              []string `json:"redirectUris"`
	WebOrigins                []string `json:"webOrigins"`
	// Secret is sent on creation, to keep the secret an app already has, and
	// to put a secret back; it is never compared here (ClientSecret reads it).
	Secret string `json:"secret,omitempty"`
}

func realmPath(realm string, parts ...string) string {
	return "/admin/realms/" + url.PathEscape(realm) + path.Join(append([]string{"/"}, parts...)...)
}

// EnsureRealm creates realm if it does not exist.
func (c *Client) EnsureRealm(ctx context.Context, realm string) error {
	_, err := c.do(ctx, "read realm "+realm, http.MethodGet, realmPath(realm), nil, nil)
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	_, err = c.do(ctx, "create realm "+realm, http.MethodPost, "/admin/realms", RealmRep{Realm: realm, Enabled: true}, nil)
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// FindClient returns the client with clientID in realm, or nil.
func (c *Client) FindClient(ctx context.Context, realm, clientID string) (*OIDCClient, error) {
	var list []OIDCClient
	if _, err := c.do(ctx, "find client "+clientID, http.MethodGet, realmPath(realm, "clients")+"?clientId="+url.QueryEscape(clientID), nil, &list); err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].ClientID == clientID {
			return &list[i], nil
		}
	}
	return nil, nil
}

// CreateClient creates a client and returns its id (from the Location header).
func (c *Client) CreateClient(ctx context.Context, realm string, cl OIDCClient) (string, error) {
	loc, err := c.do(ctx, "create client "+cl.ClientID, http.MethodPost, realmPath(realm, "clients"), cl, nil)
	if err != nil {
		return "", err
	}
	if i := strings.LastIndex(loc, "/"); i >= 0 && i < len(loc)-1 {
		return loc[i+1:], nil
	}
	return "", fmt.Errorf("keycloak create client %s: no Location in the answer", cl.ClientID)
}

// UpdateClient replaces a client's settings.
func (c *Client) UpdateClient(ctx context.Context, realm string, cl OIDCClient) error {
	_, err := c.do(ctx, "update client "+cl.ClientID, http.MethodPut, realmPath(realm, "clients", cl.ID), cl, nil)
	return err
}

// ClientSecret reads a confidential client's secret.
func (c *Client) ClientSecret(ctx context.Context, realm, id string) (string, error) {
	var s struct {
		Value string `json:"value"`
	}
	if _, err := c.do(ctx, "read client secret", http.MethodGet, realmPath(realm, "clients", id, "client-secret"), nil, &s); err != nil {
		return "", err
	}
	return s.Value, nil
}

// DeleteClient deletes a client; one already gone is success.
func (c *Client) DeleteClient(ctx context.Context, realm, id string) error {
	_, err := c.do(ctx, "delete client", http.MethodDelete, realmPath(realm, "clients", id), nil, nil)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

func isConflict(err error) bool { return errors.Is(err, ErrConflict) }

func ignoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// RegenerateSecret gives a confidential client a new secret and returns it.
// Under a secret-rotation client policy Keycloak keeps the previous one valid
// as the client's rotated secret; otherwise the previous one is invalid at once.
func (c *Client) RegenerateSecret(ctx context.Context, realm, id string) (string, error) {
	var s struct {
		Value string `json:"value"`
	}
	if _, err := c.do(ctx, "regenerate client secret", http.MethodPost, realmPath(realm, "clients", id, "client-secret"), nil, &s); err != nil {
		return "", err
	}
	if s.Value == "" {
		return "", errors.New("keycloak regenerate client secret: no secret in the answer")
	}
	return s.Value, nil
}

// RotatedSecret reads a client's rotated (previous, still valid) secret: ""
// when it has none.
func (c *Client) RotatedSecret(ctx context.Context, realm, id string) (string, error) {
	var s struct {
		Value string `json:"value"`
	}
	_, err := c.do(ctx, "read rotated client secret", http.MethodGet, realmPath(realm, "clients", id, "client-secret", "rotated"), nil, &s)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return s.Value, err
}

// InvalidateRotatedSecret makes a client's rotated secret invalid.
func (c *Client) InvalidateRotatedSecret(ctx context.Context, realm, id string) error {
	_, err := c.do(ctx, "invalidate rotated client secret", http.MethodDelete, realmPath(realm, "clients", id, "client-secret", "rotated"), nil, nil)
	return err
}

// ClientProfile and ClientPolicy are a realm's client policies as the admin
// API represents them; Executor and Condition keep their configuration as
// sent, so what Plattr does not manage goes back unchanged.
type (
	ClientProfile struct {
		Name        string           `json:"name"`
		Description string           `json:"description,omitempty"`
		Executors   []PolicyExecutor `json:"executors"`
	}
	PolicyExecutor struct {
		Executor      string          `json:"executor"`
		Configuration json.RawMessage `json:"configuration,omitempty"`
	}
	ClientPolicy struct {
		Name        string            `json:"name"`
		Description string            `json:"description,omitempty"`
		Enabled     bool              `json:"enabled"`
		Conditions  []PolicyCondition `json:"conditions"`
		Profiles    []string          `json:"profiles"`
	}
	PolicyCondition struct {
		Condition     string          `json:"condition"`
		Configuration json.RawMessage `json:"configuration,omitempty"`
	}
)

// ClientProfiles reads a realm's own client profiles.
func (c *Client) ClientProfiles(ctx context.Context, realm string) ([]ClientProfile, error) {
	var out struct {
		Profiles []ClientProfile `json:"profiles"`
	}
	_, err := c.do(ctx, "read client profiles of "+realm, http.MethodGet, realmPath(realm, "client-policies", "profiles"), nil, &out)
	return out.Profiles, err
}

// SetClientProfiles replaces a realm's client profiles.
func (c *Client) SetClientProfiles(ctx context.Context, realm string, profiles []ClientProfile) error {
	_, err := c.do(ctx, "update client profiles of "+realm, http.MethodPut, realmPath(realm, "client-policies", "profiles"),
		map[string]any{"profiles": profiles}, nil)
	return err
}

// ClientPolicies reads a realm's client policies.
func (c *Client) ClientPolicies(ctx context.Context, realm string) ([]ClientPolicy, error) {
	var out struct {
		Policies []ClientPolicy `json:"policies"`
	}
	_, err := c.do(ctx, "read client policies of "+realm, http.MethodGet, realmPath(realm, "client-policies", "policies"), nil, &out)
	return out.Policies, err
}

// SetClientPolicies replaces a realm's client policies.
func (c *Client) SetClientPolicies(ctx context.Context, realm string, policies []ClientPolicy) error {
	_, err := c.do(ctx, "update client policies of "+realm, http.MethodPut, realmPath(realm, "client-policies", "policies"),
		map[string]any{"policies": policies}, nil)
	return err
}
