package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/hostagent/hostagent/gpu"
)

// checkLaunch starts the service during bring-up once what it waits for is
// satisfied.
func (r *runner) checkLaunch(ctx context.Context) {
	if r.launched || r.acting || !r.enabled || r.stopping {
		return
	}
	ok, waiting := r.s.dependenciesMet(r.svc)
	if !ok {
		if !equalStrings(waiting, r.waitingFor) {
			r.waitingFor = waiting
			r.publish(MsgWaiting)
		}
		return
	}
	if ahead := r.s.gpuAhead(r.svc); ahead != "" {
		// A more critical GPU service is about to ask for the GPU lane:
		// let it ask first.
		if w := []string{ahead + " (GPU, more critical)"}; !equalStrings(w, r.waitingFor) {
			r.waitingFor = w
			r.publish("")
		}
		return
	}
	if !r.nextRestart.IsZero() && r.s.clock.Now().Before(r.nextRestart) {
		// A backoff from before an agent restart is still running.
		r.publish("")
		return
	}
	r.nextRestart = time.Time{}
	r.begin(ctx, actStart, false)
}

// begin runs a start or restart in the background; one at a time.
func (r *runner) begin(ctx context.Context, kind actionKind, manual bool) {
	if r.outdated != "" && r.ctr.ID != "" {
		// Whatever starts it next starts the current definition.
		kind = actRecreate
	}
	r.acting = true
	r.probing = false
	r.waitingFor = nil
	ctr, svc := r.ctr, r.svc
	ticket := r.reserveGPU(kind)
	r.publish("")
	go func() {
		res := r.s.act(ctx, r, svc, kind, ctr, ticket)
		res.manual = manual
		select {
		case r.acted <- res:
		case <-ctx.Done():
			if res.slot != nil {
				res.slot.Release()
			}
		}
	}()
}

// reserveGPU takes the GPU service's place in the gate's queue (nil for
// others); the action waits on it.
func (r *runner) reserveGPU(kind actionKind) *gpu.Ticket {
	if !r.svc.GPU.Required || r.s.gate == nil {
		return nil
	}
	op := gpu.OpStart
	if kind != actStart {
		op = gpu.OpRestart
	}
	need := r.svc.GPU.VRAMBytes
	if need == 0 {
		need = r.vram // learned on an earlier start
	}
	// Devices: the GPUs the engine attaches (count 1 is GPU 0), so services
	// pinned to different GPUs take different lanes.
	return r.s.gate.Reserve(gpu.Request{Service: r.svc.Name, Priority: gpuPriority(r.svc), NeedBytes: need, Op: op, Devices: r.svc.GPU.Lanes()})
}

func (r *runner) handleAction(ctx context.Context, a actionResult) {
	now := r.s.clock.Now()
	if why, ok := r.s.engine.Condition(a.err); a.err != nil && ok {
		r.onCondition(ctx, a, why)
		return
	}
	r.clearCondition()
	if a.err == nil && !a.ctr.Running {
		if r.pol.Completes(a.ctr.ExitCode) {
			// A one-shot job done before its start returned.
			r.finishedAtOnce(ctx, a, now)
			return
		}
		// It exited at once (bad command, missing file): a failed start.
		a.err = fmt.Errorf("container exited right after start (exit code %d)", a.ctr.ExitCode)
	}
	if a.err != nil {
		r.actionFailed(ctx, a)
		return
	}
	r.started(ctx, a, now)
}

// actionFailed: the start, restart or recreate failed for the service's
// own reason; it counts as a failure.
func (r *runner) actionFailed(ctx context.Context, a actionResult) {
	if a.slot != nil {
		a.slot.Release()
	}
	r.log.Warn("start failed", "error", a.err)
	if a.ctr.ID != "" {
		r.setContainer(a.ctr)
	}
	r.detail = a.err.Error()
	msg := MsgStartFailed
	if a.kind == actRestart {
		msg = MsgRestartFailed
	}
	r.launched = true
	if r.ctr.ID == "" {
		r.st = NotFound
	} else {
		r.st = Stopped
	}
	r.fail(ctx, msg)
}

// started: the action's container runs; its health is checked from now.
func (r *runner) started(ctx context.Context, a actionResult, now time.Time) {
	r.setContainer(a.ctr)
	r.detail = ""
	r.probeFails = 0
	r.lastCounted = time.Time{}
	r.enterStarting(now, now)
	r.nextProbe = now.Add(r.currentInterval())
	if a.slot != nil {
		go r.settle(ctx, a.slot, r.healthyCh)
	}
	msg := MsgStarted
	if a.kind == actRecreate {
		msg = MsgRecreated
		r.outdated = ""
		r.cascadeDue = true // restart: true dependents follow, once it is healthy
	}
	if a.kind == actRestart {
		r.restarts++
		r.lastRestart = now
		r.cascadeDue = true
		msg = MsgRestartCompleted
		r.log.Info(fmt.Sprintf("Restarted service %s", r.svc.Name), "restart_count", r.restarts)
	}
	r.save(ctx)
	r.publish(msg)
}

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

func (r *runner) restartNow(ctx context.Context, c command) {
	r.nextRestart = time.Time{}
	r.waitingFor = nil
	kind := actRestart
	if !r.launched {
		kind = actStart
	}
	r.begin(ctx, kind, c.manual)
}
