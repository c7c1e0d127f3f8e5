package supervisor

import (
	"time"

	"github.com/hostagent/hostagent/state"
)

// The fact methods: each takes one fact at a time now and returns the
// effects it asks for, in the order they are to be carried out.

// restore sets the state an agent restart finds: the stored record (trusted
// only within bounds, state.Trusted) and the existing container, adopted
// and checked at once when it runs.
func (m *machine) restore(now time.Time, existing *Container, rec *state.Record) {
	if rec != nil {
		trusted, notes := rec.Trusted(now, m.pol.Max)
		for _, n := range notes {
			m.log.Warn("Stored state bounded", "change", n)
		}
		m.enabled = trusted.Enabled
		m.failures = trusted.FailureCount
		m.restarts = trusted.RestartCount
		m.lastRestart = trusted.LastRestartAt
		m.lastFailure = trusted.LastFailureAt
		m.nextRestart = trusted.NextRestartAt
		m.disabledWhy = trusted.DisabledReason
		m.vram = trusted.LearnedVRAM
	}
	if existing != nil {
		m.ctr = *existing
		m.st = Stopped
		if existing.Running {
			// Adopt a running container: probe it at once.
			m.enterStarting(existing.StartedAt, now)
		}
	}
	if !m.enabled {
		m.st = m.offStatus()
	}
}

// begun: the runner starts; a container found is announced, and bring-up
// starts the service if nothing holds it.
func (m *machine) begun(now time.Time) []effect {
	m.at(now)
	msg := ""
	if m.ctr.ID != "" {
		msg = MsgDiscovered
	}
	m.checkLaunch()
	m.publish(msg)
	return m.take()
}

// engineEvent: the engine (or the exit watch) said something of the
// service's container.
func (m *machine) engineEvent(now time.Time, ev EngineEvent) []effect {
	m.at(now)
	m.handleEvent(ev)
	return m.take()
}

// probeResult: a check came back.
func (m *machine) probeResult(now time.Time, p probeOutcome) []effect {
	m.at(now)
	m.probing = false
	m.handleProbe(p)
	return m.take()
}

// actionDone: a start, restart or recreate came back. The events that came
// meanwhile are applied after it.
func (m *machine) actionDone(now time.Time, a actionResult) []effect {
	m.at(now)
	m.acting = false
	m.handleAction(a)
	m.stopIfUserStopped()
	m.replayPending()
	return m.take()
}

// commanded: the API, a reload, a rollout or a cascade asks for something.
func (m *machine) commanded(now time.Time, c command) ([]effect, error) {
	m.at(now)
	err := m.handleCommand(c)
	return m.take(), err
}

// vramLearned: the GPU gate measured the service's VRAM use.
func (m *machine) vramLearned(now time.Time, v uint64) []effect {
	m.at(now)
	if v > 0 && v != m.vram {
		m.vram = v
		m.save()
	}
	return m.take()
}

// poked: another service changed (a dependency may be met now); behind
// says an engine event for this one was dropped on the way.
func (m *machine) poked(now time.Time, behind bool) []effect {
	m.at(now)
	if behind {
		m.catchUp()
	}
	m.checkLaunch()
	return m.take()
}

// progressNote: a line of pull or build progress from the action.
func (m *machine) progressNote(now time.Time, line string) []effect {
	m.at(now)
	if m.acting {
		m.detail = line
		m.publish("")
	}
	return m.take()
}

// timer: a restart or a check may be due.
func (m *machine) timer(now time.Time) []effect {
	m.at(now)
	m.tick()
	return m.take()
}
