package generator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator/crdschema"
	"github.com/plattr/plattr/generator/names"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// Validate checks the repo as it will be once changes are applied to tree: every
// kustomize overlay that a change touches builds in process, and every object it
// yields is a well-formed Plattr Application (in an app folder) or Argo CD
// Application (in an apps folder or bootstrap/), whose host, in a production
// environment, passes CheckProductionHost. A change that fails here must never
// be committed.
func Validate(changes Files, tree Tree) error {
	after := Overlay{Base: tree, Changes: changes}
	dirs := map[string]bool{}
	for p, data := range changes {
		if err := envfiles.CheckPath(p); err != nil {
			return err
		}
		switch {
		case p == ConfigFile && data != nil:
			cfg, err := ParseConfig(data)
			if err != nil {
				return err
			}
			if err := checkProjects(after); err != nil {
				return err
			}
			// An environment made production: its hosts are checked again.
			for _, e := range cfg.Environments {
				if !e.Production {
					continue
				}
				apps, err := after.ReadDir(EnvDir(e.Name))
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				for _, a := range apps {
					if a != names.AppsDir {
						dirs[AppDir(e.Name, a)] = true
					}
				}
			}
		case path.Base(p) == ReleaseFile && data != nil:
			if err := checkSameSource(p, data, tree); err != nil {
				return err
			}
			dirs[path.Dir(p)] = true
		case p == ProjectsPath:
			if err := checkProjects(after); err != nil {
				return err
			}
		case path.Dir(p) == BootstrapDir && data != nil:
			if err := checkObjects(p, data, func(obj []byte) error { _, err := checkArgoApplication(obj); return err }); err != nil {
				return err
			}
		default:
			dirs[path.Dir(p)] = true
		}
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted)
	for _, dir := range sorted {
		if err := validateOverlay(after, dir); err != nil {
			return err
		}
	}
	return nil
}

