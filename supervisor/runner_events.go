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
	if r.stopping {
		return // no restarts: what its container does no longer matters
	}
	if r.acting {
		r.queue(ev)
		return
	}
	r.applyEvent(ctx, ev)
}

// maxPending bounds the events kept while an action is in flight; past it
// the oldest give way (the newest say most about where the container is).
const maxPending = 32

// queue keeps an event that came while an action was in flight, to be
// applied once the action's result is in (replayPending).
func (r *runner) queue(ev EngineEvent) {
	if len(r.pending) == maxPending {
		r.pending = append(r.pending[:0], r.pending[1:]...)
	}
	r.pending = append(r.pending, ev)
}

// replayPending applies, in order, the events that came while the action
// ran, now that its result is in. Most are the action's own doing (the
// stop before a restart, the start) and change nothing; one that is not
// (the new container died already) is a failure seen at once rather than
// at the next check. A process exit seen meanwhile is of the process the
// action replaced: it is dropped. A new action keeps the rest for after it.
func (r *runner) replayPending(ctx context.Context) {
	for len(r.pending) > 0 && !r.acting {
		ev := r.pending[0]
		r.pending = r.pending[1:]
		if r.stopping {
			continue
		}
		if !ev.ProcessExited {
			r.applyEvent(ctx, ev)
		}
	}
	if len(r.pending) == 0 {
		r.pending = nil
	}
}

// catchUp re-inspects the container after dispatch had to drop an event
// for this runner (its queue was full): what the event said is found anew.
func (r *runner) catchUp(ctx context.Context) {
	if !r.behind.Swap(false) || r.stopping {
		return
	}
	ev := EngineEvent{Kind: EventResync, Service: r.svc.Name, Time: r.s.clock.Now()}
	if r.acting {
		r.queue(ev)
		return
	}
	r.applyEvent(ctx, ev)
}

// applyEvent moves the service on an engine event about its container.
func (r *runner) applyEvent(ctx context.Context, ev EngineEvent) {
	switch ev.Kind {
	case EventDie, EventOOM, EventStop, EventResync:
		r.onDown(ctx, ev)
	case EventStart:
		r.onStartedOutside(ctx)
	case EventDestroy:
		r.onDestroyed(ctx, ev)
	}
}

// onDown handles a container that may have stopped: the engine said so
// (die, oom, stop), the agent saw its process exit, or the stream was
// re-established (resync) and its state is to be checked.
func (r *runner) onDown(ctx context.Context, ev EngineEvent) {
	if r.ctr.ID == "" || (ev.ProcessExited && ev.ContainerID != r.ctr.ID) {
		return
	}
	if ev.ProcessExited && !r.pol.Restart.RestartsEveryExit() {
		// Its exit code decides between completion and failure, and
		// only the engine knows it: wait for the engine's die event.
		return
	}
	c, ok := r.downContainer(ctx, ev)
	if !ok || c.Running {
		return // unknown, or stale: it is running again
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
	r.detail = exitDetail(ev, c)
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
}

// downContainer is the container as it stands after a down event; false
// when that cannot be known (a resync whose inspect failed).
func (r *runner) downContainer(ctx context.Context, ev EngineEvent) (Container, bool) {
	if ev.ProcessExited {
		// The process is gone whatever the engine says yet.
		c := r.ctr
		c.Running = false
		return c, true
	}
	c, err := r.inspect(ctx)
	if err == nil {
		return c, true
	}
	if ev.Kind == EventResync {
		return Container{}, false
	}
	c = r.ctr
	c.Running = false
	if ev.Kind == EventDie {
		c.ExitCode = ev.ExitCode
	}
	return c, true
}

// exitDetail says how the container ended.
func exitDetail(ev EngineEvent, c Container) string {
	switch {
	case c.OOMKilled || ev.Kind == EventOOM:
		return "killed: out of memory"
	case ev.ProcessExited:
		return "main process exited"
	}
	return fmt.Sprintf("exited with code %d", c.ExitCode)
}

// onStartedOutside: started behind the agent's back, by a human or by the
// engine's restart policy on an adopted container. It is taken as the
// restart the agent would have made, so the two never both restart it.
func (r *runner) onStartedOutside(ctx context.Context) {
	if r.st != Stopped && r.st != NotFound && r.st != Unhealthy {
		return
	}
	c, err := r.inspect(ctx)
	if err != nil || !c.Running {
		return
	}
	now := r.s.clock.Now()
	msg := MsgStarted
	if r.launched {
		r.restarts++
		r.lastRestart = now
		msg = MsgRestartCompleted
	}
	r.setContainer(c)
	r.nextRestart = time.Time{}
	r.probeFails = 0
	r.enterStarting(now, now)
	r.save(ctx)
	r.publish(msg)
}

// onDestroyed: the container is gone; a service that was up has failed.
func (r *runner) onDestroyed(ctx context.Context, ev EngineEvent) {
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

// enterStarting is the one way into STARTING: a container of the service
// runs and its health is unknown until a check succeeds. since is when its
// start period began, probeAt when the first check is due.
func (r *runner) enterStarting(since, probeAt time.Time) {
	r.st = Starting
	r.launched = true
	r.gen++ // drop results of checks made before
	r.startedAt = since
	r.everHealthy = false
	r.nextProbe = probeAt
	r.healthyCh = make(chan struct{})
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
