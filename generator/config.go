package generator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/generator/names"
)

// ConfigFile is the env repo's configuration, at its root.
const ConfigFile = "plattr-env.yaml"

// Config is plattr-env.yaml: the environments in promotion order and how Argo CD
// reaches the repo.
type Config struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// RepoURL is the URL Argo CD clones the env repo from.
	RepoURL string `json:"repoURL"`
	// TargetRevision is the branch Argo CD follows (default "main").
	TargetRevision string `json:"targetRevision,omitempty"`
	// BaseDomain: hosts default to <app>.<env>.<baseDomain>, <app>.<baseDomain> in production.
	BaseDomain string `json:"baseDomain"`
	// ArgoCD says where the Argo CD Applications live.
	ArgoCD ArgoCDConfig `json:"argocd"`
	// Environments in promotion order.
	Environments []Environment `json:"environments"`
	// Preview configures pull request previews.
	Preview PreviewConfig `json:"preview"`
}

// ArgoCDConfig locates Argo CD.
type ArgoCDConfig struct {
	// Namespace of Argo CD's Applications (default "argocd").
	Namespace string `json:"namespace,omitempty"`
	// Project the Applications belong to (default "default").
	Project string `json:"project,omitempty"`
	// Server is the destination cluster (default the cluster Argo CD runs in).
	Server string `json:"server,omitempty"`
}

// Environment is one stage of promotion.
type Environment struct {
	Name string `json:"name"`
	// Namespace the environment's apps run in (default: its name).
	Namespace string `json:"namespace,omitempty"`
	// Production environments default to deletionPolicy Retain and bare hosts.
	Production bool `json:"production,omitempty"`
}

// PreviewConfig configures pull request previews.
type PreviewConfig struct {
	// Namespace all previews run in (default "preview").
	Namespace string `json:"namespace,omitempty"`
}

// ConfigAPIVersion and ConfigKind identify plattr-env.yaml.
const (
	ConfigAPIVersion = "plattr.dev/v1alpha1"
	ConfigKind       = "EnvironmentRepo"
	DefaultServer    = "https://kubernetes.default.svc"
)

// ParseConfig decodes and validates plattr-env.yaml.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %s", ConfigFile, strings.TrimPrefix(err.Error(), "error unmarshaling JSON: while decoding JSON: "))
	}
	c.defaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	return &c, nil
}

func (c *Config) defaults() {
	if c.APIVersion == "" {
		c.APIVersion = ConfigAPIVersion
	}
	if c.Kind == "" {
		c.Kind = ConfigKind
	}
	if c.TargetRevision == "" {
		c.TargetRevision = "main"
	}
	if c.ArgoCD.Namespace == "" {
		c.ArgoCD.Namespace = "argocd"
	}
	if c.ArgoCD.Project == "" {
		c.ArgoCD.Project = "default"
	}
	if c.ArgoCD.Server == "" {
		c.ArgoCD.Server = DefaultServer
	}
	for i := range c.Environments {
		if c.Environments[i].Namespace == "" {
			c.Environments[i].Namespace = c.Environments[i].Name
		}
	}
	if c.Preview.Namespace == "" {
		c.Preview.Namespace = names.PreviewEnv
	}
}

func (c *Config) validate() error {
	if c.APIVersion != ConfigAPIVersion || c.Kind != ConfigKind {
		return fmt.Errorf("apiVersion/kind must be %s/%s, is %s/%s", ConfigAPIVersion, ConfigKind, c.APIVersion, c.Kind)
	}
	if c.RepoURL == "" {
		return fmt.Errorf("repoURL is required: the URL Argo CD clones this repo from")
	}
	if c.BaseDomain == "" || strings.ContainsAny(c.BaseDomain, "/: ") {
		return fmt.Errorf("baseDomain must be a DNS name such as apps.example.com, is %q", c.BaseDomain)
	}
	if len(c.Environments) == 0 {
		return fmt.Errorf("environments: at least one environment is required")
	}
	seen := map[string]bool{}
	for i, e := range c.Environments {
		if err := names.Env(e.Name); err != nil {
			return fmt.Errorf("environments[%d]: %w", i, err)
		}
		if seen[e.Name] {
			return fmt.Errorf("environments[%d]: %q appears twice", i, e.Name)
		}
		seen[e.Name] = true
	}
	return nil
}

// Env returns the environment called name, or an error listing the ones there are.
func (c *Config) Env(name string) (Environment, error) {
	for _, e := range c.Environments {
		if e.Name == name {
			return e, nil
		}
	}
	return Environment{}, fmt.Errorf("unknown environment %q: %s declares %s", name, ConfigFile, strings.Join(c.EnvNames(), ", "))
}

// EnvNames lists the environments in promotion order.
func (c *Config) EnvNames() []string {
	out := make([]string, len(c.Environments))
	for i, e := range c.Environments {
		out[i] = e.Name
	}
	return out
}

// Marshal renders the configuration as plattr-env.yaml.
func (c *Config) Marshal() ([]byte, error) {
	body, err := marshalYAML(c)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Plattr environment repo: environments in promotion order. See README.md.\n"), body...), nil
}

// marshalYAML renders v as YAML with sorted keys, dropping null and empty
// "status" and "creationTimestamp" fields that Kubernetes types always emit.
func marshalYAML(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var obj any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if m, ok := obj.(map[string]any); ok {
		delete(m, "status")
		if meta, ok := m["metadata"].(map[string]any); ok {
			delete(meta, "creationTimestamp")
		}
	}
	return yaml.Marshal(obj)
}

// DefaultConfig is the configuration env init writes: envs in promotion order, the
// last one production.
func DefaultConfig(repoURL, domain string, envs []string) *Config {
	c := &Config{RepoURL: repoURL, BaseDomain: domain}
	for i, e := range envs {
		c.Environments = append(c.Environments, Environment{Name: e, Production: i == len(envs)-1 && len(envs) > 1})
	}
	c.defaults()
	return c
}
