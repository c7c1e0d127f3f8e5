# hostagent — run `make help` for the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BUILD := $(CURDIR)/.build
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# go-nvml's header marks many NVML calls deprecated; the agent uses none of
# them, and the warnings would bury real build output.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
# Modest parallelism: container tests share two cores with the machine.
GOTEST_P ?= 2

.DEFAULT_GOAL := help

.PHONY: help
help: ## show the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install the system packages the tests and the demo need (Debian 12, as root)
	./scripts/install-deps.sh

.PHONY: deps-runtime
deps-runtime: ## install only what Podman and the demo need at run time (Debian 12, as root)
	./scripts/install-deps.sh runtime

.PHONY: build
build: ## build bin/hostagent
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/hostagent ./cmd/hostagent

.PHONY: lint
lint: golangci funclen ## gofmt, go vet, golangci-lint (mk/lint.mk) and the 60-line check
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

.PHONY: unit
unit: ## unit tests (no containers)
	$(GO) test -v -count=1 -p $(GOTEST_P) ./... 2>&1 | tee $(BUILD)/unit.log

.PHONY: fuzz-short
fuzz-short: ## run every fuzz target briefly
	./scripts/fuzz.sh $${FUZZTIME:-10s}

.PHONY: demo
demo: deps-runtime build ## the main job on an embedded demo stack: phased bring-up on local Podman, a kill, the self-heal
	$(GO) run ./tools/demo -bin $(BIN)/hostagent

.PHONY: bench
bench: deps build ## benchmarks against the ideal on a private Podman; writes docs/benchmarks.md (about 10 minutes)
	$(GO) run ./tools/bench -bin $(BIN)/hostagent -out docs/benchmarks.md

.PHONY: test
test: deps lint unit integration e2e chaos-short fuzz-short ## everything CI runs: lint, unit, integration, the systemd e2e, a short chaos run, short fuzz

$(BUILD):
	mkdir -p $@

unit integration: | $(BUILD)

-include mk/*.mk
