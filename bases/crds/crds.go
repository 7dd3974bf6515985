// Package crds holds Plattr's CustomResourceDefinitions, as `make generate`
// writes them from the API types, for programs that check objects against them
// (plattr-gen refuses to commit what the API server would refuse). Kustomize
// reads the same files from this folder; nothing here is edited by hand.
package crds

import _ "embed"

// Application is the CRD of plattr.dev Applications.
//
//go:embed plattr.dev_applications.yaml
var Application []byte
