package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
)

// actuator carries out starts, restarts and recreates: it holds the GPU
// gate (where a GPU service reserves its place) and the start queue (one
// engine start at a time, most critical first), and makes the engine
// calls. Runners reach it through startActuator.
type actuator struct {
	engine      Engine
	gate        GPUGate // nil: no GPU gate
	starts      *startQueue
	stopTimeout time.Duration
	log         *slog.Logger
	// stack is the stack being run (a reload replaces it).
	stack func() *compose.Stack
	// create makes a service's container, or takes the one made ahead
	// (precreate.go).
	create func(ctx context.Context, st *compose.Stack, svc *compose.PlannedService) (Container, error)
}

// actionOwner is the runner an action reports to.
type actionOwner interface {
	// bindNew: the container just made is the service's; engine events
	// about it go to the runner from now on.
	bindNew(id string)
	// noteProgress hands on a line of pull or build progress.
	noteProgress(line string)
}

// reserve takes a GPU service's place in the gate's queue (nil without a
// gate); its action waits on it. learned is the VRAM it used last.
func (s *actuator) reserve(svc *compose.PlannedService, kind actionKind, learned uint64) *gpu.Ticket {
	if !svc.GPU.Required || s.gate == nil {
		return nil
	}
	op := gpu.OpStart
	if kind != actStart {
		op = gpu.OpRestart
	}
	need := svc.GPU.VRAMBytes
	if need == 0 {
		need = learned // learned on an earlier start
	}
	// Devices: the GPUs the engine attaches (count 1 is GPU 0), so services
	// pinned to different GPUs take different lanes.
	return s.gate.Reserve(gpu.Request{Service: svc.Name, Priority: gpuPriority(svc), NeedBytes: need, Op: op, Devices: svc.GPU.Lanes()})
}

// act performs a start or restart: the image when a container is to be
// made, the GPU gate for GPU services, then a start slot, then the engine
// calls. o is the service's runner, which the action reports to.
func (s *actuator) act(ctx context.Context, o actionOwner, svc *compose.PlannedService, kind actionKind, ctr Container, ticket *gpu.Ticket) actionResult {
	res := actionResult{kind: kind, ctr: ctr}
	stack := s.stack()
	ensured := false
	if kind == actRecreate || ctr.ID == "" {
		// A pull or build may take minutes: done before the start slot, so
		// that other services start meanwhile. (A GPU service keeps its
		// place in the GPU lane's queue.)
		if err := s.engine.EnsureImage(ctx, stack, svc.Service, o.noteProgress); err != nil {
			if ticket != nil {
				ticket.Cancel()
			}
			res.err = err
			return res
		}
		ensured = true
	}
	if ticket != nil {
		slot, err := ticket.Wait(ctx)
		if err != nil {
			res.err = fmt.Errorf("gpu gate: %w", err)
			return res
		}
		res.slot = slot
	}
	release, err := s.starts.acquire(ctx, svc.Name, startPriority(svc))
	if err != nil {
		res.err = err
		return res
	}
	defer release()
	// The service's own stop_grace_period, as the container was created with.
	stop := svc.StopTimeout(s.stopTimeout)
	cctx, cancel := context.WithTimeout(ctx, stop+60*time.Second)
	defer cancel()
	j := startJob{s: s, o: o, stack: stack, svc: svc, kind: kind, stop: stop, ensured: ensured}
	j.run(ctx, cctx, &res, ctr)
	return res
}

// startJob is the engine part of an action, once it holds a start slot.
type startJob struct {
	s       *actuator
	o       actionOwner
	stack   *compose.Stack
	svc     *compose.PlannedService
	kind    actionKind
	stop    time.Duration
	ensured bool // the image was ensured before the slot
}

// run stops the old container (restart, recreate), recreates an outdated
// one, starts the container, creating it when there is none, and inspects
// it; res gets the container and any error. ctx is the action's, cctx
// bounds the engine calls.
func (j startJob) run(ctx, cctx context.Context, res *actionResult, ctr Container) {
	s, svc := j.s, j.svc
	// Stop even a container known dead: after a fast exit signal the engine
	// may not have noticed yet, and the stop makes it catch up.
	if j.kind != actStart && ctr.ID != "" {
		if err := s.engine.Stop(cctx, ctr.ID, j.stop); err != nil && ctr.Running {
			s.log.Warn("stop before restart failed", "service", svc.Name, "error", err)
		}
	}
	if j.kind == actRecreate && ctr.ID != "" {
		created, err := s.engine.Recreate(cctx, j.stack, svc.Service, ctr.ID, j.stop)
		if err != nil {
			res.err = fmt.Errorf("recreating the outdated container of %s: %w", svc.Name, err)
			return
		}
		j.o.bindNew(created.ID)
		res.ctr, ctr = created, created
	}
	if ctr.ID != "" {
		err := s.engine.Start(cctx, ctr.ID)
		if _, host := s.engine.Condition(err); err != nil && !host && isGone(ctx, s.engine, ctr.ID) {
			ctr = Container{}
		} else if err != nil {
			res.err = fmt.Errorf("starting %s: %w", svc.Name, err)
			return
		}
	}
	if ctr.ID == "" {
		created, ok := j.createAndStart(cctx, res)
		if !ok {
			return
		}
		ctr = created
	}
	if res.slot != nil {
		res.slot.Track(ctr.ID)
	}
	c, err := s.engine.Inspect(cctx, ctr.ID)
	if err != nil {
		c = ctr
		c.Running = true
	}
	res.ctr = c
}

// createAndStart makes the service's container (the image first, unless
// ensured already) and starts it; false with res.err set when it fails.
func (j startJob) createAndStart(cctx context.Context, res *actionResult) (Container, bool) {
	s, svc := j.s, j.svc
	if !j.ensured {
		if err := s.engine.EnsureImage(cctx, j.stack, svc.Service, j.o.noteProgress); err != nil {
			res.err = err
			return Container{}, false
		}
	}
	created, err := s.create(cctx, j.stack, svc)
	if err != nil {
		res.err = fmt.Errorf("creating %s: %w", svc.Name, err)
		return Container{}, false
	}
	res.ctr = created
	j.o.bindNew(created.ID)
	if err := s.engine.Start(cctx, created.ID); err != nil {
		res.err = fmt.Errorf("starting %s: %w", svc.Name, err)
		return Container{}, false
	}
	return created, true
}

// isGone: the container no longer exists. An engine that could not be
// asked (a host condition) says nothing about it: creating a second
// container then would clash with the first.
func isGone(ctx context.Context, e Engine, id string) bool {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := e.Inspect(ictx, id)
	_, host := e.Condition(err)
	return err != nil && !host
}

// gpuPriority puts first the GPU services that gate others through hard
// dependencies (the backend's), then the rest; longer remaining paths first
// within each group. Lower goes first.
func gpuPriority(svc *compose.PlannedService) int {
	p := -int(svc.RemainingPath / time.Millisecond)
	if len(svc.Dependents) == 0 {
		p += 1 << 40
	}
	return p
}
