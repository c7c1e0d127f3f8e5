package supervisor

import (
	"fmt"
	"time"

	"github.com/hostagent/hostagent/gpu"
)

// checkLaunch starts the service during bring-up once what it waits for is
// satisfied.
func (m *machine) checkLaunch() {
	if m.launched || m.acting || !m.enabled || m.stopping {
		return
	}
	ok, waiting := m.w.dependenciesMet(m.svc)
	if !ok {
		if !equalStrings(waiting, m.waitingFor) {
			m.waitingFor = waiting
			m.publish(MsgWaiting)
		}
		return
	}
	if ahead := m.w.gpuAhead(m.svc); ahead != "" {
		// A more critical GPU service is about to ask for the GPU lane:
		// let it ask first.
		if w := []string{ahead + " (GPU, more critical)"}; !equalStrings(w, m.waitingFor) {
			m.waitingFor = w
			m.publish("")
		}
		return
	}
	if !m.nextRestart.IsZero() && m.now.Before(m.nextRestart) {
		// A backoff from before an agent restart is still running.
		m.publish("")
		return
	}
	m.nextRestart = time.Time{}
	m.begin(actStart, false)
}

// begin has a start, restart or recreate run in the background; one at
// a time (acting).
func (m *machine) begin(kind actionKind, manual bool) {
	if m.outdated != "" && m.ctr.ID != "" {
		// Whatever starts it next starts the current definition.
		kind = actRecreate
	}
	m.acting = true
	m.probing = false
	m.waitingFor = nil
	if m.svc.GPU.Required {
		// Reserved here, in order, before the action runs (GPUGate).
		m.emit(effect{kind: doReserveGPU, act: kind, vram: m.vram, svc: m.svc})
	}
	m.publish("")
	m.emit(effect{kind: doAct, act: kind, manual: manual, ctr: m.ctr, svc: m.svc})
}

// handleAction takes an action's result: a host condition, a failure,
// a one-shot job already done, or a container that runs.
func (m *machine) handleAction(a actionResult) {
	now := m.now
	if why, ok := m.w.hostCondition(a.err); a.err != nil && ok {
		m.onCondition(a, why)
		return
	}
	m.clearCondition()
	if a.err == nil && !a.ctr.Running {
		if m.pol.Completes(a.ctr.ExitCode) {
			// A one-shot job done before its start returned.
			m.finishedAtOnce(a, now)
			return
		}
		// It exited at once (bad command, missing file): a failed start.
		a.err = fmt.Errorf("container exited right after start (exit code %d)", a.ctr.ExitCode)
	}
	if a.err != nil {
		m.actionFailed(a)
		return
	}
	m.started(a, now)
}

// actionFailed: the start, restart or recreate failed for the service's
// own reason; it counts as a failure.
func (m *machine) actionFailed(a actionResult) {
	m.release(a.slot)
	m.log.Warn("start failed", "error", a.err)
	if a.ctr.ID != "" {
		m.setContainer(a.ctr)
	}
	m.detail = a.err.Error()
	msg := MsgStartFailed
	if a.kind == actRestart {
		msg = MsgRestartFailed
	}
	m.launched = true
	m.enterDown()
	m.fail(msg)
}

// started: the action's container runs; its health is checked from now.
func (m *machine) started(a actionResult, now time.Time) {
	m.setContainer(a.ctr)
	m.detail = ""
	m.probeFails = 0
	m.lastCounted = time.Time{}
	m.enterStarting(now, now)
	m.nextProbe = now.Add(m.currentInterval())
	if a.slot != nil {
		m.emit(effect{kind: doSettle, slot: a.slot, healthy: m.healthyCh})
	}
	msg := MsgStarted
	if a.kind == actRecreate {
		msg = MsgRecreated
		m.outdated = ""
		m.cascadeDue = true // restart: true dependents follow, once it is healthy
	}
	if a.kind == actRestart {
		m.restarts++
		m.lastRestart = now
		m.cascadeDue = true
		msg = MsgRestartCompleted
		m.log.Info(fmt.Sprintf("Restarted service %s", m.svc.Name), "restart_count", m.restarts)
	}
	m.save()
	m.publish(msg)
}

func (m *machine) restartNow(c command) {
	m.nextRestart = time.Time{}
	m.waitingFor = nil
	kind := actRestart
	if !m.launched {
		kind = actStart
	}
	m.begin(kind, c.manual)
}

