#!/usr/bin/env bash
# make demo: Plattr's main job on one machine, with no cluster and no network.
# A throwaway bare env repo stands in for GitHub; plattr-gen does what CI does.
set -euo pipefail
BIN=${BIN:-bin}
WORK=${WORK:-_build/demo}
GEN="$BIN/plattr-gen"
IMAGE=ghcr.io/acme/hello@sha256:4f1c3b9a0e7d2c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29181706f5e4d3c2b1a090
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

rm -rf "$WORK" && mkdir -p "$WORK"
git init -q --bare -b main "$WORK/env.git"
echo "env repo: $WORK/env.git (a bare git repo standing in for github.com/acme/env)"

step "$GEN" env init --repo "$WORK/env.git" --envs staging,uat,prod --domain apps.example.com \
  --repo-url https://github.com/acme/env.git
export GITHUB_REPOSITORY=acme/hello GITHUB_SHA=3f9c1a2b4d5e6f708192a3b4c5d6e7f809102132 \
  GITHUB_SERVER_URL=https://github.com GITHUB_RUN_ID=1001
step "$GEN" render --app-dir examples/hello --env staging --image "$IMAGE" --repo "$WORK/env.git"
step "$GEN" render --app-dir examples/hello --pr 1 --image "$IMAGE" --repo "$WORK/env.git"
echo; echo "rendering the same release again changes nothing:"
step "$GEN" render --app-dir examples/hello --env staging --image "$IMAGE" --repo "$WORK/env.git"

printf '\n\033[1mThe env repo now holds:\033[0m\n'
git -C "$WORK/env.git" ls-tree -r --name-only main | sed 's/^/  /'
printf '\n\033[1menvs/staging/hello/release.yaml:\033[0m\n'
git -C "$WORK/env.git" show main:envs/staging/hello/release.yaml | sed 's/^/  /'
printf '\n\033[1mgit log:\033[0m\n'
git -C "$WORK/env.git" log --format='  %h %s' main
echo
echo "Argo CD would now sync envs/staging/apps (root app bootstrap/staging.yaml) and the operator would run hello."
