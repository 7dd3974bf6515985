#!/usr/bin/env bash
# Rewrites the k8s.io staging replaces of go.mod from k8s.io/kubernetes' own go.mod,
# which requires its 29 staging modules at v0.0.0. Run after changing K8S_VERSION.
set -euo pipefail
cd "$(dirname "$0")"
K8S_VERSION=${K8S_VERSION:-v1.34.12}
STAGING_VERSION=v0${K8S_VERSION#v1}
mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
go mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
for m in $(grep -E '^\s+k8s.io/[a-z0-9-]+ v0\.0\.0$' "$mod" | awk '{print $1}' | sort -u); do
  go mod edit -replace="$m=$m@$STAGING_VERSION"
done
