//go:build tools

// Package tools pins the Argo CD binary the end-to-end test runs. `make argocd-assets` builds it.
package tools

import _ "github.com/argoproj/argo-cd/v3/cmd"
