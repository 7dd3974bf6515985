package generator

import (
	"errors"
	"io/fs"
	"path"

	"github.com/plattr/plattr/envfiles"
)

// The env repo's files, as package envfiles defines them for the generator and
// gitops alike.
type (
	// Files are changes to the env repo: path → new content, nil deletes.
	Files = envfiles.Files
	// Tree is read-only access to the env repo.
	Tree = envfiles.Tree
	// Overlay is a Tree with Files applied on top.
	Overlay = envfiles.Overlay
	// MapTree is a Tree held in memory.
	MapTree = envfiles.MapTree
)

func exists(t Tree, name string) (bool, error) {
	_, err := t.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func yamlFiles(t Tree, dir string) ([]string, error) {
	entries, err := t.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if path.Ext(e) == ".yaml" && e != kustomizationFile {
			out = append(out, e)
		}
	}
	return out, nil
}
