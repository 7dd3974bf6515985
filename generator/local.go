package generator

import (
	"fmt"
	"path"

	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/generator/names"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// Local is the Application of m in env when no env repo is involved (`plattr dev`,
// `plattr deploy local`): the release.yaml of img and the env.yaml a first render
// into env would write, built with kustomize exactly as Argo CD builds them, so it
// cannot drift from what an environment runs. The host is left empty: the
// operator derives it from its base domain. The namespace is env's name.
func Local(m *manifest.Manifest, img Image, env string) (*plattrv1.Application, error) {
	if err := names.Env(env); err != nil {
		return nil, err
	}
	t := Target{Env: env, Namespace: env, Name: m.Name, Dir: AppDir(env, m.Name)}
	r := Release{Manifest: m, Image: img, Env: env}
	release := releaseApp(r, t)
	checked := release.DeepCopy()
	if checked.Spec.Image == "" {
		checked.Spec.Image = "local" // plattr dev runs no image: the rest of the spec is checked
	}
	if err := checkRelease(r, checked); err != nil {
		return nil, err
	}
	files := Files{}
	var err error
	if files[t.ReleasePath()], err = withHeader(releaseHeader, release); err != nil {
		return nil, err
	}
	if files[path.Join(t.Dir, EnvPatchFile)], err = envPatch(defaultsOf(m, env), t); err != nil {
		return nil, err
	}
	if files[path.Join(t.Dir, kustomizationFile)], err = appKustomization(false); err != nil {
		return nil, err
	}
	out, err := build(MapTree(files), t.Dir)
	if err != nil {
		return nil, err
	}
	docs := splitYAML(out)
	if len(docs) != 1 {
		return nil, fmt.Errorf("%s: builds %d objects, want exactly one Plattr Application", t.Dir, len(docs))
	}
	app, err := ParseRelease(docs[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Dir, err)
	}
	app.Namespace = t.Namespace
	return app, nil
}
