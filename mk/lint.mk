# golangci-lint v2 at a named version, built from its module into
# .build/tools (like Docker Compose in compose.mk), so every machine lints
# with the same linters. The linters and their settings: .golangci.yml.
GOLANGCI_VERSION := v2.15.0
GOLANGCI := $(BUILD)/tools/golangci-lint-$(GOLANGCI_VERSION)/golangci-lint

$(GOLANGCI): | $(BUILD)
	dir=$$(GOFLAGS=-mod=mod $(GO) mod download -json github.com/golangci/golangci-lint/v2@$(GOLANGCI_VERSION) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	cd "$$dir" && GOWORK=off GOFLAGS=-mod=mod $(GO) build -trimpath -o $@ ./cmd/golangci-lint

.PHONY: golangci
golangci: $(GOLANGCI) ## golangci-lint $(GOLANGCI_VERSION): staticcheck, unused, errorlint, gocognit, revive, funlen (60 lines)
	$(GOLANGCI) run ./...

.PHONY: funclen
funclen: ## no runtime function over 60 lines (func line to closing brace)
	$(GO) run ./tools/funclen -max 60 $$(git ls-files '*.go')
