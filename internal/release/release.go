// Package release builds what a Plattr release publishes beside its binaries:
// install.yaml, the one file `kubectl apply` installs the operator from (the
// CRDs, the operator's namespace, RBAC, settings and Deployment, the image by
// digest, every object labelled with the version). The release workflow and
// `make release-snapshot` run it; it reads the repository's bases/ and writes
// nothing itself.
package release

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/plattr/plattr/internal/version"
)

// OperatorImage is the operator's image name in bases/operator, which a release
// replaces with the image it pushed, by digest.
const OperatorImage = "ghcr.io/plattr/plattr-operator"

// LabelVersion is the label every published object carries: the release it
// belongs to.
const LabelVersion = "app.kubernetes.io/version"

// CheckVersion refuses a version that is not a semantic version with a leading
// "v" (v1.2.3, v1.2.3-rc.1): the tag a release is made from.
func CheckVersion(v string) error {
	if !version.IsRelease(v) {
		return fmt.Errorf("version %q is not a release version such as v1.2.3 or v1.2.3-rc.1", v)
	}
	return nil
}

// InstallYAML builds install.yaml from the repository at root for version, with
// the operator's image image, which must be pinned by digest
// (registry/repository@sha256:…).
func InstallYAML(root, version, image string) ([]byte, error) {
	if err := CheckVersion(version); err != nil {
		return nil, err
	}
	ref, err := name.NewDigest(image, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("operator image %q is not pinned by digest (registry/repository@sha256:…): %w", image, err)
	}
	mem := filesys.MakeFsInMemory()
	for _, dir := range []string{"bases/crds", "bases/operator", "bases/install"} {
		if err := copyYAML(mem, root, dir); err != nil {
			return nil, err
		}
	}
	overlay := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../bases/install
images:
- name: %s
  newName: %s
  digest: %s
labels:
- pairs:
    %s: %s
`, OperatorImage, ref.Context().Name(), ref.DigestStr(), LabelVersion, version)
	if err := mem.WriteFile("/release/kustomization.yaml", []byte(overlay)); err != nil {
		return nil, err
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, "/release")
	if err != nil {
		return nil, fmt.Errorf("kustomize build bases/install: %w", err)
	}
	out, err := res.AsYaml()
	if err != nil {
		return nil, err
	}
	header := fmt.Sprintf("# Plattr %s: the operator and its CRDs.\n# kubectl apply --server-side -f install.yaml (docs/operating.md: Installing the platform)\n", version)
	return append([]byte(header), out...), nil
}

// copyYAML copies the YAML files of root/dir into mem at /dir.
func copyYAML(mem filesys.FileSystem, root, dir string) error {
	return filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s is missing: run from the repository's root", dir)
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+filepath.ToSlash(rel), data)
	})
}
