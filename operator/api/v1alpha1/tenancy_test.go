package v1alpha1

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckTenancy(t *testing.T) {
	cases := map[string]struct {
		reason string
		spec   ApplicationSpec
		want   string // empty: allowed
	}{
		"own secret":            {"an app may read its own service Secret", ApplicationSpec{SecretEnv: []SecretEnvVar{{Name: "DB", SecretName: "shop-postgres", Key: "PGPASSWORD"}}}, ""},
		"a person's secret":     {"Secrets made by people are the app's business", ApplicationSpec{SecretEnv: []SecretEnvVar{{Name: "STRIPE", SecretName: "stripe-keys", Key: "key"}}}, ""},
		"another app's":         {"apps share a namespace", ApplicationSpec{SecretEnv: []SecretEnvVar{{Name: "X", SecretName: "blog-oidc", Key: "OIDC_CLIENT_SECRET"}}}, `spec.secretEnv[0].secretName: "blog-oidc" is the name of another app's oidc Secret`},
		"prefix of own":         {"shop-admin's Secret is not shop's", ApplicationSpec{SecretEnv: []SecretEnvVar{{Name: "X", SecretName: "shop-admin-redis", Key: "REDIS_URL"}}}, `"shop-admin-redis" is the name of another app's redis Secret`},
		"another app's TLS key": {"cert-manager's <app>-tls holds the private key", ApplicationSpec{SecretEnv: []SecretEnvVar{{Name: "K", SecretName: "blog-tls", Key: "tls.key"}}}, `"blog-tls" is the name of another app's tls Secret`},
		"own TLS":               {"its own certificate", ApplicationSpec{SecretEnv: []SecretEnvVar{{Name: "K", SecretName: "shop-tls", Key: "tls.crt"}}}, ""},
		"injected in env":       {"env would override the Secret", ApplicationSpec{Env: []EnvVar{{Name: "X"}, {Name: "REDIS_PASSWORD", Value: "p"}}}, "spec.env[1].name: REDIS_PASSWORD is set by Plattr from the redis service's Secret"},
		"injected secret":       {"secretEnv too", ApplicationSpec{SecretEnv: []SecretEnvVar{{Name: "DATABASE_URL", SecretName: "mine", Key: "url"}}}, "spec.secretEnv[0].name: DATABASE_URL is set by Plattr from the database service's Secret"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := CheckTenancy("shop", &tc.spec)
			if tc.want == "" {
				assert.NoError(t, err, tc.reason)
				return
			}
			assert.ErrorContains(t, err, tc.want, tc.reason)
		})
	}
}

// An app's own secrets stay its own: another app's "-external" Secret cannot be
// read through secretEnv, keys cannot leave the prefix the operator adds, and an
// injected variable cannot be set from the store.
func TestCheckTenancy_ExternalSecrets(t *testing.T) {
	ok := &ApplicationSpec{ExternalSecrets: []ExternalSecretVar{{Name: "STRIPE_KEY", Key: "stripe/api-key"}, {Name: "A", Key: "a.b@c=d+e_f-g"}},
		SecretEnv: []SecretEnvVar{{Name: "OWN", SecretName: "shop-external", Key: "X"}}}
	assert.NoError(t, CheckTenancy("shop", ok))
	for _, c := range []struct {
		spec ApplicationSpec
		want string
	}{
		{ApplicationSpec{SecretEnv: []SecretEnvVar{{Name: "K", SecretName: "billing-external", Key: "STRIPE_KEY"}}}, `"billing-external" is the name of another app's external Secret`},
		{ApplicationSpec{SecretEnv: []SecretEnvVar{{Name: "K", SecretName: "billing-redis-previous", Key: "REDIS_PASSWORD"}}}, `"billing-redis-previous" is the name of another app's redis-previous Secret`},
		{ApplicationSpec{ExternalSecrets: []ExternalSecretVar{{Name: "DATABASE_URL", Key: "db"}}}, "spec.externalSecrets[0].name: DATABASE_URL is set by Plattr"},
		{ApplicationSpec{ExternalSecrets: []ExternalSecretVar{{Name: "K", Key: "../billing/stripe"}}}, "spec.externalSecrets[0].key:"},
		{ApplicationSpec{ExternalSecrets: []ExternalSecretVar{{Name: "K", Key: "/etc"}}}, "none starting with '.'"},
		{ApplicationSpec{ExternalSecrets: []ExternalSecretVar{{Name: "K", Key: "a//b"}}}, "spec.externalSecrets[0].key:"},
		{ApplicationSpec{ExternalSecrets: []ExternalSecretVar{{Name: "K", Key: "a/./b"}}}, "spec.externalSecrets[0].key:"},
		{ApplicationSpec{ExternalSecrets: []ExternalSecretVar{{Name: "K", Key: strings.Repeat("a", 257)}}}, "at most 256"},
	} {
		assert.ErrorContains(t, CheckTenancy("shop", &c.spec), c.want)
	}
	assert.Equal(t, "plattr/staging/shop/stripe/api-key", ExternalSecretPath("staging", "shop", "stripe/api-key"))
}

// The CRD states the key's pattern the operator and plattr-gen check.
func TestExternalSecretKeyPattern_IsTheCRDs(t *testing.T) {
	crd, err := os.ReadFile(filepath.Join("..", "..", "..", "bases", "crds", "plattr.dev_applications.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(crd), "pattern: "+ExternalSecretKeyPattern+"\n")
}
