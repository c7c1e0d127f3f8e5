package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/hostagent/hostagent/internal/clock"
)

// DefaultHost is Podman's rootful API socket.
const DefaultHost = "unix:///run/podman/podman.sock"

// Options configure a Client. Zero values take the documented defaults.
type Options struct {
	// Host is the engine address: unix:///path or tcp://host:port
	// (ORCHESTRATOR_DOCKER_HOST). Default DefaultHost.
	Host string
	// CallTimeout bounds every API call (default 10 s). Calls that wait
	// by design (stop) get their own wait added on top.
	CallTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the reconnect backoff, which
	// doubles per failed attempt (default 1 s and 30 s).
	ReconnectMin, ReconnectMax time.Duration
	// EventPing is how often the event loop pings the engine to notice a
	// stream that hangs without closing (default 15 s; negative: never).
	EventPing time.Duration
	// Clock times backoff and the event watchdog, and stamps event
	// subscriptions' `since`: against a real engine it must be the wall
	// clock (the default).
	Clock  clock.Clock
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = time.Second
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = max(30*time.Second, o.ReconnectMin)
	}
	if o.EventPing == 0 {
		o.EventPing = 15 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.New()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// api is the part of the Docker client the adapter uses; tests swap in a
// hand-written fake.
type api interface {
	// PingEngine is GET /_ping with the headers, which name the engine.
	PingEngine(ctx context.Context) (types.Ping, http.Header, error)
	ServerVersion(ctx context.Context) (types.Version, error)
	NegotiateAPIVersionPing(types.Ping)
	ClientVersion() string
	Close() error

	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ContainerCreate(ctx context.Context, config *container.Config, host *container.HostConfig, net *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, id string, options container.StartOptions) error
	ContainerStop(ctx context.Context, id string, options container.StopOptions) error
	ContainerKill(ctx context.Context, id, signal string) error
	ContainerRemove(ctx context.Context, id string, options container.RemoveOptions) error
	ContainerLogs(ctx context.Context, id string, options container.LogsOptions) (io.ReadCloser, error)
	ContainerExecCreate(ctx context.Context, id string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, config container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)

	NetworkInspect(ctx context.Context, id string, options network.InspectOptions) (network.Inspect, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error
	VolumeInspect(ctx context.Context, id string) (volume.Volume, error)
	VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkRemove(ctx context.Context, id string) error
	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	VolumeRemove(ctx context.Context, id string, force bool) error

	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)

	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	ImageTag(ctx context.Context, source, target string) error
}

// Client is the engine adapter: one per agent, safe for concurrent use.
type Client struct {
	api   api
	opts  Options
	log   *slog.Logger
	clock clock.Clock
	// local: the engine runs on this host (unix socket), so host paths for
	// bind mounts can be prepared here.
	local bool

	// conn is the last known reachability: connUnknown, connUp, connDown.
	conn    atomic.Int32
	podman  atomic.Bool
	adopted adoptions
	// nets: networks seen to exist, not inspected again per create.
	nets knownNetworks
	// libpod creates containers with CDI devices on Podman (libpod.go).
	libpod libpodCreator

	mu      sync.Mutex
	version string // engine name and version, for logs and status
}

const (
	connUnknown int32 = iota
	connUp
	connDown
)

// New returns a client for opts.Host. It does not contact the engine;
// call Connect (or any method) for that.
func New(opts Options) (*Client, error) {
	opts.setDefaults()
	cli, err := client.NewClientWithOpts(client.WithHost(opts.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("engine client for %s: %w", opts.Host, err)
	}
	a, err := newDockerAPI(cli, opts.Host)
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("engine client for %s: %w", opts.Host, err)
	}
	return newClient(a, opts), nil
}

func newClient(a api, opts Options) *Client {
	opts.setDefaults()
	c := &Client{
		api:   a,
		opts:  opts,
		log:   opts.Logger.With("component", "engine"),
		clock: opts.Clock,
		local: strings.HasPrefix(opts.Host, "unix://"),
	}
	// The Docker client's transport reaches the libpod API on the same
	// socket (libpod.go); fakes have none.
	if h, ok := a.(interface{ HTTPClient() *http.Client }); ok {
		c.libpod = newLibpodHTTP(h.HTTPClient(), opts.Host)
	}
	return c
}

// Host is the engine address the client talks to.
func (c *Client) Host() string { return c.opts.Host }

// Close releases the HTTP transport.
func (c *Client) Close() error { return c.api.Close() }

// Connected reports whether the last call reached the engine.
func (c *Client) Connected() bool { return c.conn.Load() == connUp }

// IsPodman reports whether the engine identified itself as Podman (known
// once the engine was first reached).
func (c *Client) IsPodman() bool { return c.podman.Load() }

// Version is the engine's name, version and negotiated API version, e.g.
// "Podman Engine 4.3.1 (API 1.41)"; "" before the first Ping.
func (c *Client) Version() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// Ping checks that the engine answers and negotiates the API version
// (Podman answers 1.41 up to 5.7 and 1.44 from 5.8; the client never
// speaks a newer version than the engine).
func (c *Client) Ping(ctx context.Context) error { return c.ping(ctx, true) }

// ping is Ping; logLoss false leaves the "Failed to connect" line to the
// caller (Connect logs every attempt itself).
func (c *Client) ping(ctx context.Context, logLoss bool) error {
	cctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	ping, hdr, err := c.api.PingEngine(cctx)
	err = classify(ctx, "ping", err)
	if err == nil {
		// Before note: the "Connected" line names the negotiated version.
		c.api.NegotiateAPIVersionPing(ping)
	}
	c.noteHeaders(ctx, err, logLoss, hdr)
	return err
}

// Connect blocks until the engine answers a Ping, retrying with backoff
// and logging "Failed to connect to Docker daemon" for every failed
// attempt. It returns nil once connected, or ctx's error.
func (c *Client) Connect(ctx context.Context) error {
	delay := c.opts.ReconnectMin
	for attempt := 1; ; attempt++ {
		err := c.ping(ctx, false)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Error("Failed to connect to Docker daemon", "host", c.opts.Host, "attempt", attempt, "retry_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.clock.After(delay):
		}
		delay = min(2*delay, c.opts.ReconnectMax)
	}
}

// do runs one API call under the call timeout, classifies its error and
// tracks reachability.
func (c *Client) do(ctx context.Context, op string, timeout time.Duration, f func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := classify(ctx, op, f(cctx))
	c.note(ctx, err, true)
	return err
}

// note records whether the engine was reached. Only the loss is logged
// (logLoss), so a flapping call does not flood the journal.
func (c *Client) note(ctx context.Context, err error, logLoss bool) {
	c.noteHeaders(ctx, err, logLoss, nil)
}

// noteHeaders is note with the headers of a ping that reached the engine
// (nil for other calls), to identify it without asking again.
func (c *Client) noteHeaders(ctx context.Context, err error, logLoss bool, hdr http.Header) {
	switch {
	case errors.Is(err, ErrUnavailable):
		if c.conn.Swap(connDown) == connUp && logLoss {
			c.log.Error("Failed to connect to Docker daemon", "host", c.opts.Host, "err", err)
		}
	case err == nil || ctx.Err() == nil:
		if c.conn.Swap(connUp) != connUp {
			c.identify(ctx, hdr)
		}
	}
}

// identify learns who the engine is once reachable again, so that GPU
// devices are requested in the engine's dialect and the log says what we
// talk to. The ping's headers say it in well under a millisecond; only an
// engine whose headers do not is asked GET /version (a second on Podman
// 4.3), and that in the background, so nothing waits for it.
func (c *Client) identify(ctx context.Context, hdr http.Header) {
	if hdr == nil {
		cctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
		_, hdr, _ = c.api.PingEngine(cctx)
		cancel()
	}
	if name, podman, ok := engineFromHeaders(hdr); ok {
		c.identified(name, podman)
		return
	}
	go func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.CallTimeout)
		defer cancel()
		v, err := c.api.ServerVersion(cctx)
		name, podman := "engine", false
		if err == nil {
			name = "Docker Engine"
			for _, comp := range v.Components {
				if strings.Contains(comp.Name, "Podman") {
					name, podman = comp.Name, true
				}
			}
			name += " " + v.Version
		}
		c.identified(name, podman)
	}()
}

func (c *Client) identified(name string, podman bool) {
	c.podman.Store(podman)
	desc := fmt.Sprintf("%s (API %s)", name, c.api.ClientVersion())
	c.mu.Lock()
	c.version = desc
	c.mu.Unlock()
	c.log.Info("Connected to Docker daemon", "host", c.opts.Host, "engine", desc)
}
