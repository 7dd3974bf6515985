package generator

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/plattr/plattr/generator/crdschema"
	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/internal/urls"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// File names of the env repo contract.
const (
	kustomizationFile = "kustomization.yaml"
	ReleaseFile       = "release.yaml"
	EnvPatchFile      = "env.yaml"
	// EnvDefaultsFile holds what plattr-env.yaml sets for every app of an
	// environment (credentials.every): rewritten by every render and
	// promotion, applied before env.yaml, which may override it.
	EnvDefaultsFile = "defaults.yaml"
	// EnvsDir holds every environment.
	EnvsDir = "envs"
	// BootstrapDir holds the root app-of-apps of each environment.
	BootstrapDir = "bootstrap"
)

// Argo CD settings every child Application gets.
const (
	revisionHistoryLimit = 10
	// manifestGeneratePaths "." limits refreshes to commits that touch the
	// Application's own source path: one commit refreshes one app.
	annotationManifestGeneratePaths = "argocd.argoproj.io/manifest-generate-paths"
)

// Source says where a release came from; it goes into annotations and the commit message.
type Source struct {
	Repo   string // "owner/name"
	Commit string // full commit id
	RunURL string // the CI run
	// Time is when the source commit was committed (RFC 3339): lead times
	// are measured from it.
	Time string
}

var sourceCommit = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// Check refuses source metadata that could forge what a commit says: each value
// becomes a commit trailer or an annotation, so a newline would add a trailer of
// its own ("Plattr-Environment: prod"). The error names the flag and what is
// allowed.
func (s Source) Check() error {
	if s.Repo != "" {
		if err := names.Repo(s.Repo); err != nil {
			if urls.HasControl(s.Repo) {
				return errors.New("--source-repo holds a control character (a newline would forge a commit trailer): give owner/name")
			}
			return fmt.Errorf("--source-repo: %w", err)
		}
	}
	if s.Commit != "" && !sourceCommit.MatchString(s.Commit) {
		return fmt.Errorf("--source-commit %q is not a commit id: 7 to 64 lower-case hex digits", s.Commit)
	}
	if s.Time != "" {
		if _, err := time.Parse(time.RFC3339, s.Time); err != nil || len(s.Time) > 40 {
			return fmt.Errorf("--source-time %q is not an RFC 3339 time such as 2026-12-04T10:00:00Z", s.Time)
		}
	}
	if s.RunURL != "" {
		u, err := url.Parse(s.RunURL)
		if len(s.RunURL) > 512 || urls.HasControl(s.RunURL) || strings.ContainsRune(s.RunURL, ' ') || err != nil ||
			(u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return errors.New("--ci-run is not the http(s) URL of a CI run: one line, at most 512 characters, no credentials")
		}
	}
	return nil
}

// Release is what to render: one application, one image, one target.
type Release struct {
	Manifest *manifest.Manifest
	Image    Image
	// Env is the target environment; ignored when PR is set.
	Env string
	// PR, when non-zero, renders the preview of that pull request.
	PR     int
	Source Source
}

// Target is where a release lands.
type Target struct {
	Env        string // environment name, "preview" for previews
	Namespace  string
	Name       string // the Plattr Application's name: the app, or "<app>-pr-<n>"
	Dir        string // envs/<env>/<name>
	Host       string
	Production bool
}

// ChildPath is the path of the target's Argo CD child Application.
func (t Target) ChildPath() string { return ChildPath(t.Env, t.Name) }

// ReleasePath is the path of the target's release.yaml.
func (t Target) ReleasePath() string { return path.Join(t.Dir, ReleaseFile) }

// The env repo's paths: every caller builds them here.

// EnvDir is an environment's folder: envs/<env>.
func EnvDir(env string) string { return path.Join(EnvsDir, env) }

// AppDir is the folder of an app (or a preview, in env "preview") in an
// environment: envs/<env>/<name>.
func AppDir(env, name string) string { return path.Join(EnvsDir, env, name) }

