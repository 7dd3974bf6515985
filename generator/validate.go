package generator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/generator/names"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// Validate checks the repo as it will be once changes are applied to tree: every
// kustomize overlay that a change touches builds in process, and every object it
// yields is a well-formed Plattr Application (in an app folder) or Argo CD
// Application (in an apps folder or bootstrap/). A change that fails here must
// never be committed.
func Validate(changes Files, tree Tree) error {
	after := Overlay{Base: tree, Changes: changes}
	dirs := map[string]bool{}
	for p, data := range changes {
		if err := CheckPath(p); err != nil {
			return err
		}
		switch {
		case p == ConfigFile && data != nil:
			if _, err := ParseConfig(data); err != nil {
				return err
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
		if part == "." || part == ".." || strings.EqualFold(part, ".git") {
			return fmt.Errorf("refusing path %q: %q is not allowed", p, part)
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
		n := 0
		err := checkObjects(dir, out, func(obj []byte) error {
			n++
			return checkPlattrApplication(obj, parts[2])
		})
		if err == nil && n != 1 {
			err = fmt.Errorf("%s: builds %d objects, want exactly one Plattr Application", dir, n)
		}
		return err
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

func checkObjects(where string, stream []byte, check func(obj []byte) error) error {
	for i, doc := range splitYAML(stream) {
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return fmt.Errorf("%s: object %d: %w", where, i+1, err)
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

func checkPlattrApplication(obj []byte, name string) error {
	var app plattrv1.Application
	if err := strictJSON(obj, &app); err != nil {
		return fmt.Errorf("not a valid Plattr Application: %w", err)
	}
	if app.APIVersion != plattrv1.GroupVersion.String() || app.Kind != plattrv1.Kind {
		return fmt.Errorf("is %s %s, want a Plattr Application (%s)", app.APIVersion, app.Kind, plattrv1.GroupVersion)
	}
	if app.Name != name {
		return fmt.Errorf("Plattr Application is named %q, want %q (the folder's name)", app.Name, name)
	}
	if app.Namespace != "" {
		return fmt.Errorf("Plattr Application %q sets a namespace: the environment's Argo CD Application decides it", name)
	}
	if _, err := ParseImage(app.Spec.Image, true); err != nil {
		return fmt.Errorf("Plattr Application %q: %w", name, err)
	}
	if app.Spec.Port < 0 || app.Spec.Port > 65535 {
		return fmt.Errorf("Plattr Application %q: port %d is out of range", name, app.Spec.Port)
	}
	return nil
}
