package supervisor

import (
	"fmt"
	"time"
)

// handleEvent takes an engine event about the service's container: now,
// or after the action in flight, which the event may well be about.
func (m *machine) handleEvent(ev EngineEvent) {
	if ev.Kind == EventResync && m.condition != "" && !m.nextRestart.IsZero() {
		// The engine answers again: a start it could not take need not
		// wait out the backoff its outage grew.
		m.nextRestart = m.now
	}
	if m.stopping {
		return // no restarts: what its container does no longer matters
	}
	if m.acting {
		m.queue(ev)
		return
	}
	m.applyEvent(ev)
}

// maxPending bounds the events kept while an action is in flight; past it
// the oldest give way (the newest say most about where the container is).
const maxPending = 32

// queue keeps an event that came while an action was in flight, to be
// applied once the action's result is in (replayPending).
func (m *machine) queue(ev EngineEvent) {
	if len(m.pending) == maxPending {
		m.pending = append(m.pending[:0], m.pending[1:]...)
	}
	m.pending = append(m.pending, ev)
}

// replayPending applies, in order, the events that came while the action
// ran, now that its result is in. Most are the action's own doing (the
// stop before a restart, the start) and change nothing; one that is not
// (the new container died already) is a failure seen at once rather than
// at the next check. A process exit seen meanwhile is of the process the
// action replaced: it is dropped. A new action keeps the rest for after it.
func (m *machine) replayPending() {
	for len(m.pending) > 0 && !m.acting {
		ev := m.pending[0]
		m.pending = m.pending[1:]
		if m.stopping {
			continue
		}
		if !ev.ProcessExited {
			m.applyEvent(ev)
		}
	}
	if len(m.pending) == 0 {
		m.pending = nil
	}
}

// catchUp re-inspects the container after dispatch had to drop an event
// for this runner (its queue was full): what the event said is found anew.
func (m *machine) catchUp() {
	if m.stopping {
		return
	}
	// No time: when the dropped event happened is not known.
	ev := EngineEvent{Kind: EventResync, Service: m.svc.Name}
	if m.acting {
		m.queue(ev)
		return
	}
	m.applyEvent(ev)
}

// applyEvent moves the service on an engine event about its container.
func (m *machine) applyEvent(ev EngineEvent) {
	switch ev.Kind {
	case EventDie, EventOOM, EventStop, EventResync:
		m.onDown(ev)
	case EventStart:
		m.onStartedOutside()
	case EventDestroy:
		m.onDestroyed(ev)
	}
}

// onDown handles a container that may have stopped: the engine said so
// (die, oom, stop), the agent saw its process exit, or the stream was
// re-established (resync) and its state is to be checked.
func (m *machine) onDown(ev EngineEvent) {
	if m.ctr.ID == "" || (ev.ProcessExited && ev.ContainerID != m.ctr.ID) {
		return
	}
	if ev.ProcessExited && !m.pol.Restart.RestartsEveryExit() {
		// Its exit code decides between completion and failure, and
		// only the engine knows it: wait for the engine's die event.
		return
	}
	c, ok := m.downContainer(ev)
	if !ok || c.Running {
		return // unknown, or stale: it is running again
	}
	// An unhealthy service already waits for its restart: its
	// container stopping is the same failure, not a second one. One
	// its policy holds has no restart coming: its exit is news.
	wasUp := m.st == Starting || m.st == Running || m.held()
	m.setContainer(c)
	if !wasUp || !m.launched {
		if m.st == Unhealthy || m.st == Stopped {
			m.publish("")
		}
		return
	}
	m.gen++ // drop probes of the dead container
	m.enterDown()
	m.detail = exitDetail(ev, c)
	if !m.enabled {
		m.st = m.offStatus()
		if m.userStopped() {
			m.detail = "" // the stop the user asked for: the detail says so
		}
		m.publish(MsgContainerDied)
		return
	}
	if m.pol.Completes(c.ExitCode) && !c.OOMKilled && ev.Kind != EventOOM {
		m.complete()
		return
	}
	m.emit(effect{kind: doDetected, at: ev.Time})
	m.fail(MsgContainerDied)
}

// downContainer is the container as it stands after a down event; false
// when that cannot be known (a resync whose inspect failed).
func (m *machine) downContainer(ev EngineEvent) (Container, bool) {
	if ev.ProcessExited {
		// The process is gone whatever the engine says yet.
		c := m.ctr
		c.Running = false
		return c, true
	}
	c, err := m.w.inspect(m.ctr.ID)
	if err == nil {
		return c, true
	}
	if ev.Kind == EventResync {
		return Container{}, false
	}
	c = m.ctr
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
func (m *machine) onStartedOutside() {
	if m.st != Stopped && m.st != NotFound && m.st != Unhealthy {
		return
	}
	c, err := m.w.inspect(m.ctr.ID)
	if err != nil || !c.Running {
		return
	}
	now := m.now
	msg := MsgStarted
	if m.launched {
		m.restarts++
		m.lastRestart = now
		msg = MsgRestartCompleted
	}
	m.setContainer(c)
	m.nextRestart = time.Time{}
	m.probeFails = 0
	m.enterStarting(now, now)
	m.save()
	m.publish(msg)
}

// onDestroyed: the container is gone; a service that was up has failed.
func (m *machine) onDestroyed(ev EngineEvent) {
	if ev.ContainerID != "" && ev.ContainerID != m.ctr.ID {
		return
	}
	wasUp := m.st == Starting || m.st == Running || m.st == Unhealthy
	m.setContainer(Container{})
	m.gen++
	m.enterDown()
	if !m.launched || !m.enabled {
		if !m.enabled {
			m.st = Disabled
		}
		m.publish("")
		return
	}
	if wasUp {
		m.fail(MsgContainerDied)
	} else {
		m.publish("")
	}
}