// onCondition handles a start that failed for the host's reason, not the
// service's: the image cannot be had, the GPU runtime is missing, the
// engine cannot start containers or cannot be reached. The service shows
// the condition and is retried with the policy's backoff, counted apart
// from failures: fixing the host must not find it DISABLED.
func (m *machine) onCondition(a actionResult, why string) {
	m.release(a.slot)
	if a.ctr.ID != "" {
		m.setContainer(a.ctr)
	}
	m.condKind = a.kind
	switch {
	case a.kind == actRecreate && m.ctr.Running:
		// The image is checked before the outdated container is touched:
		// it keeps serving until the new one can be made.
	default:
		m.enterDown()
	}
	changed := why != m.condition
	m.condition, m.detail = why, why
	m.condWide = m.w.engineWide(a.err)
	m.condAttempts++
	// Soft dependents go ahead degraded, as after a failure.
	m.failedOnce = true
	if !m.enabled || m.stopping {
		if !m.enabled {
			m.st = Disabled
		}
		m.publish("")
		return
	}
	delay := m.pol.Delay(m.condAttempts)
	m.nextRestart = m.now.Add(delay)
	msg := ""
	if changed {
		msg = MsgHostCondition
	}
	switch {
	case changed && !m.condWide:
		// One line per change of condition, not one per retry.
		m.log.Warn(fmt.Sprintf("Service %s cannot start: %s", m.svc.Name, why), "retry_in", delay, "attempt", m.condAttempts)
	case changed:
		// The engine's own condition: one line for the host (logHostCondition).
		m.log.Debug("start refused by an engine-wide condition", "condition", why, "retry_in", delay)
	default:
		m.log.Debug("host condition persists", "condition", why, "retry_in", delay, "attempt", m.condAttempts)
	}
	m.save()
	m.publish(msg)
	m.emit(effect{kind: doPokeAll})
}

// clearCondition notes that a start got past the host condition.
func (m *machine) clearCondition() {
	if m.condition == "" {
		return
	}
	if m.condWide {
		m.log.Debug("engine-wide condition cleared", "was", m.condition, "attempts", m.condAttempts)
		m.condition, m.condAttempts, m.condWide = "", 0, false
		return
	}
	m.log.Info(fmt.Sprintf("Service %s: host condition cleared", m.svc.Name), "was", m.condition, "attempts", m.condAttempts)
	m.condition, m.condAttempts, m.condWide = "", 0, false
}

// complete records a clean exit that the restart policy (no, on-failure)
// takes as the service's work done: STOPPED with "completed (exit 0)",
// no restart, the failure count untouched. Dependents waiting for
// service_completed_successfully are poked through the published view.
func (m *machine) complete() {
	m.st = Stopped
	m.detail = DetailCompleted
	m.nextRestart = time.Time{}
	m.probeFails = 0
	m.cascadeDue = false
	m.log.Info(fmt.Sprintf("Service %s completed (exit 0)", m.svc.Name), "restart", m.pol.Restart.String())
	m.save()
	m.publish(MsgCompleted)
}

// finishedAtOnce handles a start whose container had already exited 0
// when it was inspected: a one-shot job faster than the engine's answer.
func (m *machine) finishedAtOnce(a actionResult, now time.Time) {
	m.release(a.slot)
	m.setContainer(a.ctr)
	m.launched = true
	m.gen++
	m.startedAt = now
	if a.kind == actRestart {
		m.restarts++
		m.lastRestart = now
	}
	m.complete()
}

// hold leaves a failed service as it is because its restart policy says
// so (restart: no; on-failure past its count or after a failed health
// check): no backoff, no restart, the reason in the detail. A manual
// restart still works.
func (m *machine) hold(msg, reason string) {
	m.nextRestart = time.Time{}
	if m.detail != "" {
		reason = m.detail + "; " + reason
	}
	m.detail = reason
	m.log.Warn(fmt.Sprintf("Service %s not restarted", m.svc.Name), "why", reason, "failure_count", m.failures)
	m.save()
	m.publish(msg)
	m.emit(effect{kind: doPokeAll})
}

// release gives back the GPU slot an action held, if any.
func (m *machine) release(slot *gpu.Slot) {
	if slot != nil {
		m.emit(effect{kind: doRelease, slot: slot})
	}
}
