// Package keycloak provisions Keycloak for Applications: a realm "plattr-<env>" per
// environment and, in it, one confidential OIDC client per app, whose redirect URIs
// are built from the app's host and auth.redirectPaths — never wildcards, never
// localhost. The client's secret goes into the app's Secret.
package keycloak

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strings"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// Secret keys.
const (
	KeyIssuer   = "OIDC_ISSUER_URL"
	KeyClientID = "OIDC_CLIENT_ID"
	KeySecret   = "OIDC_CLIENT_SECRET"
)

// DefaultRedirectPath is used when an app names none.
const DefaultRedirectPath = "/oauth2/callback"

// Provisioner is the Keycloak backing service.
type Provisioner struct {
	base string
	kc   *Client
}

var _ services.Provisioner = (*Provisioner)(nil)

// New returns a provisioner for the Keycloak at base. An empty base or password
// reports services.ErrNotConfigured on every call.
func New(base, user, password string) *Provisioner {
	if password == "" {
		return &Provisioner{base: base}
	}
	return NewWithPassword(base, user, Static(password))
}

// NewWithPassword is New with the admin password read when needed.
func NewWithPassword(base, user string, password func(context.Context) (string, error)) *Provisioner {
	if user == "" {
		user = "admin"
	}
	p := &Provisioner{base: base}
	if base != "" && password != nil {
		p.kc = NewClientWithPassword(base, user, password)
	}
	return p
}

// Name implements services.Provisioner.
func (p *Provisioner) Name() string { return "oidc" }

// Condition implements services.Provisioner.
func (p *Provisioner) Condition() string { return plattrv1.ConditionAuthReady }

// Enabled implements services.Provisioner.
func (p *Provisioner) Enabled(spec *plattrv1.ApplicationSpec) bool {
	return spec.Auth != nil && spec.Auth.Enabled
}

var safe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Realm is the realm of an environment.
func Realm(env string) string { return "plattr-" + env }

// usable says whether this provisioner can act for inst: Keycloak is configured
// and the names can name a realm and a client.
func (p *Provisioner) usable(inst services.Instance) error {
	if p.kc == nil {
		return services.NotConfigured("Keycloak", "KEYCLOAK_URL and KEYCLOAK_ADMIN_PASSWORD")
	}
	for _, n := range []string{inst.Env, inst.App} {
		if !safe.MatchString(n) {
			return fmt.Errorf("%q cannot name a Keycloak realm or client: %w", n, services.ErrInvalid)
		}
	}
	return nil
}

func (p *Provisioner) desired(inst services.Instance) (OIDCClient, error) {
	if err := p.usable(inst); err != nil {
		return OIDCClient{}, err
	}
	if inst.Host == "" {
		return OIDCClient{}, fmt.Errorf("app %s has no host to redirect to (set spec.ingress.host or the operator's base domain): %w", inst.App, services.ErrInvalid)
	}
	paths := []string{DefaultRedirectPath}
	if inst.Spec != nil && inst.Spec.Auth != nil && len(inst.Spec.Auth.RedirectPaths) > 0 {
		paths = inst.Spec.Auth.RedirectPaths
	}
	origin := Origin(inst.Host)
	var uris []string
	for _, p := range paths {
		uris = append(uris, origin+p)
	}
	sort.Strings(uris)
	return OIDCClient{ClientID: inst.App, Name: inst.App + " (" + inst.Env + ")", Protocol: "openid-connect", Enabled: true,
		StandardFlowEnabled: true, RedirectURIs: uris, WebOrigins: []string{origin}}, nil
}

// Origin is where a host's login flow returns to: https, except for hosts that
// resolve to this machine by convention (localhost, *.localhost, *.localtest.me,
// 127.0.0.1), which plattr dev and local clusters serve over plain HTTP and
// browsers treat as secure. A redirect URI never falls back to http elsewhere.
func Origin(host string) string {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.ToLower(name)
	if name == "localhost" || name == "127.0.0.1" || strings.HasSuffix(name, ".localhost") || strings.HasSuffix(name, ".localtest.me") {
		return "http://" + host
	}
	return "https://" + host
}

func (p *Provisioner) issuer(env string) string { return p.base + "/realms/" + Realm(env) }

// Observe implements services.Provisioner: the client exists with the redirect
// URIs the app's host and paths give, and the Secret holds its current secret.
func (p *Provisioner) Observe(ctx context.Context, inst services.Instance, current services.Credentials) (bool, error) {
	want, err := p.desired(inst)
	if err != nil {
		return false, err
	}
	if current == nil || string(current[KeyIssuer]) != p.issuer(inst.Env) || string(current[KeyClientID]) != want.ClientID {
		return false, nil
	}
	got, err := p.kc.FindClient(ctx, Realm(inst.Env), want.ClientID)
	if err != nil || got == nil {
		return false, ignoreNotFound(err)
	}
	if !same(*got, want) {
		return false, nil
	}
	secret, err := p.kc.ClientSecret(ctx, Realm(inst.Env), got.ID)
	if err != nil {
		return false, err
	}
	return secret == string(current[KeySecret]), nil
}

func same(got, want OIDCClient) bool {
	g := slices.Clone(got.RedirectURIs)
	sort.Strings(g)
	return slices.Equal(g, want.RedirectURIs) && !got.PublicClient && got.Enabled && got.StandardFlowEnabled && slices.Equal(got.WebOrigins, want.WebOrigins)
}

// Ensure implements services.Provisioner: the realm, then the client (created, or
// found — also after a 409 — and updated), then its secret read back.
func (p *Provisioner) Ensure(ctx context.Context, inst services.Instance, _ services.Credentials) (services.Credentials, error) {
	want, err := p.desired(inst)
	if err != nil {
		return nil, err
	}
	realm := Realm(inst.Env)
	if err := p.kc.EnsureRealm(ctx, realm); err != nil {
		return nil, err
	}
	got, err := p.kc.FindClient(ctx, realm, want.ClientID)
	if err != nil {
		return nil, err
	}
	id := ""
	if got == nil {
		id, err = p.kc.CreateClient(ctx, realm, want)
		if isConflict(err) {
			// Created by someone else since we looked: look it up and reconcile.
			if got, err = p.kc.FindClient(ctx, realm, want.ClientID); err == nil && got == nil {
				err = fmt.Errorf("keycloak says client %s exists in %s but does not list it", want.ClientID, realm)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if got != nil {
		id = got.ID
		if !same(*got, want) {
			want.ID = id
			if err := p.kc.UpdateClient(ctx, realm, want); err != nil {
				return nil, err
			}
		}
	}
	secret, err := p.kc.ClientSecret(ctx, realm, id)
	if err != nil {
		return nil, err
	}
	return services.Credentials{KeyIssuer: []byte(p.issuer(inst.Env)), KeyClientID: []byte(want.ClientID), KeySecret: []byte(secret)}, nil
}

// Delete implements services.Provisioner: the client goes; the realm, shared by
// the environment's apps, stays.
// It does not need the app's host: a client made while the app had one goes too.
func (p *Provisioner) Delete(ctx context.Context, inst services.Instance) error {
	if err := p.usable(inst); err != nil {
		return err
	}
	got, err := p.kc.FindClient(ctx, Realm(inst.Env), inst.App)
	if err != nil || got == nil {
		return ignoreNotFound(err)
	}
	return p.kc.DeleteClient(ctx, Realm(inst.Env), got.ID)
}
