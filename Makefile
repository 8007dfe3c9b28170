# xauth-agent — see README.md. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

BIN        := $(CURDIR)/bin
VERSION    := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -s -w -X main.version=$(VERSION)
GO         ?= go
FUZZTIME   ?= 10s
STATICCHECK_VERSION := v0.8.2
AEMM_VERSION        := v1.13.0
CONSUL_TEMPLATE_VERSION := v0.41.1
NFPM_VERSION        := v2.44.0
CYCLONEDX_GOMOD_VERSION := v1.10.0
# Prometheus v3.16.0's promtool (the module's v0.316.0), built without service discovery
# (remove_all_sd): rule checks need none of it, and it would add the Kubernetes and cloud SDKs.
PROMTOOL_VERSION    := v0.316.0
RELEASE_DIR        ?= $(BIN)/release
RELEASE_ARCHES     := amd64 arm64
export XAUTH_BIN_DIR := $(BIN)

.PHONY: help build build-e2e tools lint test test-unit test-units test-e2e fuzz fuzz-run stress demo bench clean

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# Static (no cgo): the binary the packages ship, and no libc mapped into
# the daemon's memory.
build: ## build the agent (static, stripped) into bin/xauth-agent
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/xauth-agent ./cmd/xauth-agent

build-e2e: ## build the loopback Vault server (real Vault cores: one, or an HA cluster with -nodes) into bin/
	cd e2e && $(GO) build -o $(BIN)/vault-loopback ./cmd/vault-loopback

tools: $(BIN)/staticcheck $(BIN)/ec2-metadata-mock $(BIN)/consul-template ## install pinned tools into bin/

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(BIN)/ec2-metadata-mock:
	GOBIN=$(BIN) $(GO) install github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@$(AEMM_VERSION)

$(BIN)/consul-template:
	GOBIN=$(BIN) $(GO) install github.com/hashicorp/consul-template@$(CONSUL_TEMPLATE_VERSION)

# -trimpath: each SBOM names the tool's own hashes, which must not depend on this machine's paths.
$(BIN)/cyclonedx-gomod:
	GOBIN=$(BIN) $(GO) install -trimpath github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_GOMOD_VERSION)

$(BIN)/promtool:
	GOBIN=$(BIN) $(GO) install -tags remove_all_sd github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

lint: tools ## gofmt, go vet, staticcheck, go mod tidy check (both modules)
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>&1); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	$(GO) mod tidy -diff
	cd e2e && $(GO) vet ./...
	cd e2e && $(BIN)/staticcheck ./...
	cd e2e && $(GO) mod tidy -e -diff

test: lint test-unit test-units fuzz-run test-e2e test-packages test-release test-rules ## everything CI runs

test-unit: ## agent module tests with the race detector
	$(GO) test -race -count=1 ./...

test-units: ## systemd units: verify clean, exposure score <= 1.5 (no running systemd needed)
	scripts/check-units.sh

.PHONY: package test-packages
$(BIN)/nfpm:
	GOBIN=$(BIN) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

# The packages carry a static binary (CGO_ENABLED=0): a cgo build needs the glibc it was built on.
package: $(BIN)/nfpm ## .deb and .rpm (static binary, units, config) into bin/packages/
	CGO_ENABLED=0 $(MAKE) --no-print-directory build BIN=$(BIN)/packages/stage
	GO=$(GO) packaging/build.sh

test-packages: package ## packages: lintian without errors, contents, conffile, scripts, size <= 10 MB
	scripts/check-packages.sh

.PHONY: release test-release test-rules
# Each architecture's binary is make build's (static, -trimpath, stripped), with GOARCH set.
release: $(BIN)/nfpm $(BIN)/cyclonedx-gomod ## linux/amd64 and arm64: binaries, deb, rpm, tar.gz, SBOMs, SHA256SUMS into bin/release/
	rm -rf $(RELEASE_DIR)
	for arch in $(RELEASE_ARCHES); do \
		GOARCH=$$arch $(MAKE) --no-print-directory build BIN=$(RELEASE_DIR)/stage/linux_$$arch || exit 1; \
	done
	GO=$(GO) XAUTH_VERSION=$(VERSION) packaging/release.sh $(RELEASE_DIR) $(RELEASE_ARCHES)

# A second release, built in another directory with another umask, time zone and locale (Go's
# build cache serves the compiled packages again), must be byte for byte the first.
test-release: release ## release: built twice and identical; each artifact's architecture, contents, packages, SBOM
	rm -rf $(BIN)/release-again
	umask 0027 && TZ=NPT-5:45 LC_ALL=C.UTF-8 $(MAKE) --no-print-directory release RELEASE_DIR=$(BIN)/release-again >/dev/null
	GO=$(GO) XAUTH_VERSION=$(VERSION) scripts/check-release.sh $(RELEASE_DIR) $(BIN)/release-again $(RELEASE_ARCHES)
	rm -rf $(BIN)/release-again

test-rules: $(BIN)/promtool ## Prometheus rules: promtool check rules, promtool test rules
	$(BIN)/promtool check rules deploy/prometheus/xauth-agent.rules.yml
	cd deploy/prometheus && $(BIN)/promtool test rules xauth-agent.rules.test.yml

test-e2e: build build-e2e tools ## end-to-end tests on the real Vault + loopback AWS
	cd e2e && $(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v /cmd/)

fuzz-run: ## every fuzz target for FUZZTIME (10s in make test)
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz-run.sh

stress: build build-e2e tools ## crash safety: 1000 SIGKILLs of a sink writer, then of the daemon mid-rotation
	XAUTH_CRASH_ITERATIONS=1000 $(GO) test -count=1 -timeout 30m -run '^TestFileCrashSafety$$' ./internal/sink/
	cd e2e && XAUTH_CRASH_ITERATIONS=1000 $(GO) test -count=1 -timeout 60m -run TestCrashSafety .

fuzz: ## fuzz longer (FUZZTIME=5m by default here)
	$(MAKE) fuzz-run FUZZTIME=$${FUZZTIME:-5m}

demo: build build-e2e tools ## the seed scenario on loopback: stack up, client1 and client2 log in
	cd e2e && $(GO) run ./cmd/demo

bench: build build-e2e tools ## side-by-side figures against HashiCorp's reference client
	cd e2e && $(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 30m ./bench/

clean: ## remove bin/
	rm -rf $(BIN)