// checkProjects refuses a bootstrap/projects.yaml other than the one
// plattr-env.yaml gives: the projects are what keeps an environment's folder to
// its cluster, namespace and kind, so a commit may change them only through
// plattr-env.yaml (and env upgrade), where review sees it.
func checkProjects(tree Tree) error {
	cfg, err := ReadConfig(tree)
	if err != nil {
		return err
	}
	data, err := tree.ReadFile(ProjectsPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if !cfg.ArgoCD.ProjectPerEnvironment {
		if data != nil {
			return fmt.Errorf("%s: %s does not set argocd.projectPerEnvironment, so no Application uses these projects: remove the file, or run 'plattr-gen env upgrade'", ProjectsPath, ConfigFile)
		}
		return nil
	}
	want, err := projectsYAML(cfg)
	if err != nil {
		return err
	}
	if !bytes.Equal(data, want) {
		return fmt.Errorf("%s: is not the projects %s gives (each environment may deploy only Plattr Applications, only to its cluster and namespace): it is generated; change %s and run 'plattr-gen env upgrade'",
			ProjectsPath, ConfigFile, ConfigFile)
	}
	return nil
}

// checkSameSource refuses a release whose source repository is not the one of
// the release it replaces: two teams that chose the same app name would
// otherwise replace each other's releases. The source repository is what CI
// says it is (--source-repo): this guards against mistakes, not against a CI
// that lies; who may run plattr-gen with the env repo's token is the boundary.
// A person's edit without the annotation is not compared.
func checkSameSource(p string, data []byte, tree Tree) error {
	old, err := tree.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	was, now := sourceRepoOf(old), sourceRepoOf(data)
	if was != "" && now != "" && was != now {
		return fmt.Errorf("%s is released from %s, and this release comes from %s: app names are unique on the platform, so rename the app in plattr.yaml (or remove %s from the env repo to hand the name over)",
			path.Dir(p), was, now, path.Dir(p))
	}
	return nil
}

// sourceRepoOf is the source repository a release.yaml names, or "".
func sourceRepoOf(release []byte) string {
	var r struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if yaml.Unmarshal(release, &r) != nil {
		return ""
	}
	return r.Metadata.Annotations[plattrv1.AnnotationSourceRepo]
}

func validateOverlay(tree Tree, dir string) error {
	out, err := build(tree, dir)
	if err != nil || out == nil {
		return err
	}
	parts := strings.Split(dir, "/")
	if len(parts) != 3 || parts[0] != EnvsDir {
		return nil
	}
	cfg, env, err := environmentOf(tree, parts[1])
	if err != nil {
		return err
	}
	switch {
	case parts[2] == names.AppsDir:
		return checkObjects(dir, out, func(obj []byte) error {
			app, err := checkArgoApplication(obj)
			if err != nil {
				return err
			}
			return checkChild(tree, cfg, parts[1], env, app)
		})
	default:
		if len(bytes.TrimSpace(out)) == 0 {
			// A patch can delete the object ($patch: delete): Argo CD would prune
			// the app while the commit says it deployed.
			return fmt.Errorf("%s: builds no object, want exactly one Plattr Application (does %s delete it?)", dir, path.Join(dir, EnvPatchFile))
		}
		where := dir + " (" + ReleaseFile + " patched by " + EnvPatchFile + ")"
		var apps []*plattrv1.Application
		err = checkObjects(where, out, func(obj []byte) error {
			app, err := checkPlattrApplication(obj, parts[2], env.Production)
			apps = append(apps, app)
			return err
		})
		if err == nil && len(apps) != 1 {
			err = fmt.Errorf("%s: builds %d objects, want exactly one Plattr Application", dir, len(apps))
		}
		if err != nil {
			return err
		}
		if err := checkReleaseImage(tree, dir, apps[0]); err != nil {
			return err
		}
		if apps[0].Spec.Ingress != nil {
			host := apps[0].Spec.Ingress.Host
			if env.Production {
				if err := cfg.CheckProductionHost(host); err != nil {
					return fmt.Errorf("%s: spec.ingress.host: %w", path.Join(dir, EnvPatchFile), err)
				}
			}
			if err := checkHostNotClaimed(tree, cfg, parts[1], env, parts[2], host); err != nil {
				return fmt.Errorf("%s: spec.ingress.host: %w", path.Join(dir, EnvPatchFile), err)
			}
		}
		return nil
	}
}

// checkHostNotClaimed refuses a host that is another app's default host in the
// same environment: an app could take over another's URL (and its login
// redirects). Custom hosts are not compared with each other: that would read
// every app's files on every render.
func checkHostNotClaimed(tree Tree, cfg *Config, envName string, env Environment, app, host string) error {
	if host == "" || cfg.BaseDomain == "" {
		return nil
	}
	others, err := tree.ReadDir(EnvDir(envName))
	if err != nil {
		return err
	}
	for _, other := range others {
		if other == app || other == names.AppsDir {
			continue
		}
		if host == cfg.DefaultHost(other, envName, env) {
			return fmt.Errorf("%q is the host of app %s in this environment: an app serves only its own host", host, other)
		}
	}
	return nil
}

// checkChild refuses a child Application that is not one plattr-gen writes for
// an app of this environment: a person's commit must not point Argo CD at
// another repo, branch, cluster, namespace or project through the app-of-apps.
func checkChild(tree Tree, cfg *Config, envName string, env Environment, app *argov1.Application) error {
	if cfg.RepoURL == "" {
		return nil // a repo being initialised
	}
	folder, ok := strings.CutPrefix(app.Name, envName+"-")
	dir := AppDir(envName, folder)
	if !ok || names.PathElement(folder) != "" || folder == names.AppsDir {
		return fmt.Errorf("Argo CD Application %q is not named %s-<app>: child Applications are written by plattr-gen", app.Name, envName)
	}
	if _, err := tree.ReadDir(dir); err != nil {
		return fmt.Errorf("Argo CD Application %q syncs %s, which does not exist: child Applications are written by plattr-gen", app.Name, dir)
	}
	src, want := app.Spec.Source, argoApplication(cfg, app.Name, dir, cfg.ProjectOf(envName), cfg.DestinationOf(envName))
	for _, c := range []struct{ field, got, want string }{
		{"metadata.namespace", app.Namespace, want.Namespace},
		{"spec.project", app.Spec.Project, want.Spec.Project},
		{"spec.source.repoURL", src.RepoURL, want.Spec.Source.RepoURL},
		{"spec.source.targetRevision", src.TargetRevision, want.Spec.Source.TargetRevision},
		{"spec.source.path", src.Path, want.Spec.Source.Path},
		{"spec.destination.server", app.Spec.Destination.Server, want.Spec.Destination.Server},
		{"spec.destination.name", app.Spec.Destination.Name, want.Spec.Destination.Name},
		{"spec.destination.namespace", app.Spec.Destination.Namespace, want.Spec.Destination.Namespace},
	} {
		if c.got != c.want {
			return fmt.Errorf("Argo CD Application %q: %s is %q, plattr-gen writes %q (from %s): child Applications are written by plattr-gen; render the app again",
				app.Name, c.field, c.got, c.want, ConfigFile)
		}
	}
	if len(app.Spec.Sources) > 0 || app.Spec.SourceHydrator != nil {
		return fmt.Errorf("Argo CD Application %q has more sources than its app's folder: child Applications are written by plattr-gen", app.Name)
	}
	return nil
}

// checkReleaseImage refuses an env.yaml that changes the image release.yaml
// names: the release is what render and promote write (and report), so a
// person's patch of the image would run something no release says.
func checkReleaseImage(tree Tree, dir string, app *plattrv1.Application) error {
	data, err := tree.ReadFile(path.Join(dir, ReleaseFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a folder of another shape: the object checks above apply
	}
	if err != nil {
		return err
	}
	var release struct {
		Spec struct {
			Image string `json:"image"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &release); err != nil {
		return fmt.Errorf("%s: %w", path.Join(dir, ReleaseFile), err)
	}
	if release.Spec.Image != app.Spec.Image {
		return fmt.Errorf("%s: spec.image: the image is release.yaml's (written by plattr-gen render and promote); env.yaml may not change it: remove spec.image there",
			path.Join(dir, EnvPatchFile))
	}
	return nil
}

// build runs kustomize in process over the overlay in dir, as Argo CD would. It
// returns nil output when dir is gone or holds no kustomization.
func build(tree Tree, dir string) ([]byte, error) {
	entries, err := tree.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // the folder was removed
	}
	if err != nil {
		return nil, err
	}
	mem := filesys.MakeFsInMemory()
	hasKustomization := false
	for _, name := range entries {
		data, err := tree.ReadFile(path.Join(dir, name))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // a sub-folder: overlays of the contract have none
			}
			return nil, err
		}
		if err := checkOverlayFile(path.Join(dir, name), data); err != nil {
			return nil, err
		}
		if name == kustomizationFile {
			hasKustomization = true
		}
		if err := mem.WriteFile("/"+path.Join(dir, name), data); err != nil {
			return nil, err
		}
	}
	if !hasKustomization {
		return nil, nil
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, "/"+dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	if out == nil {
		out = []byte{} // built, to nothing: not the nil of a missing overlay
	}
	return out, nil
}

// Limits on what a person edits in the env repo, and on what is built from it.
const (
	// MaxEnvPatchSize bounds env.yaml.
	MaxEnvPatchSize = 64 << 10
	// MaxOverlayFileSize bounds every other file of an overlay.
	MaxOverlayFileSize = 256 << 10
	// MaxObjectSize bounds an object plattr-gen commits, as JSON: Argo CD's
	// client-side apply keeps the whole object in an annotation, and the API
	// server allows 256 KiB of annotations in all.
	MaxObjectSize = 200 << 10
)

// checkOverlayFile refuses a file of an overlay that is too big to be a patch
// or release, and an env.yaml that is not one YAML mapping (kustomize would
// say only "unable to parse SM or JSON patch").
func checkOverlayFile(p string, data []byte) error {
	limit := MaxOverlayFileSize
	if path.Base(p) == EnvPatchFile {
		limit = MaxEnvPatchSize
	}
	if len(data) > limit {
		return fmt.Errorf("%s: is %d bytes, more than the %d allowed", p, len(data), limit)
	}
	if path.Base(p) != EnvPatchFile {
		return nil
	}
	if manyDocuments(data) {
		return fmt.Errorf("%s: holds more than one YAML document ('---'): env.yaml is one patch", p)
	}
	var patch any
	if err := yaml.UnmarshalStrict(data, &patch); err != nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "error converting YAML to JSON: yaml: "), "error unmarshaling JSON: ")
		return fmt.Errorf("%s: not valid YAML: %s", p, strings.Join(strings.Fields(msg), " "))
	}
	m, ok := patch.(map[string]any)
	const shape = "a patch of the Application: apiVersion: plattr.dev/v1alpha1, kind: Application, metadata.name: the app's folder, and the spec fields to change"
	if !ok {
		return fmt.Errorf("%s: must be one YAML mapping: %s", p, shape)
	}
	meta, _ := m["metadata"].(map[string]any)
	if m["apiVersion"] != plattrv1.GroupVersion.String() || m["kind"] != plattrv1.Kind || meta == nil || meta["name"] != path.Base(path.Dir(p)) {
		return fmt.Errorf("%s: must be %s", p, shape)
	}
	return nil
}

func checkObjects(where string, stream []byte, check func(obj []byte) error) error {
	for i, doc := range splitYAML(stream) {
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return fmt.Errorf("%s: object %d: %w", where, i+1, err)
		}
		if len(js) > MaxObjectSize {
			return fmt.Errorf("%s: object %d: is %d bytes as JSON, more than the %d allowed (Argo CD keeps the whole object in an annotation, limited to 256 KiB)", where, i+1, len(js), MaxObjectSize)
		}
		if err := check(js); err != nil {
			return fmt.Errorf("%s: object %d: %w", where, i+1, err)
		}
	}
	return nil
}

func splitYAML(stream []byte) [][]byte {
	var out [][]byte
	for _, doc := range bytes.Split(stream, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) > 0 && !bytes.Equal(bytes.TrimSpace(doc), []byte("---")) {
			out = append(out, doc)
		}
	}
	return out
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func checkArgoApplication(obj []byte) (*argov1.Application, error) {
	if err := checkSchema(crdschema.ArgoCDApplication(), obj); err != nil {
		return nil, err
	}
	var app argov1.Application
	if err := strictJSON(obj, &app); err != nil {
		return nil, fmt.Errorf("not a valid Argo CD Application: %w", err)
	}
	if app.Name == "" || app.Spec.Source == nil || app.Spec.Source.Path == "" {
		return nil, fmt.Errorf("Argo CD Application %q needs a name and a source path", app.Name)
	}
	if err := checkMetadata(obj, "name", "namespace", "labels", "annotations", "finalizers"); err != nil {
		return nil, err
	}
	return &app, envfiles.CheckPath(app.Spec.Source.Path)
}

// checkMetadata refuses metadata fields other than allowed: what the API server
// sets (resourceVersion, uid, generation, managedFields, …) must not be written,
// and a create with some of them is refused.
func checkMetadata(obj []byte, allowed ...string) error {
	var o struct {
		Metadata map[string]json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(obj, &o); err != nil {
		return err
	}
	for k := range o.Metadata {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("metadata.%s is set by the API server, not in the env repo (allowed: %s)", k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// environmentOf reads plattr-env.yaml in tree and the environment env of it. A
// repo without one (being initialised), or a folder of an environment it does
// not declare (previews), gives a zero Environment: not production.
func environmentOf(tree Tree, env string) (*Config, Environment, error) {
	data, err := tree.ReadFile(ConfigFile)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, Environment{}, nil
	}
	if err != nil {
		return nil, Environment{}, err
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, Environment{}, err
	}
	e, err := cfg.Env(env)
	if err != nil {
		return cfg, Environment{}, nil
	}
	return cfg, e, nil
}

// dnsName is the API's pattern for spec.ingress.host.
var dnsName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// CheckProductionHost is the one rule for the host a production environment
// serves an app at: empty (the default <app>.<baseDomain>) or a public DNS name
// of at least two labels, on the base domain or one of Domains (the name itself
// or a subdomain of it). A loopback name (plattrv1.IsLoopbackHost) would turn
// the app's login redirects into ones any program on a user's machine can
// catch; an IP literal or a single label cannot carry a public certificate; a
// host on a domain the platform does not serve would send users elsewhere.
func (c *Config) CheckProductionHost(host string) error {
	if err := checkPublicHost(host); err != nil || host == "" {
		return err
	}
	allowed := append([]string{c.BaseDomain}, c.Domains...)
	for _, d := range allowed {
		if d != "" && (host == d || strings.HasSuffix(host, "."+d)) {
			return nil
		}
	}
	return fmt.Errorf("%q is not on the base domain or a listed domain (%s); a production host must be one of them or a subdomain of one (add the domain to domains in %s)",
		host, strings.Join(allowed, ", "), ConfigFile)
}

// checkPublicHost is the part of CheckProductionHost that needs no configuration.
func checkPublicHost(host string) error {
	const allowed = "a production environment needs the app's public DNS name (lower-case labels joined by dots, such as shop.example.com), or no host for the default <app>.<baseDomain>"
	switch {
	case host == "":
		return nil
	case plattrv1.IsLoopbackHost(host):
		return fmt.Errorf("%q is a loopback name, allowed only in development environments; %s", host, allowed)
	case net.ParseIP(strings.Trim(host, "[]")) != nil:
		return fmt.Errorf("%q is an IP address; %s", host, allowed)
	case len(host) > 253 || !dnsName.MatchString(host) || !strings.Contains(host, "."):
		return fmt.Errorf("%q is not a DNS name; %s", host, allowed)
	}
	labels := strings.Split(host, ".")
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return fmt.Errorf("%q is not a DNS name (its last label is a number); %s", host, allowed)
	}
	return nil
}

func checkPlattrApplication(obj []byte, name string, production bool) (*plattrv1.Application, error) {
	if err := checkSchema(crdschema.PlattrApplication(), obj); err != nil {
		return nil, err
	}
	var app plattrv1.Application
	if err := strictJSON(obj, &app); err != nil {
		return nil, fmt.Errorf("not a valid Plattr Application: %w", err)
	}
	if app.Name != name {
		return nil, fmt.Errorf("Plattr Application is named %q, want %q (the folder's name)", app.Name, name)
	}
	if err := checkMetadata(obj, "name", "labels", "annotations"); err != nil {
		return nil, fmt.Errorf("Plattr Application %q: %w", name, err)
	}
	if err := checkResources(app.Spec.Resources); err != nil {
		return nil, fmt.Errorf("Plattr Application %q: spec.resources%w", name, err)
	}
	if app.Namespace != "" {
		return nil, fmt.Errorf("Plattr Application %q sets a namespace: the environment's Argo CD Application decides it", name)
	}
	if _, err := ParseImage(app.Spec.Image, !production); err != nil {
		if production {
			return nil, fmt.Errorf("Plattr Application %q: spec.image: a production environment runs images pinned by digest: %w", name, err)
		}
		return nil, fmt.Errorf("Plattr Application %q: spec.image: %w", name, err)
	}
	if err := plattrv1.CheckTenancy(app.Name, &app.Spec); err != nil {
		return nil, fmt.Errorf("Plattr Application %q: %w", name, err)
	}
	// What the operator would refuse beyond the schema: a release phase it
	// would not run, a rotation schedule it would not keep.
	if err := plattrv1.CheckRelease(app.Spec.Release); err != nil {
		return nil, fmt.Errorf("Plattr Application %q: spec.%w", name, err)
	}
	if err := plattrv1.CheckCredentials(app.Spec.Credentials); err != nil {
		return nil, fmt.Errorf("Plattr Application %q: %w", name, err)
	}
	return &app, nil
}

// checkSchema refuses an object the API server would refuse: the CRD's own
// schema, checked as the API server checks it (crdschema).
func checkSchema(s *crdschema.Schema, obj []byte) error {
	var m map[string]any
	if err := utiljson.Unmarshal(obj, &m); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if err := s.Validate(m); err != nil {
		return fmt.Errorf("the API server would refuse this %s: %w", s.GroupVersionKind().Kind, err)
	}
	return nil
}