// ReleasePath is the release of an app in an environment: envs/<env>/<name>/release.yaml.
func ReleasePath(env, name string) string { return path.Join(AppDir(env, name), ReleaseFile) }

// ChildPath is the Argo CD child Application of an app in an environment:
// envs/<env>/apps/<name>.yaml.
func ChildPath(env, name string) string { return path.Join(EnvsDir, env, names.AppsDir, name+".yaml") }

// ChildName is the name of the target's Argo CD child Application.
func (t Target) ChildName() string { return t.Env + "-" + t.Name }

// Resolve computes where a release lands, validating every name that reaches a path.
func (c *Config) Resolve(app, env string, pr int) (Target, error) {
	if err := names.App(app); err != nil {
		return Target{}, err
	}
	if pr != 0 {
		if err := names.PR(pr); err != nil {
			return Target{}, err
		}
		name := names.Preview(app, pr)
		return Target{Env: names.PreviewEnv, Namespace: c.Preview.Namespace, Name: name,
			Dir: AppDir(names.PreviewEnv, name), Host: c.DefaultHost(name, names.PreviewEnv, Environment{})}, nil
	}
	if err := names.Env(env); err != nil {
		return Target{}, err
	}
	e, err := c.Env(env)
	if err != nil {
		return Target{}, err
	}
	return Target{Env: e.Name, Namespace: e.Namespace, Name: app, Dir: AppDir(e.Name, app), Host: c.DefaultHost(app, e.Name, e), Production: e.Production}, nil
}

// DefaultHost is the host an app (a preview: "<app>-pr-<n>") is served at in an
// environment when its env.yaml names none: <app>.<env>.<baseDomain>, and
// <app>.<baseDomain> in a production environment.
func (c *Config) DefaultHost(name, env string, e Environment) string {
	return plattrv1.DefaultHost(name, env, c.BaseDomain, e.Production)
}

// Reads are the files a render of r will read from tree, as far as they are
// known before plattr-env.yaml is: that file, the target folder's, its child
// Application and the environment's list of children (an invalid name reads
// nothing more; Render says why). A partial clone fetches
// them in one request (envfiles.Prefetcher) instead of one per step.
func Reads(r Release, tree Tree) []string {
	out := []string{ConfigFile}
	if r.Manifest == nil || names.App(r.Manifest.Name) != nil {
		return out
	}
	env, name := r.Env, r.Manifest.Name
	switch {
	case r.PR != 0:
		if names.PR(r.PR) != nil {
			return out
		}
		env, name = names.PreviewEnv, names.Preview(name, r.PR)
	case names.Env(env) != nil:
		return out
	}
	// The child Application and the list of children, checked on every render.
	out = append(out, ChildPath(env, name), path.Join(EnvDir(env), names.AppsDir, kustomizationFile))
	dir := AppDir(env, name)
	entries, err := tree.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		out = append(out, path.Join(dir, e))
	}
	return out
}

// Render returns the files that release r into the env repo whose current state is
// tree. env.yaml is written only when absent: after that, people own it.
func Render(cfg *Config, r Release, tree Tree) (Files, Target, error) {
	if err := r.Source.Check(); err != nil {
		return nil, Target{}, err
	}
	m := r.Manifest
	t, err := cfg.Resolve(m.Name, r.Env, r.PR)
	if err != nil {
		return nil, Target{}, err
	}
	for _, env := range slices.Sorted(maps.Keys(m.Environments)) {
		if env == names.PreviewEnv {
			continue
		}
		if _, err := cfg.Env(env); err != nil {
			return nil, Target{}, m.Errorf("environments."+env, "no such environment in the env repo (%s declares %s)", ConfigFile, strings.Join(cfg.EnvNames(), ", "))
		}
	}
	release := releaseApp(r, t)
	if err := checkRelease(r, release); err != nil {
		return nil, Target{}, err
	}
	files := Files{}
	if files[t.ReleasePath()], err = withHeader(releaseHeader, release); err != nil {
		return nil, Target{}, err
	}
	if err := addAppScaffold(cfg, t, defaultsOf(m, t.Env), tree, files); err != nil {
		return nil, Target{}, err
	}
	return files, t, nil
}

