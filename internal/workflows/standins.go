// Package workflows runs Plattr's GitHub workflows the way GitHub runs them,
// with act (github.com/nektos/act, built into bin/tools by make) in its host
// mode: act evaluates the expressions, needs, if:, outputs, env and secrets;
// the steps run on this machine against an env repo served over HTTP on
// 127.0.0.1, the fake GitHub API and a release of the working tree's
// plattr-gen. Third-party actions, which would reach the internet, are mapped
// to the stand-ins below.
package workflows

// standIns are the third-party actions' stand-ins, by action, as composite
// actions: each does on this machine what its action does for the workflow —
// and refuses what it would refuse — and logs what it was given to
// $PLATTR_STANDIN_LOG for the test to read.
var standIns = map[string]string{
	// act itself stands in for a checkout of the event's repository (its
	// workspace is a copy of the app's repository): this one serves any other.
	"actions/checkout": `name: checkout stand-in
inputs:
  persist-credentials: {default: "true"}
runs:
  using: composite
  steps:
    - shell: bash
      run: |
        set -euo pipefail
        head=$(git -C "$GITHUB_WORKSPACE" rev-parse HEAD)
        echo "checkout $GITHUB_REPOSITORY@$head persist-credentials=${{ inputs.persist-credentials }}" >> "$PLATTR_STANDIN_LOG"
`,
	"actions/setup-go": `name: setup-go stand-in
inputs:
  go-version-file: {default: ""}
runs:
  using: composite
  steps:
    - shell: bash
      run: |
        test -f "${{ inputs.go-version-file }}" || { echo "::error::The specified go version file at: ${{ inputs.go-version-file }} does not exist"; exit 1; }
        echo "setup-go ${{ inputs.go-version-file }}" >> "$PLATTR_STANDIN_LOG"
`,
	"docker/setup-buildx-action": `name: setup-buildx stand-in
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "setup-buildx" >> "$PLATTR_STANDIN_LOG"
`,
	"docker/login-action": `name: login stand-in
inputs:
  registry: {default: ""}
  username: {default: ""}
  password: {default: ""}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        REGISTRY: ${{ inputs.registry }}
        USERNAME: ${{ inputs.username }}
        PASSWORD: ${{ inputs.password }}
      run: |
        [ -n "$USERNAME" ] && [ -n "$PASSWORD" ] || { echo "::error::Username and password required"; exit 1; }
        echo "login $REGISTRY as $USERNAME" >> "$PLATTR_STANDIN_LOG"
`,
	"aws-actions/configure-aws-credentials": `name: configure-aws-credentials stand-in
inputs:
  role-to-assume: {default: ""}
  aws-region: {default: ""}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        ROLE: ${{ inputs.role-to-assume }}
        REGION: ${{ inputs.aws-region }}
      run: |
        [ -n "$ROLE" ] || { echo "::error::Credentials could not be loaded: no role-to-assume"; exit 1; }
        [ -n "$REGION" ] || { echo "::error::Region is not valid"; exit 1; }
        echo "aws assume $ROLE in $REGION" >> "$PLATTR_STANDIN_LOG"
`,
	"aws-actions/amazon-ecr-login": `name: amazon-ecr-login stand-in
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "ecr-login" >> "$PLATTR_STANDIN_LOG"
`,
	// The image is a tarball of the build context; its digest is the
	// tarball's. Tags are checked as Docker checks references: lower case.
	"docker/build-push-action": `name: build-push stand-in
inputs:
  context: {default: .}
  file: {default: Dockerfile}
  push: {default: "false"}
  tags: {default: ""}
outputs:
  digest:
    value: ${{ steps.build.outputs.digest }}
runs:
  using: composite
  steps:
    - id: build
      shell: bash
      env:
        CONTEXT: ${{ inputs.context }}
        FILE: ${{ inputs.file }}
        TAGS: ${{ inputs.tags }}
        PUSH: ${{ inputs.push }}
      run: |
        set -euo pipefail
        ref='^[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9]+([._-][a-z0-9]+)*)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
        for tag in ${TAGS//,/ }; do
          [[ "$tag" =~ $ref ]] || { echo "::error::invalid tag \"$tag\": invalid reference format"; exit 1; }
        done
        [ -f "$FILE" ] || { echo "::error::failed to read dockerfile: open $FILE: no such file or directory"; exit 1; }
        image="$RUNNER_TEMP/image.tar"
        tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --exclude=.git -cf "$image" -C "$CONTEXT" .
        digest="sha256:$(sha256sum "$image" | cut -d' ' -f1)"
        echo "digest=$digest" >> "$GITHUB_OUTPUT"
        echo "build-push push=$PUSH tags=$TAGS digest=$digest" >> "$PLATTR_STANDIN_LOG"
`,
	// No cosign: the test's release has no signature, which setup-plattr-gen
	// then says (a release with one and no cosign is refused).
	"sigstore/cosign-installer": `name: cosign-installer stand-in
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "cosign-installer" >> "$PLATTR_STANDIN_LOG"
`,
}
