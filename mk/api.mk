# Package api: load and benchmarks of the control API.
#
# bench-api is open loop: requests leave on a fixed schedule (RATE per
# second) and each latency counts from when its request was due, so a stall
# shows in p99 instead of quietly lowering the rate. wrk (bench-api-wrk) is
# closed loop: each of its connections waits for an answer before sending
# again, so it measures peak throughput and understates tail latency under
# a stall (coordinated omission); it has no fixed-rate mode.
#
# API_ADDR: host:port or a unix socket path of a running agent; "self"
# serves a nine-service fake in-process. Reads need no token on loopback or
# the socket; elsewhere pass TOKEN_FILE.
API_ADDR ?= 127.0.0.1:9740
RATE ?= 500
DURATION ?= 10s
API_PATH ?= /api/system/services
TOKEN_FILE ?=

.PHONY: bench-api
bench-api: ## fixed-RATE open-loop GET load on API_ADDR (default 127.0.0.1:9740, "self" = in-process fake); prints p50/p99
	$(GO) test -count=1 -run '^TestLoad$$' -v ./api -args -load.addr='$(API_ADDR)' -load.rate=$(RATE) \
		-load.duration=$(DURATION) -load.path='$(API_PATH)' $(if $(TOKEN_FILE),-load.token-file='$(TOKEN_FILE)') \
		| grep -E '^(GET|latency|---|FAIL|ok)'

.PHONY: bench-api-wrk
bench-api-wrk: ## wrk, closed loop (2 threads, 32 connections) on http://API_ADDR: peak throughput and its latency
	wrk -t2 -c32 -d$(DURATION) --latency $(if $(TOKEN_FILE),-H "Authorization: Bearer $$(cat '$(TOKEN_FILE)')") 'http://$(API_ADDR)$(API_PATH)'

.PHONY: bench-api-go
bench-api-go: ## go test -bench of GET /api/system/services through the echo stack (in-process and loopback TCP)
	$(GO) test -count=1 -run '^$$' -bench . -benchmem ./api
