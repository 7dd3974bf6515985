// Package keycloak provisions Keycloak for Applications: a realm "plattr-<env>" per
// environment and, in it, one confidential OIDC client per app that may use the
// authorization-code flow only (no direct access grants, implicit flow or
// service account). Its redirect URIs are built from the app's host and
// auth.redirectPaths, never wildcards: https on the app's own host, and plain
// http on a loopback host (localhost, *.localtest.me, 127.0.0.1, see
// plattrv1.IsLoopbackHost) only in a development environment; elsewhere such a
// host is refused. Observe compares the whole client, so a hand edit is found
// and Ensure puts it back. The client's secret goes into the app's Secret.
package keycloak

import (
	"context"
	"fmt"
	"net/url"
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
	services.Identity
	base string
	kc   *Client
}

var _ services.Provisioner = (*Provisioner)(nil)

// New returns a provisioner for the Keycloak at base. An empty base or password
// reports services.ErrNotConfigured on every call.
func New(base, user, password string) *Provisioner {
	if password == "" {
		return &Provisioner{Identity: services.Identity{Service: plattrv1.ServiceAuth}, base: base}
	}
	return NewWithPassword(base, user, Static(password))
}

// NewWithPassword is New with the admin password read when needed.
func NewWithPassword(base, user string, password func(context.Context) (string, error)) *Provisioner {
	if user == "" {
		user = "admin"
	}
	p := &Provisioner{Identity: services.Identity{Service: plattrv1.ServiceAuth}, base: base}
	if base != "" && password != nil {
		p.kc = NewClientWithPassword(base, user, password)
	}
	return p
}

// Realm is the realm of an environment.
func Realm(env string) string { return "plattr-" + env }

// usable says whether this provisioner can act for inst: Keycloak is configured
// and the names can name a realm and a client.
func (p *Provisioner) usable(inst services.Instance) error {
	if p.kc == nil {
		return services.NotConfigured("Keycloak", "KEYCLOAK_URL and KEYCLOAK_ADMIN_PASSWORD")
	}
	if err := services.CheckNames(inst, "a Keycloak realm or client"); err != nil {
		return err
	}
	return nil
}

func (p *Provisioner) desired(inst services.Instance) (OIDCClient, error) {
	if err := p.usable(inst); err != nil {
		return OIDCClient{}, err
	}
	origin, err := Origin(inst)
	if err != nil {
		return OIDCClient{}, err
	}
	paths := []string{DefaultRedirectPath}
	if inst.Spec != nil && inst.Spec.Auth != nil && len(inst.Spec.Auth.RedirectPaths) > 0 {
		paths = inst.Spec.Auth.RedirectPaths
	}
	var uris []string
	for _, p := range paths {
		// The API's pattern already wants "/..."; a path that could move the URI
		// off the app's own host must never reach Keycloak all the same.
		u, err := url.Parse(origin + p)
		if err != nil || u.Host != inst.Host || !strings.HasPrefix(p, "/") {
			return OIDCClient{}, fmt.Errorf("redirect path %q does not stay on %s: %w", p, inst.Host, services.ErrInvalid)
		}
		uris = append(uris, origin+p)
	}
	sort.Strings(uris)
	return OIDCClient{ClientID: inst.App, Name: inst.App + " (" + inst.Env + ")", Protocol: "openid-connect",
		ClientAuthenticatorType: "client-secret", Enabled: true, StandardFlowEnabled: true,
		RedirectURIs: slices.Compact(uris), WebOrigins: []string{origin}}, nil
}

// Origin is the one rule for where inst's login flow may return to: https on the
// app's own host; plain http only for a loopback host (which plattr dev and
// local clusters serve without TLS, and browsers treat as secure) and only in a
// development environment. Anywhere else a loopback host is refused: a client
// accepting http://localhost redirects would hand codes to whatever listens on
// the user's machine.
func Origin(inst services.Instance) (string, error) {
	if inst.Host == "" {
		return "", fmt.Errorf("app %s has no host to redirect to (set spec.ingress.host or the operator's base domain): %w", inst.App, services.ErrInvalid)
	}
	if !plattrv1.IsLoopbackHost(inst.Host) {
		return "https://" + inst.Host, nil
	}
	if !inst.Development {
		return "", fmt.Errorf("app %s: host %q is a loopback name, allowed only in development environments (plattr dev, plattr deploy local): %w", inst.App, inst.Host, services.ErrInvalid)
	}
	return "http://" + inst.Host, nil
}

func (p *Provisioner) issuer(env string) string { return p.base + "/realms/" + Realm(env) }

// Observe implements services.Provisioner: the client exists exactly as desired
// (see same) and the Secret holds its current secret. Two reads, no writes.
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

// same says whether got is the client want describes, every setting that grants
// something compared (Keycloak keeps URI sets unordered).
func same(got, want OIDCClient) bool {
	sorted := func(in []string) []string { out := slices.Clone(in); sort.Strings(out); return out }
	return got.ClientID == want.ClientID && got.Protocol == want.Protocol &&
		got.ClientAuthenticatorType == want.ClientAuthenticatorType &&
		got.PublicClient == want.PublicClient && got.BearerOnly == want.BearerOnly && got.Enabled == want.Enabled &&
		got.StandardFlowEnabled == want.StandardFlowEnabled && got.ImplicitFlowEnabled == want.ImplicitFlowEnabled &&
		got.DirectAccessGrantsEnabled == want.DirectAccessGrantsEnabled && got.ServiceAccountsEnabled == want.ServiceAccountsEnabled &&
		slices.Equal(sorted(got.RedirectURIs), want.RedirectURIs) && slices.Equal(sorted(got.WebOrigins), want.WebOrigins)
}

// Ensure implements services.Provisioner: the realm, then the client (created, or
// found — also after a 409 — and put back as desired), then its secret read
// back. The secret Keycloak holds wins: one regenerated in Keycloak (to revoke
// a leaked one) reaches the app's Secret rather than being reverted.
func (p *Provisioner) Ensure(ctx context.Context, inst services.Instance, current services.Credentials) (services.Credentials, error) {
	want, err := p.desired(inst)
	if err != nil {
		return nil, err
	}
	create := want
	if current != nil && string(current[KeyClientID]) == want.ClientID {
		// A client deleted by hand comes back with the secret the app holds.
		create.Secret = string(current[KeySecret])
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
		id, err = p.kc.CreateClient(ctx, realm, create)
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
