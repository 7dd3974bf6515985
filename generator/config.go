package generator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/internal/urls"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
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
	// Domains a production app's own host may also be on (the domain itself or a
	// subdomain), besides BaseDomain.
	Domains []string `json:"domains,omitempty"`
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
	// Project every Application belongs to, in the layout of env repos written
	// before projects per environment (default "default"); empty when
	// ProjectPerEnvironment is set.
	Project string `json:"project,omitempty"`
	// ProjectPerEnvironment puts each environment's child Applications in an
	// AppProject of its own (ProjectOf) that allows only the environment's
	// cluster and namespace and only Plattr Applications, and the root
	// Applications in one that allows only Argo CD Applications in Argo CD's
	// namespace (RootProject). bootstrap/projects.yaml holds them.
	ProjectPerEnvironment bool `json:"projectPerEnvironment,omitempty"`
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
	// Cluster is the cluster the environment's apps run on: the name of a
	// cluster registered with Argo CD (a cluster Secret; destination.name) or
	// its https:// server URL (destination.server); empty: argocd.server.
	Cluster string `json:"cluster,omitempty"`
	// Gates are the environment's entry rules, checked when a release is
	// promoted into it (soak in the environment before, freeze windows).
	Gates *Gates `json:"gates,omitempty"`
	// Deployer is the GitHub login that records this environment's
	// deployments on apps' repositories (the operator's GitHub App's bot,
	// such as plattr-acme[bot], or its token's user). When set, the gates of
	// the next environment count only what it recorded.
	Deployer string `json:"deployer,omitempty"`
	// Credentials are the environment's default credential rotation: every
	// app there gets spec.credentials.every unless its env.yaml sets its own.
	Credentials *EnvCredentials `json:"credentials,omitempty"`
}

// EnvCredentials is an environment's default credential rotation.
type EnvCredentials struct {
	// Every: credentials older than it rotate on their own ("90d", "720h";
	// at least 1h).
	Every string `json:"every,omitempty"`
}

// PreviewConfig configures pull request previews.
type PreviewConfig struct {
	// Namespace all previews run in (default "preview").
	Namespace string `json:"namespace,omitempty"`
	// Cluster the previews run on, as Environment.Cluster.
	Cluster string `json:"cluster,omitempty"`
}

// ClusterOf is the cluster env's apps run on as plattr-env.yaml says it (a
// registered name or a server URL), "" for argocd.server; env "preview" is the
// previews'.
func (c *Config) ClusterOf(env string) string {
	if env == names.PreviewEnv {
		return c.Preview.Cluster
	}
	e, _ := c.Env(env) // unknown: the zero Environment
	return e.Cluster
}

// NamespaceOf is the namespace env's apps run in; env "preview" is the previews'.
func (c *Config) NamespaceOf(env string) string {
	if env == names.PreviewEnv {
		return c.Preview.Namespace
	}
	e, _ := c.Env(env) // unknown: the zero Environment
	return e.Namespace
}

// DestinationOf is where env's child Applications deploy: its cluster (by name,
// or by server URL) and namespace.
func (c *Config) DestinationOf(env string) argov1.ApplicationDestination {
	return destination(c.ArgoCD.Server, c.ClusterOf(env), c.NamespaceOf(env))
}

// destination is an Argo CD destination on cluster (a registered name or an
// https:// URL; "" for server) in namespace.
func destination(server, cluster, namespace string) argov1.ApplicationDestination {
	switch {
	case cluster == "":
		return argov1.ApplicationDestination{Server: server, Namespace: namespace}
	case strings.HasPrefix(cluster, "https://"):
		return argov1.ApplicationDestination{Server: cluster, Namespace: namespace}
	}
	return argov1.ApplicationDestination{Name: cluster, Namespace: namespace}
}

// RootProjectName is the AppProject of the root Applications when each
// environment has a project of its own; environments' are RootProjectName-<env>.
const RootProjectName = "plattr"

// RootProject is the Argo CD project of the root Applications.
func (c *Config) RootProject() string {
	if !c.ArgoCD.ProjectPerEnvironment {
		return c.ArgoCD.Project
	}
	return RootProjectName
}

// ProjectOf is the Argo CD project of env's child Applications ("preview": the
// previews').
func (c *Config) ProjectOf(env string) string {
	if !c.ArgoCD.ProjectPerEnvironment {
		return c.ArgoCD.Project
	}
	return RootProjectName + "-" + env
}

