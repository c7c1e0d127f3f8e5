# Chaos: the real agent (Redis store) on a private Podman and a real
# redis-server, random faults on a seeded schedule for DURATION, then a
# verdict on counts, containers and stored state (tools/chaos; root,
# podman, redis-server). SEED= replays a schedule; FAULTS= limits the kinds
# (kill,unhealthy,api-restart,redis-restart,agent-kill,engine-outage,
# redis-agent-kill).
#
# api.mk defaults DURATION to 10s for its benchmarks; the chaos default
# (10m) applies unless DURATION comes from the command line or environment.
DURATION ?= 10m
SEED ?=
FAULTS ?=
CHAOS_DURATION := $(if $(filter command line environment,$(origin DURATION)),$(DURATION),10m)
CHAOS_OUT := $(BUILD)/chaos

.PHONY: chaos
chaos: build ## random faults on a live stack for DURATION (default 10m), then verify; SEED= replays, summary in .build/chaos/summary.txt
	$(GO) run ./tools/chaos -bin $(BIN)/hostagent -duration $(CHAOS_DURATION) -out $(CHAOS_OUT) \
		$(if $(SEED),-seed $(SEED)) $(if $(FAULTS),-faults $(FAULTS))

.PHONY: chaos-short
chaos-short: ## chaos for 60s (CI)
	$(MAKE) --no-print-directory chaos DURATION=60s
