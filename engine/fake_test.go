package engine

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeAPI is a hand-written stand-in for the Docker client. Only the
// calls a test sets up answer; the others fail loudly.
type fakeAPI struct {
	mu sync.Mutex
	// createErr, when set, is ContainerCreate's answer.
	createErr error
	// pingErr, when set, is returned by Ping (then cleared if pingOnce).
	pingErrs []error
	pings    int
	// pingHeader answers the ping; nil: Podman 4.3.1's headers.
	pingHeader http.Header
	versions   int // ServerVersion calls
	// subs receives one channel pair per Events call, for the test to feed.
	subs      chan fakeSub
	sinces    []string
	list      []container.Summary
	created   []fakeCreate
	connected []string // "network/container" per NetworkConnect
	netsMade  []network.CreateOptions
	volsMade  []volume.CreateOptions
	missing   bool // networks and volumes do not exist yet
	// netInspects counts NetworkInspect calls.
	netInspects int
	images      fakeImages
}

type fakeSub struct {
	msgs chan events.Message
	errs chan error
}

type fakeCreate struct {
	name   string
	config *container.Config
	host   *container.HostConfig
	net    *network.NetworkingConfig
}

var errUnset = errors.New("fakeAPI: call not set up")

func (f *fakeAPI) PingEngine(ctx context.Context) (types.Ping, http.Header, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings++
	if len(f.pingErrs) > 0 {
		err := f.pingErrs[0]
		f.pingErrs = f.pingErrs[1:]
		return types.Ping{}, nil, err
	}
	h := f.pingHeader
	if h == nil {
		h = http.Header{"Api-Version": {"1.41"}, "Libpod-Api-Version": {"4.3.1"}, "Server": {"Libpod/4.3.1 (linux)"}}
	}
	return types.Ping{APIVersion: "1.41"}, h, nil
}

func (f *fakeAPI) ServerVersion(ctx context.Context) (types.Version, error) {
	f.mu.Lock()
	f.versions++
	f.mu.Unlock()
	return types.Version{Version: "4.3.1", Components: []types.ComponentVersion{{Name: "Podman Engine", Version: "4.3.1"}}}, nil
}
func (f *fakeAPI) NegotiateAPIVersionPing(types.Ping) {}
func (f *fakeAPI) ClientVersion() string              { return "1.41" }
func (f *fakeAPI) Close() error                       { return nil }

func (f *fakeAPI) ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error) {
	return f.list, nil
}
func (f *fakeAPI) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	return container.InspectResponse{}, errUnset
}
func (f *fakeAPI) ContainerCreate(ctx context.Context, config *container.Config, host *container.HostConfig, net *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return container.CreateResponse{}, f.createErr
	}
	f.created = append(f.created, fakeCreate{name, config, host, net})
	return container.CreateResponse{ID: "id-" + name}, nil
}
func (f *fakeAPI) ContainerStart(ctx context.Context, id string, options container.StartOptions) error {
	return errUnset
}
func (f *fakeAPI) ContainerStop(ctx context.Context, id string, options container.StopOptions) error {
	return errUnset
}
func (f *fakeAPI) ContainerKill(ctx context.Context, id, signal string) error { return errUnset }
func (f *fakeAPI) ContainerRemove(ctx context.Context, id string, options container.RemoveOptions) error {
	return nil
}
func (f *fakeAPI) ContainerExecCreate(ctx context.Context, id string, options container.ExecOptions) (container.ExecCreateResponse, error) {
	return container.ExecCreateResponse{}, errUnset
}
func (f *fakeAPI) ContainerExecAttach(ctx context.Context, execID string, config container.ExecAttachOptions) (types.HijackedResponse, error) {
	return types.HijackedResponse{}, errUnset
}
func (f *fakeAPI) ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error) {
	return container.ExecInspect{}, errUnset
}

// notFound is what the Docker client returns for a 404.
type notFound struct{}

func (notFound) Error() string { return "no such object" }
func (notFound) NotFound()     {}

func (f *fakeAPI) NetworkInspect(ctx context.Context, id string, options network.InspectOptions) (network.Inspect, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.netInspects++
	if f.missing {
		return network.Inspect{}, notFound{}
	}
	return network.Inspect{}, nil
}
func (f *fakeAPI) NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.netsMade = append(f.netsMade, options)
	return network.CreateResponse{}, nil
}
func (f *fakeAPI) NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected = append(f.connected, networkID+"/"+containerID)
	return nil
}
func (f *fakeAPI) VolumeInspect(ctx context.Context, id string) (volume.Volume, error) {
	if f.missing {
		return volume.Volume{}, notFound{}
	}
	return volume.Volume{}, nil
}
func (f *fakeAPI) VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.volsMade = append(f.volsMade, options)
	return volume.Volume{}, nil
}

// Events hands the test a fresh stream per subscription. (The real client
// returns only once the engine sent its first byte; the fake returns at
// once. The adapter copes with both.)
func (f *fakeAPI) Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error) {
	f.mu.Lock()
	f.sinces = append(f.sinces, options.Since)
	f.mu.Unlock()
	s := fakeSub{msgs: make(chan events.Message), errs: make(chan error, 1)}
	f.subs <- s
	return s.msgs, s.errs
}

func (f *fakeAPI) ContainerLogs(context.Context, string, container.LogsOptions) (io.ReadCloser, error) {
	return nil, errors.New("fake: no logs")
}
