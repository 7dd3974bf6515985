// Package gitops owns the environment repo: it clones it shallowly into memory,
// reads it as a envfiles.Tree, commits changes by writing only the blobs and
// trees they touch (go-git plumbing, never a checkout), and pushes with retry
// when another CI job pushed first.
//
// Its inputs are untrusted (a location read from a CI variable, the env repo's
// own tree, the token in the environment), so it also owns their rules: where
// credentials and content may go (the repo's host, over https, and no redirect
// elsewhere; CheckLocation, ErrRedirect), what a token may hold (TokenSource),
// which tree entries are refused (ErrUnsafeEntry), and how long a silent server
// is waited for (WithTimeouts).
//
// It is the only package that touches a git repository. It must not render
// files (that is package generator) and it never force-pushes.
package gitops
