// Package adapt presents the engine and probes packages as the narrow
// interfaces the supervisor declares, so neither side imports the other.
// It maps types only: the rules live in engine, probes and supervisor.
package adapt

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/supervisor"
)

// Engine presents engine.Client as the supervisor's Engine.
type Engine struct{ C *engine.Client }

func (a Engine) Discover(ctx context.Context, st *compose.Stack) (map[string]supervisor.Container, error) {
	d, err := a.C.Discover(ctx, st)
	if err != nil {
		return nil, err
	}
	out := make(map[string]supervisor.Container, len(d.Found))
	for svc, f := range d.Found {
		c := f.Container
		if !c.State.Running || c.State.StartedAt.IsZero() {
			// List fills only the summary; the supervisor needs the state.
			if full, err := a.C.Inspect(ctx, c.ID); err == nil {
				c = full
			}
		}
		out[svc] = toContainer(c)
		switch {
		case f.Outdated:
			out[svc] = withOutdated(out[svc], "configuration changed")
		case f.ImageChanged:
			out[svc] = withOutdated(out[svc], "image changed")
		}
	}
	return out, nil
}

// Prepare creates the project's networks and volumes ahead of the first
// container (supervisor.Preparer).
func (a Engine) Prepare(ctx context.Context, st *compose.Stack) error {
	return a.C.Prepare(ctx, st)
}

// ImageReady says whether svc's container can be made ahead of its start
// (supervisor.ImageChecker).
func (a Engine) ImageReady(ctx context.Context, st *compose.Stack, svc *compose.Service) (bool, error) {
	return a.C.ImageReady(ctx, st, svc.Name)
}

func (a Engine) Create(ctx context.Context, st *compose.Stack, svc *compose.Service) (supervisor.Container, error) {
	id, err := a.C.CreateReplacing(ctx, st, svc.Name)
	if err != nil {
		return supervisor.Container{}, err
	}
	return supervisor.Container{ID: string(id), Service: svc.Name, ConfigHash: engine.ConfigHash(*svc)}, nil
}

func (a Engine) Start(ctx context.Context, id string) error {
	return a.C.Start(ctx, engine.ContainerID(id))
}

func (a Engine) Stop(ctx context.Context, id string, timeout time.Duration) error {
	return a.C.Stop(ctx, engine.ContainerID(id), timeout)
}

func (a Engine) Remove(ctx context.Context, id string) error {
	return a.C.Remove(ctx, engine.ContainerID(id), true)
}

func (a Engine) Recreate(ctx context.Context, st *compose.Stack, svc *compose.Service, id string, stopTimeout time.Duration) (supervisor.Container, error) {
	nid, err := a.C.Recreate(ctx, st, svc.Name, engine.ContainerID(id), stopTimeout)
	if err != nil {
		return supervisor.Container{}, err
	}
	return supervisor.Container{ID: string(nid), Service: svc.Name, ConfigHash: engine.ConfigHash(*svc)}, nil
}

func (a Engine) Inspect(ctx context.Context, id string) (supervisor.Container, error) {
	c, err := a.C.Inspect(ctx, engine.ContainerID(id))
	if err != nil {
		return supervisor.Container{}, err
	}
	return toContainer(c), nil
}

func (a Engine) ConfigHash(_ *compose.Stack, svc *compose.Service) string {
	return engine.ConfigHash(*svc)
}

func (a Engine) EnsureImage(ctx context.Context, st *compose.Stack, svc *compose.Service, progress func(string)) error {
	return a.C.EnsureImage(ctx, st, svc.Name, progress)
}

// conditions are the engine's host conditions, in the order their words
// are looked for in an error.
var conditions = []error{engine.ErrImageUnavailable, engine.ErrGPUUnavailable, engine.ErrEngineSetup, engine.ErrUnavailable}

// Condition names a host condition from where its words begin in err, so
// the status reads "image unavailable: IMAGE: answer" rather than the
// chain of operations that led there.
func (a Engine) Condition(err error) (string, bool) {
	if err == nil || !engine.IsCondition(err) {
		return "", false
	}
	// The Docker client's "Error response from daemon: " says nothing here.
	msg := strings.Replace(err.Error(), "Error response from daemon: ", "", 1)
	for _, c := range conditions {
		if i := strings.Index(msg, c.Error()); i >= 0 && errors.Is(err, c) {
			return msg[i:], true
		}
	}
	return msg, true
}

var _ supervisor.EngineWide = Engine{}

// EngineWide: the engine cannot start any container (network backend or
// OCI runtime missing), a condition of the host rather than of a service.
func (a Engine) EngineWide(err error) bool { return errors.Is(err, engine.ErrEngineSetup) }

func (a Engine) Events(ctx context.Context, project string) <-chan supervisor.EngineEvent {
	in := a.C.Events(ctx, project)
	out := make(chan supervisor.EngineEvent, 64)
	go func() {
		defer close(out)
		for ev := range in {
			kind, ok := eventKinds[ev.Kind]
			if !ok {
				continue
			}
			se := supervisor.EngineEvent{Kind: kind, ContainerID: string(ev.ID), Service: ev.Service, ExitCode: ev.ExitCode, Time: ev.Time}
			select {
			case out <- se:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// eventKinds maps the engine's events onto the ones the supervisor acts on;
// an engine policy restart shows up as a start.
var eventKinds = map[engine.EventKind]supervisor.EventKind{
	engine.EventStart:   supervisor.EventStart,
	engine.EventRestart: supervisor.EventStart,
	engine.EventDie:     supervisor.EventDie,
	engine.EventOOM:     supervisor.EventOOM,
	engine.EventStop:    supervisor.EventStop,
	engine.EventDestroy: supervisor.EventDestroy,
	engine.EventResync:  supervisor.EventResync,
}

func withOutdated(c supervisor.Container, why string) supervisor.Container {
	c.Outdated = why
	return c
}

func toContainer(c engine.Container) supervisor.Container {
	return supervisor.Container{
		ID:         string(c.ID),
		Name:       c.Name,
		Service:    c.Service,
		Running:    c.State.Running,
		ExitCode:   c.State.ExitCode,
		OOMKilled:  c.State.OOMKilled,
		StartedAt:  c.State.StartedAt,
		FinishedAt: c.State.FinishedAt,
		ConfigHash: c.ConfigHash,
		PID:        c.State.PID,
	}
}
