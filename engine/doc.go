// Package engine is the agent's adapter to the container engine: Podman's
// Docker-compatible API (or Docker's own), spoken with the Docker Go
// client with API version negotiation.
//
// It discovers a stack's existing containers (compose labels, then the
// names compose and podman-compose give, then the seed's rule "the name
// contains the service name"), creates missing ones the way docker
// compose would (so `podman ps` and compose tooling recognise them),
// starts, stops, inspects and execs into them, and streams their events
// normalised to a small Event type. Every call has a timeout; reaching
// the engine is retried with backoff, logging the seed's "Failed to
// connect to Docker daemon" while it cannot.
//
// # Who restarts containers
//
// The agent does, never the engine, so the two cannot race:
//
//   - Containers the agent creates get restart policy "no", whatever the
//     compose file's `restart:` says; the agent's supervisor applies the
//     policy with its own backoff.
//   - Client.Restart is stop + start, not the engine's restart call, so the
//     agent's own restarts never produce an EventRestart.
//   - An adopted container may carry a compose restart policy. Podman
//     4.3's compat API has no container update endpoint (404), so the
//     policy cannot be switched off in place. Instead Container.
//     EngineRestarts reports it, and Podman announces each policy restart
//     with a "restart" event right after "die" (EventRestart). The
//     supervisor should not restart such a container itself after a die,
//     but count the engine's restart when the EventRestart arrives — or
//     recreate the container (Remove + Create) to bring it under the
//     agent's policy. Docker sends no restart event for policy restarts;
//     there a "start" without a preceding agent call is the sign.
//
// # Podman specifics handled here
//
// Podman is recognised from its /_ping headers (Libpod-Api-Version,
// "Server: Libpod/..."), never by waiting for GET /version, which takes
// Podman 4.3 about a second; that call is made, in the background, only
// for an engine whose headers do not say who it is.
//
// Events: Podman says "remove" for Docker's "destroy", may say "died",
// sends a bare "health_status" on every probe (its status field does not
// survive the Docker client) and puts a meaningless containerExitCode on
// every event. Its events endpoint sends nothing until the first event,
// so subscriptions always use `since`. Containers are created with the
// image health check disabled (Podman runs health checks only from
// systemd timers), GPUs are requested as CDI devices (nvidia.com/gpu=...),
// and missing bind-mount sources are created as compose does, because
// Podman refuses them.
package engine
