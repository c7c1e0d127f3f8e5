# Integration tests: every package's tests behind the `integration` build
# tag, run one package at a time (-p 1) because they share one private
# Podman storage (.build/podman, see internal/testsupport/podmantest) and two cores.
# CI=true turns "podman missing" from a skip into a failure.
INTEGRATION_TIMEOUT ?= 20m

.PHONY: integration
integration: ## integration tests against a private Podman API service (build tag integration)
	HOSTAGENT_PODMAN_DIR=$(BUILD)/podman $(GO) test -v -count=1 -tags integration -p 1 -timeout $(INTEGRATION_TIMEOUT) ./... 2>&1 | tee $(BUILD)/integration.log
