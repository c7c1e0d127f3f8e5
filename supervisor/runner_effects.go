package supervisor

import (
	"context"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
)

// exec carries out a machine's effects, in order.
func (r *runner) exec(ctx context.Context, effs []effect) {
	for _, e := range effs {
		r.do(ctx, e)
	}
}

func (r *runner) do(ctx context.Context, e effect) {
	switch e.kind {
	case doSave:
		r.env.bus.save(ctx, e.rec)
	case doPublish:
		r.noteFacts(e.facts)
		r.env.bus.update(e.status, e.view, e.msg)
	case doPokeAll:
		r.env.crew.pokeAll()
	case doCascade:
		r.env.crew.cascade(r.svc.Name)
	case doBind:
		r.env.crew.bindContainer(r, e.oldID, e.ctr.ID)
	case doWatch:
		r.watchExit(e.ctr)
	case doReserveGPU:
		r.ticket = r.env.act.reserve(e.svc, e.act, e.vram)
	case doAct:
		r.startAction(ctx, e)
	case doRelease:
		e.slot.Release()
	case doSettle:
		go r.settle(ctx, e.slot, e.healthy)
	case doProbe:
		r.startProbe(ctx, e.gen, e.ctr.ID)
	case doStop:
		r.stopContainer(ctx, e.ctr.ID, e.grace)
	case doCountFailure:
		r.env.metrics.failure(r.svc.Name)
	case doDetected:
		r.env.metrics.detected(r.svc.Name, e.at, r.env.clock.Now())
	case doRecordProbe:
		r.recordProbe(e.at, e.probe)
		r.env.metrics.probe(r.svc.Name, e.probe)
	}
}

// startAction runs act in the background with the ticket reserved for it;
// its result comes back on acted.
func (r *runner) startAction(ctx context.Context, e effect) {
	ticket := r.ticket
	r.ticket = nil
	go func() {
		res := r.env.act.act(ctx, r, e.svc, e.act, e.ctr, ticket)
		res.manual = e.manual
		select {
		case r.acted <- res:
		case <-ctx.Done():
			if res.slot != nil {
				res.slot.Release()
			}
		}
	}()
}

// bindNew: the container an action just made is the service's.
func (r *runner) bindNew(id string) { r.env.crew.bindContainer(r, "", id) }

// settle keeps the GPU gate closed until the service's VRAM use settles (or
// it is healthy), then releases it and reports the learned peak.
func (r *runner) settle(ctx context.Context, slot *gpu.Slot, healthy <-chan struct{}) {
	defer slot.Release()
	res := slot.Settle(ctx, healthy)
	if v, ok := res.Learned(); ok {
		select {
		case r.learned <- v:
		default:
		}
	}
}

// startProbe runs one check in the background. Its deadline and panic
// guard are the prober's own (probes.Guard, through probes.ForSpec): a
// check that hangs or panics comes back as an error result.
func (r *runner) startProbe(ctx context.Context, gen int, id string) {
	p := r.probe
	go func() {
		res := p.Probe(ctx, id)
		select {
		case r.probed <- probeOutcome{gen: gen, res: res}:
		case <-ctx.Done():
		}
	}()
}

// stopContainer stops a container that a start already under way brought
// up after the user asked for the service to stop.
func (r *runner) stopContainer(ctx context.Context, id string, grace time.Duration) {
	r.env.wg.Add(1)
	go func() {
		defer r.env.wg.Done()
		sctx, cancel := context.WithTimeout(ctx, grace+30*time.Second)
		defer cancel()
		if err := r.env.engine.Stop(sctx, id, grace); err != nil {
			r.log.Warn("stopping a user-stopped service failed", "error", err)
		}
	}()
}

// watchExit follows the container's main process, so a crash is known the
// moment it happens rather than when the engine's event comes; it ends
// the watch of the container before.
func (r *runner) watchExit(c Container) {
	if r.stopWatch != nil {
		r.stopWatch()
		r.stopWatch = nil
	}
	if r.env.exits == nil || !c.Running || c.PID <= 0 || r.ctx == nil {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	exited, err := r.env.exits.Watch(ctx, c.PID, c.ID)
	if err != nil {
		cancel()
		r.log.Debug("no exit watch; relying on engine events", "error", err)
		return
	}
	r.stopWatch = cancel
	name := r.svc.Name
	go func() {
		select {
		case <-exited:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			return
		}
		ev := EngineEvent{Kind: EventDie, ContainerID: c.ID, Service: name, Time: r.env.clock.Now(), ProcessExited: true}
		select {
		case r.events <- ev:
		case <-ctx.Done():
		}
	}()
}

// noteProgress hands a pull or build progress line to the runner; only
// the latest waiting line matters, so an older one is dropped.
func (r *runner) noteProgress(line string) {
	for range 2 {
		select {
		case r.notes <- line:
			return
		default:
		}
		select {
		case <-r.notes:
		default:
		}
	}
}

// runnerWorld answers a machine's questions for its runner.
type runnerWorld struct{ r *runner }

func (w runnerWorld) dependenciesMet(svc *compose.PlannedService) (bool, []string) {
	return w.r.env.board.dependenciesMet(svc)
}

func (w runnerWorld) gpuAhead(svc *compose.PlannedService) string { return w.r.env.board.gpuAhead(svc) }

func (w runnerWorld) inspect(id string) (Container, error) {
	ictx, cancel := context.WithTimeout(w.r.ctx, 10*time.Second)
	defer cancel()
	return w.r.env.engine.Inspect(ictx, id)
}

func (w runnerWorld) hostCondition(err error) (string, bool) { return w.r.env.engine.Condition(err) }

func (w runnerWorld) engineWide(err error) bool { return w.r.env.engineWide(err) }

func (w runnerWorld) redact(text string) string { return w.r.env.redact(text) }
