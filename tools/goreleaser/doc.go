// Package goreleaser pins the goreleaser version Plattr's releases are built with
// (a module of its own: goreleaser's dependencies never reach Plattr's build).
// `make release-snapshot` builds it into bin/tools.
package goreleaser