const (
	releaseHeader = "# Generated by plattr-gen: the release of this app (image + spec from plattr.yaml).\n" +
		"# Promotion copies this file verbatim to the next environment. Do not edit: render again.\n"
	envHeader = "# Per-environment settings of this app, patched over release.yaml.\n" +
		"# plattr-gen writes this file once; after that it is yours: render and promote never overwrite it.\n"
	generatedHeader = "# Generated by plattr-gen. Do not edit.\n"
	defaultsHeader  = "# The environment's defaults for every app, from plattr-env.yaml; env.yaml overrides them.\n" +
		"# Generated by plattr-gen on every render and promotion. Do not edit: change plattr-env.yaml.\n"
)

// checkRelease refuses a release the API server would refuse, naming the field
// of plattr.yaml (or the flag) it comes from, so that the developer who wrote it
// reads what to change. Validate checks the same schema again once env.yaml is
// applied.
func checkRelease(r Release, app *plattrv1.Application) error {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(app)
	if err != nil {
		return err
	}
	err = crdschema.PlattrApplication().Validate(obj)
	var se *crdschema.Error
	if err == nil {
		if err := checkResources(app.Spec.Resources); err != nil {
			field, msg, _ := strings.Cut(strings.TrimPrefix(err.Error(), "."), ": ")
			return r.Manifest.Errorf("resources."+field, "%s", msg)
		}
		return nil
	}
	if !errors.As(err, &se) || len(se.Errors) == 0 {
		return err
	}
	fe := se.Errors[0]
	body := fe.ErrorBody()
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	switch {
	case fe.Field == "spec.image":
		return fmt.Errorf("--image: %s", body)
	case strings.HasPrefix(fe.Field, "metadata.annotations"):
		return fmt.Errorf("--source-repo, --source-commit: %s", body)
	case strings.HasPrefix(fe.Field, "metadata."):
		return r.Manifest.Errorf("name", "%s", body)
	}
	field := strings.TrimPrefix(fe.Field, "spec.")
	// spec.env is plattr.yaml's env mapping, sorted by name.
	if rest, ok := strings.CutPrefix(field, "env["); ok {
		if i, err := strconv.Atoi(rest[:strings.IndexByte(rest, ']')]); err == nil && i < len(app.Spec.Env) {
			field = "env." + app.Spec.Env[i].Name
		}
	}
	return r.Manifest.Errorf(field, "%s", body)
}

