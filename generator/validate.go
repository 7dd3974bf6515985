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
	"sort"
	"strings"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

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
		if err := CheckPath(p); err != nil {
			return err
		}
		switch {
		case p == ConfigFile && data != nil:
			cfg, err := ParseConfig(data)
			if err != nil {
				return err
			}
			// An environment made production: its hosts are checked again.
			for _, e := range cfg.Environments {
				if !e.Production {
					continue
				}
				apps, err := after.ReadDir(path.Join(EnvsDir, e.Name))
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				for _, a := range apps {
					if a != names.AppsDir {
						dirs[path.Join(EnvsDir, e.Name, a)] = true
					}
				}
			}
		case path.Dir(p) == BootstrapDir && data != nil:
			if err := checkObjects(p, data, checkArgoApplication); err != nil {
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

// CheckPath refuses paths that could leave the repo or reach into git's own data:
// absolute paths, "..", empty or "." components and ".git".
func CheckPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || path.Clean(p) != p {
		return fmt.Errorf("refusing path %q: not a clean relative path inside the repo", p)
	}
	for _, part := range strings.Split(p, "/") {
		if reason := names.PathElement(part); reason != "" {
			return fmt.Errorf("refusing path %q: %q is not allowed (it %s)", p, part, reason)
		}
	}
	return nil
}

func validateOverlay(tree Tree, dir string) error {
	out, err := build(tree, dir)
	if err != nil || out == nil {
		return err
	}
	parts := strings.Split(dir, "/")
	switch {
	case len(parts) == 3 && parts[0] == EnvsDir && parts[2] == names.AppsDir:
		return checkObjects(dir, out, checkArgoApplication)
	case len(parts) == 3 && parts[0] == EnvsDir:
		cfg, env, err := environmentOf(tree, parts[1])
		if err != nil {
			return err
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
		if env.Production && apps[0].Spec.Ingress != nil {
			if err := cfg.CheckProductionHost(apps[0].Spec.Ingress.Host); err != nil {
				return fmt.Errorf("%s: spec.ingress.host: %w", path.Join(dir, EnvPatchFile), err)
			}
		}
		return nil
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
	var patch any
	if err := yaml.Unmarshal(data, &patch); err != nil {
		return fmt.Errorf("%s: not valid YAML: %s", p, strings.TrimPrefix(err.Error(), "error converting YAML to JSON: yaml: "))
	}
	if _, ok := patch.(map[string]any); !ok {
		return fmt.Errorf("%s: must be one YAML mapping: a patch of the Application with apiVersion, kind, metadata.name and the spec fields to change", p)
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

func checkArgoApplication(obj []byte) error {
	if err := checkSchema(crdschema.ArgoCDApplication(), obj); err != nil {
		return err
	}
	var app argov1.Application
	if err := strictJSON(obj, &app); err != nil {
		return fmt.Errorf("not a valid Argo CD Application: %w", err)
	}
	if app.APIVersion != "argoproj.io/v1alpha1" || app.Kind != "Application" {
		return fmt.Errorf("is %s %s, want an Argo CD Application (argoproj.io/v1alpha1)", app.APIVersion, app.Kind)
	}
	if app.Name == "" || app.Spec.Source == nil || app.Spec.Source.Path == "" {
		return fmt.Errorf("Argo CD Application %q needs a name and a source path", app.Name)
	}
	return CheckPath(app.Spec.Source.Path)
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
