package generator

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const validConfig = `apiVersion: plattr.dev/v1alpha1
kind: EnvironmentRepo
repoURL: https://github.com/acme/env.git
baseDomain: apps.example.com
environments:
- name: staging
- name: prod
  production: true
`

// Every value of plattr-env.yaml that reaches a path, a name, a host or an Argo
// CD Application is checked, naming the field and what is allowed. Before, each
// of these was accepted and committed into bootstrap/ and every child.
func TestParseConfig_RefusesHostileValues(t *testing.T) {
	cases := map[string]struct {
		reason string
		yaml   string
		want   string
	}{
		"namespace escapes": {"a namespace is a DNS label", validConfig + "  namespace: ../../kube-system\n",
			`environments[1].namespace: "../../kube-system" is not a namespace name`},
		"project wildcard": {"Argo CD project names are object names", validConfig + "argocd:\n  project: \"*\"\n",
			`argocd.project: "*" is not an Argo CD project name`},
		"targetRevision climbs": {"a branch name, as git checks it", validConfig + "targetRevision: ../../x\n",
			`targetRevision: invalid branch name "../../x"`},
		"baseDomain fragment": {"a DNS name, nothing else", strings.Replace(validConfig, "apps.example.com", "evil.com#x", 1),
			`baseDomain: "evil.com#x" is not a DNS name`},
		"baseDomain single label": {"two labels at least", strings.Replace(validConfig, "apps.example.com", "intranet", 1),
			`baseDomain: "intranet" is not a DNS name`},
		"baseDomain IP": {"not an address", strings.Replace(validConfig, "apps.example.com", "10.0.0.1", 1),
			`baseDomain: "10.0.0.1" is an IP address`},
		"domains entry": {"each listed domain too", validConfig + "domains: [\"ok.example.org\", \"bad domain\"]\n",
			`domains[1]: "bad domain" is not a DNS name`},
		"credentials in repoURL": {"they would be committed into every child", strings.Replace(validConfig, "https://github.com", "https://ci:s3cret-token@github.com", 1),
			"repoURL: carries credentials (https://***@github.com/acme/env.git): they would be committed"},
		"token as user": {"a token alone is a credential too", strings.Replace(validConfig, "https://github.com", "https://ghp_abc@github.com", 1),
			"repoURL: carries credentials"},
		"repoURL newline": {"control characters", strings.Replace(validConfig, "repoURL: https://github.com/acme/env.git", `repoURL: "https://github.com/acme/env.git\n"`, 1),
			"repoURL: contains a control character"},
		"server with credentials": {"a cluster URL is not a secret store", validConfig + "argocd:\n  server: https://admin:pw@k8s.example.com\n",
			"argocd.server: must be the https:// URL of a cluster"},
		"server plain http": {"https only", validConfig + "argocd:\n  server: http://k8s.example.com\n",
			"argocd.server: must be the https:// URL"},
		"argocd namespace": {"a DNS label", validConfig + "argocd:\n  namespace: Argo_CD\n",
			`argocd.namespace: "Argo_CD" is not a namespace name`},
		"preview namespace": {"a DNS label", validConfig + "preview:\n  namespace: a/b\n",
			`preview.namespace: "a/b" is not a namespace name`},
		"shared namespace": {"an environment's namespace is its own", validConfig + "  namespace: staging\n",
			`environments[1].namespace: "staging" is environments[0].namespace's too`},
		"preview namespace shared": {"previews too", validConfig + "preview:\n  namespace: staging\n",
			`environments[0].namespace: "staging" is preview.namespace's too`},
		"kube-system": {"never a system namespace", validConfig + "  namespace: kube-system\n",
			`environments[1].namespace: "kube-system" is a namespace of Kubernetes or the platform`},
		"argocd's namespace": {"nor Argo CD's", validConfig + "  namespace: argocd\n", `"argocd" is a namespace of Kubernetes or the platform`},
		"scheme lost": {"https//user:token@host was taken as a path and committed", strings.Replace(validConfig, "https://github.com", "https//x-access-token:s3cret-token@github.com", 1),
			"repoURL: looks like a URL without its scheme"},
		"token in a query": {"?access_token= would be committed", strings.Replace(validConfig, "env.git", "env.git?access_token=s3cret-token", 1),
			"repoURL: has a query or fragment"},
		"second document": {"it was ignored", validConfig + "---\nrepoURL: https://evil.example.com/x.git\n", "plattr-env.yaml: holds more than one YAML document"},
		"HEAD":            {"not a branch", validConfig + "targetRevision: HEAD\n", "targetRevision: invalid branch name \"HEAD\""},
		"a list": {"the top level is a mapping", "- name: staging\n",
			"plattr-env.yaml: must be a mapping with apiVersion: plattr.dev/v1alpha1, kind: EnvironmentRepo"},
		"not YAML": {"a clear parse error", "apiVersion: [\n", "plattr-env.yaml: not valid YAML"},
		"too big": {"a bounded file", validConfig + "#" + strings.Repeat("x", MaxConfigSize) + "\n",
			"plattr-env.yaml: is 65"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			require.Error(t, err, tc.reason)
			assert.Contains(t, err.Error(), tc.want, tc.reason)
			assert.NotContains(t, err.Error(), "s3cret-token", "never the credential itself")
			assert.NotContains(t, err.Error(), "ghp_abc")
		})
	}
	_, err := ParseConfig([]byte(validConfig))
	require.NoError(t, err)
	for _, ok := range []string{"git@github.com:acme/env.git", "ssh://git@github.com/acme/env.git", "/srv/git/env.git", "http://127.0.0.1:8080/env.git"} {
		_, err := ParseConfig([]byte(strings.Replace(validConfig, "https://github.com/acme/env.git", ok, 1)))
		assert.NoError(t, err, ok)
	}
}

// env init's environments: the last one is production, even alone.
func TestDefaultConfig_LastIsProduction(t *testing.T) {
	assert.True(t, DefaultConfig("https://x/y.git", "apps.example.com", []string{"prod"}).Environments[0].Production)
	cfg := DefaultConfig("https://x/y.git", "apps.example.com", []string{"staging", "prod"})
	assert.False(t, cfg.Environments[0].Production)
	assert.True(t, cfg.Environments[1].Production)
}
