// Package generator renders releases into the files of an environment repo.
//
// It is pure: from plattr.yaml, an image reference, an environment (or pull
// request) and the env repo's configuration, it returns files (path → bytes)
// following the env repo contract of docs/env-repo.md. It reads the current repo only
// through the read-only Tree it is given, and it never writes, never touches git
// or the network and never reads the clock, so the same inputs always give
// byte-identical output. Validate builds every overlay a change touches with
// kustomize in process; only package gitops commits what it returns.
package generator
