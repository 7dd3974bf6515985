// Package services is the contract every backing service of an Application sits
// behind (PostgreSQL, Redis, OpenSearch, Keycloak): observe, ensure, delete, each
// idempotent, where "already exists" and "already gone" are success. The
// controller drives every service through this contract and never special-cases
// one.
//
// A provisioner talks to its backend only. It must not touch the Kubernetes API:
// the controller owns Secrets, conditions and events.
package services

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"regexp"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// Instance is one application in one environment: what a service is provisioned for.
type Instance struct {
	// Env is the environment, from the namespace's plattr.dev/environment label.
	Env string
	// App is the Application's name ("<app>-pr-<n>" for previews).
	App string
	// Namespace of the Application.
	Namespace string
	// Host the application is served at (for redirect URIs and the like).
	Host string
	// Development marks an environment on a developer's machine (plattr dev, and
	// namespaces labelled plattr.dev/development=true such as plattr deploy
	// local's): only there may a service accept plain-HTTP loopback addresses.
	Development bool
	// Spec is the Application's spec.
	Spec *plattrv1.ApplicationSpec
	// Previous, during a rotation of the service's credentials (Rotator),
	// are the credentials before it, which pods not yet restarted still use:
	// Observe and Ensure keep them valid beside the current ones.
	Previous Credentials
}

// Credentials are the data of the Secret a service hands the application.
type Credentials map[string][]byte

// Provisioner provisions one backing service for Applications.
type Provisioner interface {
	// Name of the service; the Secret is "<app>-<name>" (e.g. "postgres").
	Name() string
	// Condition is the condition type that reports the service (e.g. DatabaseReady).
	Condition() string
	// Enabled says whether spec asks for the service.
	Enabled(spec *plattrv1.ApplicationSpec) bool
	// Observe says, without changing anything, whether the service is provisioned
	// for inst as current (the Secret's data, nil when there is none) describes.
	Observe(ctx context.Context, inst Instance, current Credentials) (bool, error)
	// Ensure provisions the service and returns the Secret's data. Given current,
	// it keeps existing credentials rather than rotating them.
	Ensure(ctx context.Context, inst Instance, current Credentials) (Credentials, error)
	// Delete removes what Ensure made, data included.
	Delete(ctx context.Context, inst Instance) error
}

// Rotator is implemented by a service whose credentials rotate with no failed
// login: Rotate makes new credentials valid beside the current ones, the
// controller hands them to the pods (Instance.Previous holds the old ones
// meanwhile), and once no pod uses the old ones any more, Retire makes them
// invalid. Both are idempotent: run again after a crash, they converge.
type Rotator interface {
	// Rotate returns new credentials, valid beside current, which stay valid.
	Rotate(ctx context.Context, inst Instance, current Credentials) (Credentials, error)
	// Retire makes previous invalid; current stays valid. An error wrapping
	// ErrInUse says previous is still in use (sessions remain): try later.
	Retire(ctx context.Context, inst Instance, current, previous Credentials) error
}

// ErrInUse means credentials to retire are still in use.
var ErrInUse = errors.New("still in use")

// Watcher is implemented by services whose backend can forget everything it was
// given at once, without any event Kubernetes would see (a Redis restarted
// without an ACL file drops every ACL user). Watch blocks until ctx ends; it
// notices such a loss with one cheap read per server every few seconds (never a
// read per app) and calls lost each time, and the controller then observes every
// Application that uses the service again.
type Watcher interface {
	Watch(ctx context.Context, lost func())
}

// ErrNotConfigured means the operator was started without the configuration a
// service needs (its admin URL): a person must fix the operator's settings.
var ErrNotConfigured = errors.New("not configured in the operator")

// NotConfigured says which setting is missing.
func NotConfigured(service, setting string) error {
	return fmt.Errorf("%s: %w: set %s", service, ErrNotConfigured, setting)
}

// ErrInvalid marks a request the service refuses for good (for example a reserved
// name): retrying does not help; the Application must change.
var ErrInvalid = errors.New("invalid request")

// Identity gives a provisioner, by embedding, the Name, Condition and Enabled
// of its service (plattrv1.Services).
type Identity struct{ Service plattrv1.Service }

// Name implements Provisioner.
func (i Identity) Name() string { return i.Service.Name }

// Condition implements Provisioner.
func (i Identity) Condition() string { return i.Service.Condition }

// Enabled implements Provisioner.
func (i Identity) Enabled(spec *plattrv1.ApplicationSpec) bool { return i.Service.Enabled(spec) }

// KeptPassword is the password of user in an app's Secret (current, whose
// userKey names the user and passwordKey holds the password), or a new one
// (Password) when the Secret has none for that user: the Secret is the truth, a
// credential is generated once.
func KeptPassword(current Credentials, userKey, passwordKey, user string) (string, error) {
	if string(current[userKey]) == user {
		if p := string(current[passwordKey]); p != "" {
			return p, nil
		}
	}
	p, err := Password()
	if err != nil {
		return "", fmt.Errorf("generate a password: %w", err)
	}
	return p, nil
}

// backendName is what every backend accepts in a name built from an
// environment and an app: a DNS label's lower-case letters, digits and '-'.
var backendName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CheckNames refuses an instance whose environment or app cannot name the
// backend's resources (what: "OpenSearch resources", "a Keycloak realm or
// client"): a request refused for good (ErrInvalid).
func CheckNames(inst Instance, what string) error {
	for _, n := range []string{inst.Env, inst.App} {
		if !backendName.MatchString(n) {
			return fmt.Errorf("%q cannot name %s (lower-case letters, digits, '-'): %w", n, what, ErrInvalid)
		}
	}
	return nil
}

const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Password returns 32 characters from crypto/rand (about 190 bits), safe in URLs
// and in quoted SQL literals: every service's generated credential.
func Password() (string, error) {
	b := make([]byte, 32)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(passwordAlphabet))))
		if err != nil {
			return "", err
		}
		b[i] = passwordAlphabet[n.Int64()]
	}
	return string(b), nil
}
