package v1alpha1

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Service is a backing service's identity: every name it goes by, here only.
// +kubebuilder:object:generate=false
type Service struct {
	// Name is the provisioner's name (in logs, events and metrics) and the
	// suffix of the app's Secret, "<app>-<Name>".
	Name string
	// Field is the ApplicationSpec field (plattr.yaml's block) that asks for it.
	Field string
	// Condition is its condition type in the Application's status.
	Condition string
	// Backend is the server that provides it, for people.
	Backend string

	enabled func(*ApplicationSpec) bool
}

// Enabled says whether spec asks for the service.
func (s Service) Enabled(spec *ApplicationSpec) bool { return s.enabled(spec) }

// The backing services. The auth service's Secret keeps the suffix "oidc" it
// has always had: renaming it would orphan the Secrets of running apps.
var (
	ServiceDatabase = Service{Name: "postgres", Field: "database", Condition: ConditionDatabaseReady, Backend: "PostgreSQL",
		enabled: func(s *ApplicationSpec) bool { return s.Database != nil && s.Database.Enabled }}
	ServiceRedis = Service{Name: "redis", Field: "redis", Condition: ConditionRedisReady, Backend: "Redis",
		enabled: func(s *ApplicationSpec) bool { return s.Redis != nil && s.Redis.Enabled }}
	ServiceSearch = Service{Name: "opensearch", Field: "search", Condition: ConditionSearchReady, Backend: "OpenSearch",
		enabled: func(s *ApplicationSpec) bool { return s.Search != nil && s.Search.Enabled }}
	ServiceAuth = Service{Name: "oidc", Field: "auth", Condition: ConditionAuthReady, Backend: "Keycloak",
		enabled: func(s *ApplicationSpec) bool { return s.Auth != nil && s.Auth.Enabled }}
	Services = []Service{ServiceDatabase, ServiceRedis, ServiceSearch, ServiceAuth}
)

// ServiceSecrets names the Secret of each backing service an application gets,
// "<app>-<suffix>", by suffix, with the ApplicationSpec field of that service.
var ServiceSecrets = func() map[string]string {
	m := map[string]string{}
	for _, s := range Services {
		m[s.Name] = s.Field
	}
	return m
}()

// ServiceSecretName is the Secret a service writes for an app: "<app>-<suffix>".
func ServiceSecretName(app, suffix string) string { return app + "-" + suffix }

// PreviousSuffix ends the name of the Secret that holds a service's previous
// credentials during a rotation: "<app>-<service>-previous".
const PreviousSuffix = "previous"

// PreviousSecretName is the Secret of a service's previous credentials while
// they rotate (the pods not yet restarted still use them).
func PreviousSecretName(app, service string) string {
	return ServiceSecretName(app, service) + "-" + PreviousSuffix
}

// TLSSecretSuffix names the Secret of an app's certificate: "<app>-tls", made by
// cert-manager for the app's Ingress.
const TLSSecretSuffix = "tls"

// TLSSecretName is the Secret holding an app's certificate and private key.
func TLSSecretName(app string) string { return app + "-" + TLSSecretSuffix }

// ExternalSecretSuffix names the Secret External Secrets Operator makes from an
// app's externalSecrets: "<app>-external".
const ExternalSecretSuffix = "external"

// ExternalSecretName is the Secret (and the ExternalSecret) of an app's own secrets.
func ExternalSecretName(app string) string { return app + "-" + ExternalSecretSuffix }

// ExternalSecretKeyPattern is what an externalSecrets key is (the CRD states
// the same pattern, a test keeps them equal): parts of letters, digits and
// _+=.@- separated by '/', none starting with '.'.
const ExternalSecretKeyPattern = `^[A-Za-z0-9_+=@-][A-Za-z0-9_+=.@-]*(/[A-Za-z0-9_+=@-][A-Za-z0-9_+=.@-]*)*$`

var externalSecretKey = regexp.MustCompile(ExternalSecretKeyPattern)

// MaxExternalSecretKeyLen bounds a key (Secrets Manager's names are at most 512).
const MaxExternalSecretKeyLen = 256

// CheckExternalSecretKey checks a key relative to the app's prefix.
func CheckExternalSecretKey(key string) error {
	if len(key) > MaxExternalSecretKeyLen || !externalSecretKey.MatchString(key) {
		return fmt.Errorf("%q is not a key under the app's prefix: parts of letters, digits and _+=.@- separated by '/', none starting with '.', at most %d characters",
			key, MaxExternalSecretKeyLen)
	}
	return nil
}

// ExternalSecretPath is the full name of an app's secret in the store:
// plattr/<env>/<app>/<key>. Only the operator composes it.
func ExternalSecretPath(env, app, key string) string { return "plattr/" + env + "/" + app + "/" + key }

// ownedSecretSuffixes are the suffixes of every Secret Plattr makes, or has made,
// for an app.
func ownedSecretSuffixes() []string {
	out := []string{TLSSecretSuffix, ExternalSecretSuffix}
	for suffix := range ServiceSecrets {
		out = append(out, suffix, suffix+"-"+PreviousSuffix)
	}
	sort.Strings(out)
	return out
}

// CheckTenancy refuses what the API server's schema cannot: a spec of the
// Application app that would reach across the tenant boundary. Apps of one
// environment share a namespace, so a name is all it takes:
//   - env and secretEnv may not set a variable the operator injects from a
//     service's Secret (InjectedEnv): the app's own entry would win over it;
//   - secretEnv may not read another app's service Secret ("<other>-postgres"
//     and the like, ServiceSecrets), its certificate ("<other>-tls") nor its
//     own secrets ("<other>-external");
//   - externalSecrets may not set an injected variable, and its keys stay under
//     the app's prefix (CheckExternalSecretKey).
//
// The operator refuses such an Application as Invalid and plattr-gen refuses to
// commit one: env.yaml is a person's patch, so checking plattr.yaml is not enough.
// The error names the field and what is allowed.
func CheckTenancy(app string, spec *ApplicationSpec) error {
	for i, e := range spec.Env {
		if svc, ok := InjectedEnv[e.Name]; ok {
			return fmt.Errorf("spec.env[%d].name: %s is set by Plattr from the %s service's Secret; remove it", i, e.Name, svc)
		}
	}
	for i, e := range spec.ExternalSecrets {
		if svc, ok := InjectedEnv[e.Name]; ok {
			return fmt.Errorf("spec.externalSecrets[%d].name: %s is set by Plattr from the %s service's Secret; remove it", i, e.Name, svc)
		}
		if err := CheckExternalSecretKey(e.Key); err != nil {
			return fmt.Errorf("spec.externalSecrets[%d].key: %w", i, err)
		}
	}
	for i, e := range spec.SecretEnv {
		if svc, ok := InjectedEnv[e.Name]; ok {
			return fmt.Errorf("spec.secretEnv[%d].name: %s is set by Plattr from the %s service's Secret; remove it", i, e.Name, svc)
		}
		for _, suffix := range ownedSecretSuffixes() {
			if strings.HasSuffix(e.SecretName, "-"+suffix) && e.SecretName != app+"-"+suffix {
				return fmt.Errorf("spec.secretEnv[%d].secretName: %q is the name of another app's %s Secret; an app reads only its own (names ending in -%s are Plattr's)",
					i, e.SecretName, suffix, suffix)
			}
		}
	}
	return nil
}
