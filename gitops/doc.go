// Package gitops owns the environment repo: it clones it shallowly into memory,
// reads it as a generator.Tree, commits changes by writing only the blobs and
// trees they touch (go-git plumbing, never a checkout), and pushes with retry
// when another CI job pushed first.
//
// It is the only package that touches a git repository. It must not render
// files (that is package generator) and it never force-pushes.
package gitops