// checkCluster is the rule for an environment's cluster: the name of a cluster
// registered with Argo CD (a DNS-1123 subdomain) or its https:// server URL.
func checkCluster(name string) error {
	if name == "" {
		return nil
	}
	if strings.Contains(name, "://") {
		if err := checkServer(name); err != nil {
			return fmt.Errorf("%q: %w", name, err)
		}
		return nil
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("%q is neither the name of a cluster registered with Argo CD (lower-case letters, digits, '-' and '.') nor its https:// URL: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// ConfigAPIVersion and ConfigKind identify plattr-env.yaml.
const (
	ConfigAPIVersion = "plattr.dev/v1alpha1"
	ConfigKind       = "EnvironmentRepo"
	DefaultServer    = "https://kubernetes.default.svc"
)

// MaxConfigSize bounds plattr-env.yaml.
const MaxConfigSize = 64 << 10

// ReadConfig reads and parses the env repo's plattr-env.yaml.
func ReadConfig(tree Tree) (*Config, error) {
	data, err := tree.ReadFile(ConfigFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the env repo has no %s: run 'plattr-gen env init' on it first", ConfigFile)
	}
	if err != nil {
		return nil, err
	}
	return ParseConfig(data)
}

// ParseConfig decodes and validates plattr-env.yaml.
func ParseConfig(data []byte) (*Config, error) {
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("%s: is %d bytes, more than the %d allowed", ConfigFile, len(data), MaxConfigSize)
	}
	if manyDocuments(data) {
		return nil, fmt.Errorf("%s: holds more than one YAML document ('---'): it is one document", ConfigFile)
	}
	var top any
	if err := yaml.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %s", ConfigFile, strings.TrimPrefix(err.Error(), "error converting YAML to JSON: yaml: "))
	}
	if _, ok := top.(map[string]any); !ok {
		return nil, fmt.Errorf("%s: must be a mapping with apiVersion: %s, kind: %s, repoURL, baseDomain and environments (see README.md)",
			ConfigFile, ConfigAPIVersion, ConfigKind)
	}
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
	if c.ArgoCD.Project == "" && !c.ArgoCD.ProjectPerEnvironment {
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
	if err := CheckRepoURL(c.RepoURL); err != nil {
		return fmt.Errorf("repoURL: %w", err)
	}
	if err := names.Branch(c.TargetRevision); err != nil {
		return fmt.Errorf("targetRevision: %w (the branch Argo CD follows)", err)
	}
	if err := checkDomain(c.BaseDomain); err != nil {
		return fmt.Errorf("baseDomain: %w", err)
	}
	for i, d := range c.Domains {
		if err := checkDomain(d); err != nil {
			return fmt.Errorf("domains[%d]: %w", i, err)
		}
	}
	if err := checkLabel(c.ArgoCD.Namespace, "a namespace"); err != nil {
		return fmt.Errorf("argocd.namespace: %w", err)
	}
	if c.ArgoCD.ProjectPerEnvironment && c.ArgoCD.Project != "" {
		return fmt.Errorf("argocd.project: %q is the one project of every Application, and argocd.projectPerEnvironment gives each environment its own (%s-<env>): keep one of the two", c.ArgoCD.Project, RootProjectName)
	}
	if errs := validation.IsDNS1123Subdomain(c.ArgoCD.Project); !c.ArgoCD.ProjectPerEnvironment && len(errs) > 0 {
		return fmt.Errorf("argocd.project: %q is not an Argo CD project name: %s", c.ArgoCD.Project, strings.Join(errs, "; "))
	}
	if err := checkServer(c.ArgoCD.Server); err != nil {
		return fmt.Errorf("argocd.server: %w", err)
	}
	if err := checkLabel(c.Preview.Namespace, "a namespace"); err != nil {
		return fmt.Errorf("preview.namespace: %w", err)
	}
	if err := checkCluster(c.Preview.Cluster); err != nil {
		return fmt.Errorf("preview.cluster: %w", err)
	}
	if len(c.Environments) == 0 {
		return fmt.Errorf("environments: at least one environment is required")
	}
	seen := map[string]bool{}
	namespaces := map[string]string{c.Preview.Namespace: "preview.namespace"}
	if err := checkAppNamespace(c.Preview.Namespace, c); err != nil {
		return fmt.Errorf("preview.namespace: %w", err)
	}
	for i, e := range c.Environments {
		if err := names.Env(e.Name); err != nil {
			return fmt.Errorf("environments[%d]: %w", i, err)
		}
		if seen[e.Name] {
			return fmt.Errorf("environments[%d]: %q appears twice", i, e.Name)
		}
		seen[e.Name] = true
		if err := checkLabel(e.Namespace, "a namespace"); err != nil {
			return fmt.Errorf("environments[%d].namespace: %w", i, err)
		}
		if err := checkCluster(e.Cluster); err != nil {
			return fmt.Errorf("environments[%d].cluster: %w", i, err)
		}
		if e.Deployer != "" && !githubLogin.MatchString(e.Deployer) {
			return fmt.Errorf("environments[%d].deployer: %q is not a GitHub login (letters, digits and dashes, up to 39, with [bot] for an app)", i, e.Deployer)
		}
		if err := e.Gates.check(); err != nil {
			return fmt.Errorf("environments[%d].gates.%w", i, err)
		}
		if e.Credentials != nil {
			if err := plattrv1.CheckRotationInterval(e.Credentials.Every); err != nil {
				return fmt.Errorf("environments[%d].credentials.every: %w", i, err)
			}
		}
		if err := checkAppNamespace(e.Namespace, c); err != nil {
			return fmt.Errorf("environments[%d].namespace: %w", i, err)
		}
		if other, ok := namespaces[e.Namespace]; ok {
			return fmt.Errorf("environments[%d].namespace: %q is %s's too: each environment (and previews) has a namespace of its own", i, e.Namespace, other)
		}
		namespaces[e.Namespace] = fmt.Sprintf("environments[%d].namespace", i)
	}
	return nil
}

// systemNamespaces belong to Kubernetes or the platform itself: apps never run there.
var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease", "plattr-system"}

// checkAppNamespace refuses a namespace where apps must not run: Kubernetes' own,
// the platform's and Argo CD's.
func checkAppNamespace(ns string, c *Config) error {
	if slices.Contains(systemNamespaces, ns) || ns == c.ArgoCD.Namespace {
		return fmt.Errorf("%q is a namespace of Kubernetes or the platform (%s, and Argo CD's %s): apps run in namespaces of their own",
			ns, strings.Join(systemNamespaces, ", "), c.ArgoCD.Namespace)
	}
	return nil
}

// CheckRepoURL is the rule for the URL Argo CD clones the env repo from: an
// https:// (or http://, ssh://, git@host:) URL without credentials, or a path.
// Credentials would be committed with it into every Argo CD Application; Argo CD
// reads them from a repository Secret instead.
func CheckRepoURL(raw string) error {
	if urls.HasControl(raw) {
		return errors.New("contains a control character")
	}
	if strings.HasPrefix(raw, "git@") && !strings.Contains(raw, "://") && strings.Count(raw, "@") == 1 {
		return nil // scp-like SSH: user "git", no password
	}
	if urls.LostScheme(raw) {
		return errors.New("looks like a URL without its scheme (it holds '@' but no \"://\"; not shown: it may hold credentials): write it as https://…")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword || u.Scheme != "ssh" {
			return fmt.Errorf("carries credentials (%s): they would be committed into every Argo CD Application; remove them and give Argo CD a repository Secret (see README.md)", urls.Redact(u))
		}
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return errors.New("has a query or fragment (a token such as ?access_token= would be committed): give the plain URL Argo CD clones")
	}
	switch u.Scheme {
	case "https", "http", "ssh", "":
		return nil
	}
	return fmt.Errorf("scheme %q is not one Argo CD clones from: use https://", u.Scheme)
}

// checkDomain is the rule for a domain apps are served under: a lower-case DNS
// name of at least two labels, no port, path or IP address.
func checkDomain(d string) error {
	switch {
	case d == "":
		return errors.New("is required: a DNS name such as apps.example.com")
	case net.ParseIP(d) != nil:
		return fmt.Errorf("%q is an IP address: apps are served under a DNS name such as apps.example.com", d)
	case len(d) > 200 || !dnsName.MatchString(d) || !strings.Contains(d, "."):
		return fmt.Errorf("%q is not a DNS name such as apps.example.com (lower-case labels joined by dots)", d)
	}
	return nil
}

// checkLabel is the rule for a namespace name: a DNS-1123 label.
func checkLabel(v, what string) error {
	if errs := validation.IsDNS1123Label(v); len(errs) > 0 {
		return fmt.Errorf("%q is not %s name: %s", v, what, strings.Join(errs, "; "))
	}
	return nil
}

// checkServer is the rule for Argo CD's destination server: an https:// URL
// without credentials.
func checkServer(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.ContainsAny(raw, " \t\r\n") {
		return fmt.Errorf("must be the https:// URL of a cluster Argo CD knows, without credentials, such as %s", DefaultServer)
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

// githubLogin is a GitHub user's or app bot's login.
var githubLogin = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\[bot\])?$`)

// ProductionEnv is the environment marked production, else the last one.
func (c *Config) ProductionEnv() string {
	for _, e := range c.Environments {
		if e.Production {
			return e.Name
		}
	}
	if len(c.Environments) == 0 {
		return ""
	}
	return c.Environments[len(c.Environments)-1].Name
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
// last one production, each with an Argo CD project of its own.
func DefaultConfig(repoURL, domain string, envs []string) *Config {
	c := &Config{RepoURL: repoURL, BaseDomain: domain, ArgoCD: ArgoCDConfig{ProjectPerEnvironment: true}}
	for i, e := range envs {
		c.Environments = append(c.Environments, Environment{Name: e, Production: i == len(envs)-1})
	}
	c.defaults()
	return c
}

// manyDocuments says whether data holds more than one YAML document with content
// (the YAML decoders used for files read only the first).
func manyDocuments(data []byte) bool {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		var doc yamlv3.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			return false // the caller's decoder reports what is wrong
		}
		empty := len(doc.Content) == 0 || (len(doc.Content) == 1 && doc.Content[0].Tag == "!!null" && doc.Content[0].Value == "")
		if !empty {
			n++
		}
		if n > 1 {
			return true
		}
	}
}