// releaseApp is the Plattr Application of a release: release.yaml.
func releaseApp(r Release, t Target) *plattrv1.Application {
	m := r.Manifest
	app := plattrv1.Application{
		TypeMeta:   metav1.TypeMeta{APIVersion: plattrv1.GroupVersion.String(), Kind: plattrv1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: t.Name, Labels: map[string]string{plattrv1.LabelApp: m.Name}},
		Spec: plattrv1.ApplicationSpec{
			Image:     r.Image.Ref,
			Port:      m.Port,
			Resources: resources(m.Resources),
		},
	}
	if app.Spec.Port == 0 {
		app.Spec.Port = plattrv1.DefaultPort
	}
	if r.Source.Repo != "" || r.Source.Commit != "" {
		app.Annotations = map[string]string{}
		if r.Source.Repo != "" {
			app.Annotations[plattrv1.AnnotationSourceRepo] = r.Source.Repo
		}
		if r.Source.Commit != "" {
			app.Annotations[plattrv1.AnnotationSourceCommit] = r.Source.Commit
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Env)) {
		app.Spec.Env = append(app.Spec.Env, plattrv1.EnvVar{Name: k, Value: m.Env[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(m.Secrets)) {
		app.Spec.ExternalSecrets = append(app.Spec.ExternalSecrets, plattrv1.ExternalSecretVar{Name: k, Key: m.Secrets[k]})
	}
	if hc := m.HealthCheck; hc != nil {
		app.Spec.HealthCheck = &plattrv1.HealthCheck{Path: hc.Path, InitialDelaySeconds: hc.InitialDelaySeconds, PeriodSeconds: hc.PeriodSeconds}
	}
	if d := m.Database; d != nil {
		app.Spec.Database = &plattrv1.DatabaseSpec{Enabled: d.Enabled, Extensions: d.Extensions}
	}
	if s := m.Redis; s != nil {
		app.Spec.Redis = &plattrv1.RedisSpec{Enabled: s.Enabled}
	}
	if s := m.Search; s != nil {
		app.Spec.Search = &plattrv1.SearchSpec{Enabled: s.Enabled}
	}
	if a := m.Auth; a != nil {
		app.Spec.Auth = &plattrv1.AuthSpec{Enabled: a.Enabled, RedirectPaths: a.RedirectPaths}
	}
	if m.Release != nil {
		app.Spec.Release, _ = m.Release.Spec() // checked when plattr.yaml was loaded
	}
	return &app
}

// manifestDefaults are the per-environment defaults a first env.yaml takes.
type manifestDefaults struct {
	replicas  *int32
	resources *manifest.Resources
}

func defaultsOf(m *manifest.Manifest, env string) *manifestDefaults {
	o := m.Environments[env]
	d := &manifestDefaults{replicas: m.Replicas, resources: o.Resources}
	if o.Replicas != nil {
		d.replicas = o.Replicas
	}
	return d
}

func envPatch(d *manifestDefaults, t Target) ([]byte, error) {
	replicas := int32(1)
	var res *manifest.Resources
	if d != nil {
		if d.replicas != nil {
			replicas = *d.replicas
		}
		res = d.resources
	}
	// Previews are thrown away with their data; every long-lived environment
	// keeps its data unless a person says otherwise in env.yaml.
	policy := plattrv1.DeletionPolicyRetain
	if t.Env == names.PreviewEnv {
		policy = plattrv1.DeletionPolicyDelete
	}
	// A dedicated type: the API's ApplicationSpec would emit `image: ""` and
	// overwrite the release's image.
	type envSpec struct {
		Replicas       *int32                       `json:"replicas"`
		Ingress        *plattrv1.Ingress            `json:"ingress"`
		Resources      *corev1.ResourceRequirements `json:"resources,omitempty"`
		DeletionPolicy plattrv1.DeletionPolicy      `json:"deletionPolicy"`
	}
	patch := appPatch(t.Name, envSpec{
		Replicas:       ptr.To(replicas),
		Ingress:        &plattrv1.Ingress{Host: t.Host},
		Resources:      resources(res),
		DeletionPolicy: policy,
	})
	return withHeader(envHeader, patch)
}

func resources(r *manifest.Resources) *corev1.ResourceRequirements {
	if r == nil {
		return nil
	}
	list := func(q *manifest.Quantities) corev1.ResourceList {
		if q == nil || (q.CPU == "" && q.Memory == "") {
			return nil
		}
		l := corev1.ResourceList{}
		if q.CPU != "" {
			l[corev1.ResourceCPU] = resource.MustParse(q.CPU) // validated by the manifest loader
		}
		if q.Memory != "" {
			l[corev1.ResourceMemory] = resource.MustParse(q.Memory)
		}
		return l
	}
	out := &corev1.ResourceRequirements{Requests: list(r.Requests), Limits: list(r.Limits)}
	if out.Requests == nil && out.Limits == nil {
		return nil
	}
	return out
}

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Patches    []patch  `json:"patches,omitempty"`
}

type patch struct {
	Path string `json:"path"`
}

func newKustomization(resources []string) kustomization {
	if resources == nil {
		resources = []string{}
	}
	return kustomization{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization", Resources: resources}
}

func appKustomization(defaults bool) ([]byte, error) {
	k := newKustomization([]string{ReleaseFile})
	if defaults {
		k.Patches = append(k.Patches, patch{Path: EnvDefaultsFile})
	}
	k.Patches = append(k.Patches, patch{Path: EnvPatchFile})
	return withHeader(generatedHeader, k)
}

// envDefaults is the defaults.yaml of t from its environment's settings in
// plattr-env.yaml, nil when the environment sets none.
func envDefaults(cfg *Config, t Target) ([]byte, error) {
	e, err := cfg.Env(t.Env)
	if err != nil || e.Credentials == nil || e.Credentials.Every == "" {
		return nil, nil // previews and environments without defaults
	}
	type defaultsSpec struct {
		Credentials *plattrv1.CredentialsSpec `json:"credentials"`
	}
	return withHeader(defaultsHeader, appPatch(t.Name, defaultsSpec{Credentials: &plattrv1.CredentialsSpec{Every: e.Credentials.Every}}))
}

// appPatch is a patch of the Plattr Application name with spec (a type of
// its own per file: the API's ApplicationSpec would emit empty fields that
// overwrite the release's).
func appPatch(name string, spec any) any {
	return struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        map[string]string `json:"metadata"`
		Spec            any               `json:"spec"`
	}{
		TypeMeta: metav1.TypeMeta{APIVersion: plattrv1.GroupVersion.String(), Kind: plattrv1.Kind},
		Metadata: map[string]string{"name": name},
		Spec:     spec,
	}
}

// appsKustomization lists every child Application of an environment, sorted.
func appsKustomization(tree Tree, dir string) ([]byte, error) {
	children, err := yamlFiles(tree, dir)
	if err != nil {
		return nil, err
	}
	sort.Strings(children)
	return withHeader(generatedHeader, newKustomization(children))
}

// AutoSync is the automated sync policy of every Application Plattr writes:
// prune what git no longer has, and heal what was changed by hand.
func AutoSync() *argov1.SyncPolicyAutomated {
	return &argov1.SyncPolicyAutomated{Prune: ptr.To(true), SelfHeal: ptr.To(true)}
}

func childApplicationYAML(cfg *Config, t Target) ([]byte, error) {
	app := argoApplication(cfg, t.ChildName(), t.Dir, cfg.ProjectOf(t.Env), cfg.DestinationOf(t.Env))
	app.Labels = map[string]string{plattrv1.LabelEnvironment: t.Env, plattrv1.LabelApp: t.Name}
	return withHeader(generatedHeader, app)
}

// argoApplication is an Argo CD Application of project syncing dir of the env
// repo to dest, with automated sync, pruning and the resources finalizer
// (deleting it deletes what it made).
func argoApplication(cfg *Config, name, dir, project string, dest argov1.ApplicationDestination) *argov1.Application {
	return &argov1.Application{
		TypeMeta: metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "Application"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   cfg.ArgoCD.Namespace,
			Finalizers:  []string{argov1.ResourcesFinalizerName},
			Annotations: map[string]string{annotationManifestGeneratePaths: "."},
		},
		Spec: argov1.ApplicationSpec{
			Project: project,
			Source: &argov1.ApplicationSource{
				RepoURL:        cfg.RepoURL,
				TargetRevision: cfg.TargetRevision,
				Path:           dir,
			},
			Destination: dest,
			SyncPolicy: &argov1.SyncPolicy{
				Automated: AutoSync(),
				Retry:     &argov1.RetryStrategy{Limit: 5, Backoff: &argov1.Backoff{Duration: "5s", Factor: ptr.To[int64](2), MaxDuration: "3m"}},
			},
			RevisionHistoryLimit: ptr.To[int64](revisionHistoryLimit),
		},
	}
}

func withHeader(header string, v any) ([]byte, error) {
	body, err := marshalYAML(v)
	if err != nil {
		return nil, fmt.Errorf("render YAML: %w", err)
	}
	return append([]byte(header), body...), nil
}
