package supervisor

import (
	"context"
	"fmt"
	"time"
)

func (r *runner) handleEvent(ctx context.Context, ev EngineEvent) {
	if ev.Kind == EventResync && r.condition != "" && !r.nextRestart.IsZero() {
		// The engine answers again: a start it could not take need not
		// wait out the backoff its outage grew.
		r.nextRestart = r.s.clock.Now()
	}
	if r.acting || r.stopping {
		// The action in flight inspects the container itself.
		return
	}
	switch ev.Kind {
	case EventDie, EventOOM, EventStop, EventResync:
		if r.ctr.ID == "" || (ev.ProcessExited && ev.ContainerID != r.ctr.ID) {
			return
		}
		if ev.ProcessExited && !r.pol.Restart.RestartsEveryExit() {
			// Its exit code decides between completion and failure, and
			// only the engine knows it: wait for the engine's die event.
			return
		}
		var c Container
		var err error
		if ev.ProcessExited {
			// The process is gone whatever the engine says yet.
			c, err = r.ctr, nil
			c.Running = false
		} else {
			c, err = r.inspect(ctx)
		}
		if err != nil {
			if ev.Kind == EventResync {
				return
			}
			c = r.ctr
			c.Running = false
			if ev.Kind == EventDie {
				c.ExitCode = ev.ExitCode
			}
		}
		if c.Running {
			return // stale: it is running again
		}
		// An unhealthy service already waits for its restart: its
		// container stopping is the same failure, not a second one. One
		// its policy holds has no restart coming: its exit is news.
		wasUp := r.st == Starting || r.st == Running || r.held()
		r.setContainer(c)
		if !wasUp || !r.launched {
			if r.st == Unhealthy || r.st == Stopped {
				r.publish("")
			}
			return
		}
		r.gen++ // drop probes of the dead container
		r.st = Stopped
		r.detail = fmt.Sprintf("exited with code %d", c.ExitCode)
		if ev.ProcessExited {
			r.detail = "main process exited"
		}
		if c.OOMKilled || ev.Kind == EventOOM {
			r.detail = "killed: out of memory"
		}
		if !r.enabled {
			r.st = r.offStatus()
			if r.userStopped() {
				r.detail = "" // the stop the user asked for: the detail says so
			}
			r.publish(MsgContainerDied)
			return
		}
		if r.pol.Completes(c.ExitCode) && !c.OOMKilled && ev.Kind != EventOOM {
			r.complete(ctx)
			return
		}
		r.s.metrics.detected(r.svc.Name, ev.Time, r.s.clock.Now())
		r.fail(ctx, MsgContainerDied)
	case EventStart:
		// Started behind the agent's back: by a human, or by the engine's
		// restart policy on an adopted container. Take it as the restart
		// the agent would have made, so the two never both restart it.
		if r.st == Stopped || r.st == NotFound || r.st == Unhealthy {
			c, err := r.inspect(ctx)
			if err != nil || !c.Running {
				return
			}
			msg := MsgStarted
			if r.launched {
				r.restarts++
				r.lastRestart = r.s.clock.Now()
				msg = MsgRestartCompleted
			}
			r.setContainer(c)
			r.launched = true
			r.nextRestart = time.Time{}
			r.gen++
			r.st, r.startedAt, r.everHealthy, r.probeFails = Starting, r.s.clock.Now(), false, 0
			r.nextProbe = r.s.clock.Now()
			r.healthyCh = make(chan struct{})
			r.save(ctx)
			r.publish(msg)
		}
	case EventDestroy:
		if ev.ContainerID != "" && ev.ContainerID != r.ctr.ID {
			return
		}
		wasUp := r.st == Starting || r.st == Running || r.st == Unhealthy
		r.setContainer(Container{})
		r.gen++
		if !r.launched || !r.enabled {
			r.st = NotFound
			if !r.enabled {
				r.st = Disabled
			}
			r.publish("")
			return
		}
		r.st = NotFound
		if wasUp {
			r.fail(ctx, MsgContainerDied)
		} else {
			r.publish("")
		}
	}
}

func (r *runner) inspect(ctx context.Context) (Container, error) {
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return r.s.engine.Inspect(ictx, r.ctr.ID)
}

func (r *runner) setContainer(c Container) {
	old := r.ctr
	r.ctr = c
	if old.ID != c.ID {
		r.s.bindContainer(r, old.ID, c.ID)
	}
	if old.ID != c.ID || old.PID != c.PID || !c.Running {
		r.watchExit()
	}
}

// watchExit follows the current container's main process, so a crash is
// known the moment it happens rather than when the engine's event comes.
func (r *runner) watchExit() {
	if r.stopWatch != nil {
		r.stopWatch()
		r.stopWatch = nil
	}
	if r.s.exits == nil || !r.ctr.Running || r.ctr.PID <= 0 || r.ctx == nil {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	exited, err := r.s.exits.Watch(ctx, r.ctr.PID, r.ctr.ID)
	if err != nil {
		cancel()
		r.log.Debug("no exit watch; relying on engine events", "error", err)
		return
	}
	r.stopWatch = cancel
	id := r.ctr.ID
	go func() {
		select {
		case <-exited:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			return
		}
		ev := EngineEvent{Kind: EventDie, ContainerID: id, Service: r.svc.Name, Time: r.s.clock.Now(), ProcessExited: true}
		select {
		case r.events <- ev:
		case <-ctx.Done():
		}
	}()
}
