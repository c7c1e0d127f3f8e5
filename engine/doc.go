// Package engine is the agent's adapter to the container engine: Podman's
// Docker-compatible API (or Docker's own), spoken with the Docker Go
// client with API version negotiation.
//
// It discovers a stack's existing containers (compose labels, then the
// names compose and podman-compose give, then a name that is the
// service's or ends in it after a separator — never a bare substring, so
// `db` cannot adopt `mongodb-backup`), creates missing ones the way docker
// compose would (so `podman ps` and compose tooling recognise them),
// starts, stops, inspects and execs into them, and streams their events
// normalised to a small Event type. Every call has a timeout; reaching
// the engine is retried with backoff, logging "Failed to connect to
// Docker daemon" while it cannot.
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
// # Images
//
// EnsureImage runs before every create (the supervisor calls it first, so
// that a pull or build holds no start slot): pull_policy as compose reads
// it (missing by default; always; never; build; daily, weekly and
// every_<d> refresh). `build:` services are built through the engine's
// build API, as compose's classic builder does: the context directory as
// a tar honouring .dockerignore, dockerfile, target, args, labels, tagged
// `image:` or `<project>-<service>`. An image podman-compose built
// (`<project>_<service>`) is tagged with compose's name rather than
// rebuilt. Progress goes to the log and to the caller, throttled. An
// image that cannot be pulled or built is ErrImageUnavailable naming it
// and the registry's answer: a host condition (conditions.go), never
// counted against the service. A pull that fails where a local image
// exists (always, refresh) keeps the local one with a warning, so a host
// that lost its registry keeps running.
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
// systemd timers), and missing bind-mount sources are created as compose
// does, because Podman refuses them.
//
// # GPUs
//
// GPU asks are read once, in compose (compose.Service.GPURequests: deploy
// device reservations with capability gpu or driver nvidia/cdi, `gpus:`;
// compose.Service.CDIDevices: CDI names in `devices:`), so the GPU gate
// serialises exactly what is attached; count N gets GPUs 0..N-1,
// device_ids as given, neither means all. Docker Engine gets them as
// device requests (driver nvidia as written, driver cdi with full CDI
// names, CDI names from `devices:` as a driver "cdi" request). Podman 4's compat API
// cannot attach a CDI device: HostConfig.Devices turns the name into
// "nvidia.com/gpu=0::rwm" (unresolvable) and a "cdi" DeviceRequest is
// accepted and ignored. So on Podman a container with CDI devices is
// created through the native endpoint, POST /v4.0.0/libpod/containers/
// create, over the same socket, from the same spec the compat create uses
// (libpod_spec.go translates it; what libpod has no field for is an error,
// never dropped). Only those containers take that path: the compat
// create is proven on both engines and joins Podman's and Docker's code,
// while the libpod dialect is Podman's alone and changes across majors.
// Once made, a libpod container is like any other (labels, aliases,
// ports, events, inspect go through the compat API).
//
// A GPU the host cannot give is ErrGPUUnavailable, a host condition that
// names the service and the fix (nvidia-ctk cdi generate): with a local
// engine the CDI specs in /etc/cdi and /var/run/cdi (Podman 4's fixed
// directories) are read before anything is created; otherwise the
// engine's refusal is mapped to it: Podman resolves CDI devices at start
// ("unresolvable CDI devices"), Docker at create ("could not select
// device driver"). A container made through the compat API with a CDI
// name as a device path (nvidia.com/gpu=0::rwm, by an agent before this
// path) can never start; its error says to remove it so it is made anew.
package engine
