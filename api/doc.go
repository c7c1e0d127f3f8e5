// Package api serves the agent's REST and WebSocket control API (echo v4)
// on a TCP address and, optionally, a unix socket, plus Prometheus metrics.
//
// Endpoints (errors are {"error": "..."}):
//
//	GET  /api/system/health                   overall healthy|degraded|unhealthy + counts (always 200);
//	                                          "reason" while the engine cannot start containers
//	GET  /api/system/health/ready             200 {"ready": true, "status": "ready"} / 503 not_ready
//	GET  /api/system/health/full              services, counts, bring-up progress, GPU
//	GET  /api/system/health/events?limit=50   recent events, oldest first (1..500)
//	GET  /api/system/services                 every service (its data object) + progress
//	GET  /api/system/services/{name}          one service in detail (last probes, policy, GPU lane); 404 {"error", "service"} when unknown
//	POST /api/system/services/{name}/restart?reset_failures=true   202
//	POST /api/system/services/{name}/enable   200
//	POST /api/system/services/{name}/disable  200
//	POST /api/system/services/{name}/stop     200: stopped by the user, not restarted until start
//	POST /api/system/services/{name}/start    200: the user's stop (or a disable) undone, started
//	POST /api/system/reload?timeout=5m        load the file, converge, wait: 200 what changed and
//	                                          each changed service's end state; 422 file does not load
//	POST /api/system/down                     stop supervising the stack (the CLI then removes it)
//	GET  /api/system/plan                     the startup plan (compose.Plan.JSON)
//	GET  /api/system/gpu                      NVML snapshot, or {"available": false, "reason"}
//	GET  /api/system/ws                       WebSocket event stream
//	GET  /metrics                             Prometheus text format
//	GET  /, /ui/{app.js,style.css}            the status page (package api/ui, embedded)
//
// Unknown query parameters, a limit that is not an integer in range and a
// reset_failures that is not a boolean are 400. Request bodies are limited
// to 4 KiB, request URIs to 1 KiB and headers to 8 KiB.
//
// # Security
//
// Every POST needs "Authorization: Bearer <token>", compared in constant
// time against the token file (ORCHESTRATOR_TOKEN_FILE, created 0600 by the
// package). Missing or wrong token: 401. No usable token (file missing,
// unreadable or empty): mutating calls are refused with 503 — the API never
// falls open. The file is re-read when it changes, so a rotated token takes
// effect without a restart.
//
// Reads (GET, including /metrics and the WebSocket) are open on the unix
// socket and on a TCP listener bound to a loopback address. When the TCP
// listener is bound to any other address (0.0.0.0, a LAN address) reads
// arriving on it need the token as well. On a loopback listener the Host
// header must name localhost or a loopback address, so a web page cannot
// read the API through DNS rebinding; the WebSocket also refuses
// cross-origin browser connections, and a POST carrying another origin's
// Origin header is refused (403) before the token is even looked at. No
// route answers CORS. The status page is served under the same read rules,
// with a Content-Security-Policy that lets it load only its own files and
// connect only to its own origin; it sends the token only as a header.
//
// # WebSocket protocol
//
// On connect the server sends one snapshot message:
//
//	{"type": "snapshot", "data": {"services": [...], "progress": {...}},
//	 "message": "Current status", "timestamp": "...", "seq": N}
//
// where N is the sequence number of the newest event the snapshot already
// reflects (0 when none). After it, every supervisor event is sent as a
// service_status message, {"type": "service_status", "data": {...}, "message":
// "Service recovered", "timestamp", "seq"}. An event with seq <= N may repeat
// state the snapshot already shows; applying events in order is always
// correct. The snapshot is a type of its own rather than a burst of
// "Service discovered" messages, because that message means a container was
// found at start-up and clients that log messages would log a false one.
//
// Each client has a bounded queue. A client that falls behind is closed with
// status 1013 (try again later) and should reconnect for a fresh snapshot;
// supervision is never slowed by a client. The server pings every 20 s and
// closes a client that does not answer; on shutdown clients are closed with
// 1001 (going away). Clients send nothing; a data message closes the
// connection with 1008.
package api
