# Packaging: the .deb and .rpm (nfpm, installed as a Go tool, not in go.mod).
NFPM_VERSION := v2.45.2
NFPM := $(BUILD)/tools/nfpm
DIST ?= $(CURDIR)/dist
# The binary the packages ship; e2e-infra points it at the placeholder.
PKG_BIN ?= $(BUILD)/pkg/hostagent
# Shipped binaries are position-independent and stripped, as Debian wants.
PKG_LDFLAGS = $(LDFLAGS) -s -w
# Package versions must start with a digit: v1.2.3 -> 1.2.3; a bare commit
# hash from `git describe --always` -> 0.0.0~git<hash> (sorts before 0.0.0).
PKG_VERSION ?= $(shell echo '$(VERSION)' | sed -E 's/^v([0-9])/\1/; /^[0-9]/!s/^/0.0.0~git/')

$(NFPM): | $(BUILD)
	GOBIN=$(BUILD)/tools GOFLAGS=-buildvcs=false $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

.PHONY: package
package: $(NFPM) ## build dist/hostagent_<version>_amd64.deb and .rpm (VERSION=... to set it)
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=pie -ldflags '$(PKG_LDFLAGS)' -o $(BUILD)/pkg/hostagent ./cmd/hostagent
	$(MAKE) --no-print-directory package-only PKG_BIN=$(BUILD)/pkg/hostagent

# The manual page and completions, made by the CLI from its own help (the
# real CLI even when PKG_BIN is the e2e placeholder).
PKG_DOC := $(BUILD)/pkg-doc

.PHONY: package-doc
package-doc:
	mkdir -p $(PKG_DOC)
	$(GO) build -o $(PKG_DOC)/hostagent-docgen ./cmd/hostagent
	$(PKG_DOC)/hostagent-docgen man | gzip -9n > $(PKG_DOC)/hostagent.8.gz
	gzip -9nc packaging/changelog > $(PKG_DOC)/changelog.gz
	for sh in bash zsh fish; do $(PKG_DOC)/hostagent-docgen completion $$sh > $(PKG_DOC)/hostagent.$$sh; done

# package-only wraps PKG_BIN as it is, without building it.
.PHONY: package-only
package-only: $(NFPM) package-doc
	mkdir -p $(DIST)
	PKG_BIN=$(PKG_BIN) PKG_DOC=$(PKG_DOC) VERSION=$(PKG_VERSION) $(NFPM) package --config packaging/nfpm.yaml --packager deb --target $(DIST)/
	PKG_BIN=$(PKG_BIN) PKG_DOC=$(PKG_DOC) VERSION=$(PKG_VERSION) $(NFPM) package --config packaging/nfpm.yaml --packager rpm --target $(DIST)/

.PHONY: package-verify
package-verify: ## systemd-analyze verify the unit (in a scratch root, no install needed)
	@r=$$(mktemp -d); trap 'rm -rf "$$r"' EXIT; \
	mkdir -p "$$r/usr/bin" "$$r/bin" "$$r/lib/systemd"; \
	cp -a /lib/systemd/system "$$r/lib/systemd/"; \
	cp /bin/true "$$r/usr/bin/hostagent"; cp /bin/kill "$$r/bin/kill"; \
	cp packaging/systemd/hostagent.service "$$r/lib/systemd/system/"; \
	out=$$(systemd-analyze verify --root="$$r" hostagent.service 2>&1) || true; \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
	echo "systemd-analyze verify: hostagent.service clean"
