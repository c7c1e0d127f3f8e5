# End-to-end: the .deb installed in a Debian 12 container booted with systemd,
# talking to a private host Podman (packaging/e2e, build tag integration).
E2E_DIR := $(BUILD)/e2e
# Fixed versions so the upgrade step is deterministic whatever git says.
E2E_VERSION ?= 0.0.1
E2E_NEXT_VERSION ?= 0.0.2
E2E_TIMEOUT ?= 15m

.PHONY: e2e
e2e: ## end-to-end: .deb in a systemd container, stack, reload, stop, upgrade (root, podman, debootstrap)
	$(MAKE) --no-print-directory e2e-run E2E_MAIN=./cmd/hostagent E2E_TAGS= E2E_PLACEHOLDER=

.PHONY: e2e-infra
e2e-infra: ## the e2e with a placeholder binary: packaging, unit, journal and container plumbing only
	$(MAKE) --no-print-directory e2e-run E2E_MAIN=./packaging/e2e/placeholder E2E_TAGS=integration E2E_PLACEHOLDER=1

.PHONY: e2e-run
e2e-run: $(NFPM) | $(BUILD)
	rm -rf $(E2E_DIR)/dist
	$(MAKE) --no-print-directory e2e-pkg VERSION=$(E2E_VERSION) E2E_SLOT=cur
	$(MAKE) --no-print-directory e2e-pkg VERSION=$(E2E_NEXT_VERSION) E2E_SLOT=next
	HOSTAGENT_E2E_DEB=$$(ls $(E2E_DIR)/dist/cur/*.deb) \
	HOSTAGENT_E2E_RPM=$$(ls $(E2E_DIR)/dist/cur/*.rpm) \
	HOSTAGENT_E2E_DEB_NEXT=$$(ls $(E2E_DIR)/dist/next/*.deb) \
	HOSTAGENT_E2E_PLACEHOLDER=$(E2E_PLACEHOLDER) HOSTAGENT_E2E_DIR=$(E2E_DIR) \
	$(GO) test -tags integration -count=1 -v -timeout $(E2E_TIMEOUT) ./packaging/e2e/ 2>&1 | tee $(BUILD)/e2e.log

# e2e-pkg builds E2E_MAIN at VERSION and packages it into dist/$(E2E_SLOT).
.PHONY: e2e-pkg
e2e-pkg:
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=pie -tags '$(E2E_TAGS)' -ldflags '$(PKG_LDFLAGS)' -o $(E2E_DIR)/bin/$(E2E_SLOT)/hostagent $(E2E_MAIN)
	$(MAKE) --no-print-directory package-only PKG_BIN=$(E2E_DIR)/bin/$(E2E_SLOT)/hostagent PKG_VERSION=$(VERSION) DIST=$(E2E_DIR)/dist/$(E2E_SLOT)

.PHONY: e2e-clean
e2e-clean: ## remove the e2e Podman storage (box, stack, images) and the rootfs cache
	if [ -f $(E2E_DIR)/podman/storage.conf ]; then \
	  CONTAINERS_CONF=$(E2E_DIR)/podman/containers.conf CONTAINERS_STORAGE_CONF=$(E2E_DIR)/podman/storage.conf \
	    podman system reset --force >/dev/null; fi
	rm -rf $(E2E_DIR)
