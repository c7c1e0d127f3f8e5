package supervisor

import (
	"context"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
)

// Container is what the supervisor needs to know of a container.
type Container struct {
	ID         string
	Name       string
	Service    string
	Running    bool
	ExitCode   int
	OOMKilled  bool
	StartedAt  time.Time
	FinishedAt time.Time
	ConfigHash string
	// PID is the main process on the host, 0 when unknown.
	PID int
	// Outdated says, from discovery, why the container no longer matches
	// the file ("configuration changed", "image changed"); "" when current.
	Outdated string
}

// EventKind is a normalised engine event.
type EventKind int

const (
	EventStart EventKind = iota
	EventDie
	EventOOM
	EventStop
	EventDestroy
	// EventResync: the event stream was lost and re-established; state may
	// have changed unseen, so every runner re-inspects its container.
	EventResync
)

func (k EventKind) String() string {
	return [...]string{"start", "die", "oom", "stop", "destroy", "resync"}[k]
}

// EngineEvent is one container event of the project.
type EngineEvent struct {
	Kind        EventKind
	ContainerID string
	Service     string
	ExitCode    int
	Time        time.Time
	// ProcessExited: the agent saw the main process exit itself (a pidfd)
	// before the engine said so; the engine may still think it runs.
	ProcessExited bool
}

// Engine is the container engine as the supervisor uses it. The agent owns
// restarts: containers are created with restart policy "no", so the engine
// never restarts behind the agent's back.
type Engine interface {
	// Discover returns the stack's existing containers by service name.
	Discover(ctx context.Context, st *compose.Stack) (map[string]Container, error)
	// Create creates (does not start) the service's container, with the
	// project network, volumes and compose labels.
	Create(ctx context.Context, st *compose.Stack, svc *compose.Service) (Container, error)
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Remove(ctx context.Context, id string) error
	// Recreate replaces the (stopped) container id of svc with a new one
	// from the current definition, created not started, keeping its named
	// and anonymous volumes.
	Recreate(ctx context.Context, st *compose.Stack, svc *compose.Service, id string, stopTimeout time.Duration) (Container, error)
	Inspect(ctx context.Context, id string) (Container, error)
	// Events streams the project's container events until ctx ends,
	// re-subscribing on loss (signalled by EventResync).
	Events(ctx context.Context, project string) <-chan EngineEvent
	// ConfigHash is the hash Create stamps on a container of svc, so a
	// changed service can be recognised.
	ConfigHash(st *compose.Stack, svc *compose.Service) string
	// EnsureImage makes sure svc's image exists before a create (pulled
	// or built per its pull_policy), reporting progress lines as it goes.
	EnsureImage(ctx context.Context, st *compose.Stack, svc *compose.Service, progress func(string)) error
	// Condition reports whether err is a host condition (image
	// unavailable, GPU runtime missing, engine broken or unreachable)
	// rather than the service's failure, and the words that name it.
	Condition(err error) (string, bool)
}

// Preparer is an Engine that can create the project's networks and
// volumes on its own, so bring-up does it while discovering rather than in
// the first Create (optional: Create ensures them anyway).
type Preparer interface {
	Prepare(ctx context.Context, st *compose.Stack) error
}

// ImageChecker is an Engine that can tell whether a service's container
// can be created now with the image its start would use (present, and no
// pull or build due). Only then is it created ahead of its start;
// without an ImageChecker nothing is.
type ImageChecker interface {
	ImageReady(ctx context.Context, st *compose.Stack, svc *compose.Service) (bool, error)
}

// ProbeResult is one health check. Err set means the check could not be
// made at all (engine unreachable, exec refused): it does not flip health.
type ProbeResult struct {
	Healthy bool
	Err     error
	Output  string
	Latency time.Duration
}

// Prober checks one service's health against its current container.
type Prober interface {
	Probe(ctx context.Context, containerID string) ProbeResult
}

// ProberFactory makes the prober for a service from its health spec.
type ProberFactory func(svc *compose.Service) Prober

// ExitWatcher signals the exit of a container's main process as it
// happens (a pidfd); an error means no fast path for that container.
type ExitWatcher interface {
	Watch(ctx context.Context, pid int, container string) (<-chan struct{}, error)
}

// GPUGate serialises GPU starts, stops and restarts by free VRAM. A place
// is reserved synchronously, in the runner, so services reserve in the
// order the supervisor decides rather than the order goroutines run.
type GPUGate interface {
	Reserve(r gpu.Request) *gpu.Ticket
	Waiting() []gpu.Wait
}
