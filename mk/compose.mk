# Docker Compose v5, the reference for `make bench` and the adoption test
# (cmd/hostagent, build tag integration), built from its module at a named
# version into .build/tools. `go install ...@version` refuses it (its
# go.mod has exclude directives), so it is built inside its own module
# from the module cache, where those directives apply. The binary is a
# docker CLI plugin that also runs alone: `docker-compose`, with
# DOCKER_HOST=unix://<podman socket>.
COMPOSE_VERSION := v5.6.0
COMPOSE := $(BUILD)/tools/compose-$(COMPOSE_VERSION)/docker-compose

$(COMPOSE): | $(BUILD)
	dir=$$(GOFLAGS=-mod=mod $(GO) mod download -json github.com/docker/compose/v5@$(COMPOSE_VERSION) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	cd "$$dir" && GOWORK=off GOFLAGS=-mod=mod $(GO) build -trimpath \
	  -ldflags '-s -w -X github.com/docker/compose/v5/internal.Version=$(COMPOSE_VERSION)' -o $@ ./cmd

.PHONY: compose-tool
compose-tool: $(COMPOSE) ## build Docker Compose $(COMPOSE_VERSION) into .build/tools (bench reference, adoption test)

# The adoption test and the bench find it by this variable.
export HOSTAGENT_COMPOSE_BIN := $(COMPOSE)
integration: compose-tool
bench: compose-tool
