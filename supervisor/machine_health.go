package supervisor

import (
	"fmt"
	"time"

	"github.com/hostagent/hostagent/compose"
)

// The probe schedule. Every check is timed from the end of the previous
// one, so a slow check never overlaps the next.
//
//   - From a start until the first success, the agent polls fast, so that
//     a dependent starts as soon as its dependency answers: HTTP and
//     running-status checks every FastInterval (50 ms; a request from the
//     host or an inspect, cheap for everyone). Command checks cost the
//     engine an exec each (a runc process, contending with the starts
//     Podman serialises): every start_interval when compose sets one,
//     never closer than ExecSpacing (250 ms).
//   - Fast polling lasts at most FastWindow (2 min) after the start; a
//     slower service is then checked every start_interval (else
//     Config.StartInterval, 1 s, capped by interval) until it answers.
//   - After the first success: interval (compose, default 30 s); command
//     checks still no closer than ExecSpacing.
//
// Fast polls exist to see success early, not to fail early: past the
// start period a failure counts toward retries at most once per start
// interval, so `retries` keeps the meaning in time it has in compose.

// startInterval is the start-period cadence: compose's start_interval,
// else Config.StartInterval capped by the interval.
func (m *machine) startInterval() time.Duration {
	if si := m.svc.Health.StartInterval; si > 0 {
		return si
	}
	return min(m.cfg.StartInterval, m.interval())
}

func (m *machine) interval() time.Duration {
	if m.svc.Health.Interval > 0 {
		return m.svc.Health.Interval
	}
	return 30 * time.Second
}

// execSpaced: the check runs a command in the container.
func (m *machine) execSpaced() bool { return m.svc.Health.Method == compose.HealthCommand }

// fastInterval is the spacing until the first success, within FastWindow.
func (m *machine) fastInterval() time.Duration {
	if !m.execSpaced() {
		return m.cfg.FastInterval
	}
	if si := m.svc.Health.StartInterval; si > 0 {
		return max(si, m.cfg.ExecSpacing)
	}
	return m.cfg.ExecSpacing
}

// awaitingFirstSuccess: started, and not yet seen healthy since.
func (m *machine) awaitingFirstSuccess() bool { return m.st == Starting && !m.everHealthy }

// handleProbe takes a check's result; one of an older start is dropped.
func (m *machine) handleProbe(p probeOutcome) {
	if p.gen != m.gen || !m.probeDue() {
		return
	}
	now := m.now
	m.lastCheck, m.lastCheckAt = p.res, now
	m.emit(effect{kind: doRecordProbe, probe: p.res, at: now})
	if p.res.Err != nil {
		// Could not probe: health stays as it was.
		m.log.Debug("health check could not run", "error", p.res.Err)
		m.nextProbe = now.Add(m.currentInterval())
		return
	}
	if p.res.Healthy {
		m.onHealthy(now)
	} else {
		m.onUnhealthy(now, p.res)
	}
	m.nextProbe = now.Add(m.currentInterval())
}

// currentInterval is the wait before the next check (the schedule above).
func (m *machine) currentInterval() time.Duration {
	d := m.interval()
	if m.awaitingFirstSuccess() {
		d = m.startInterval()
		if m.now.Sub(m.startedAt) < m.cfg.FastWindow {
			d = m.fastInterval()
		}
	}
	if m.execSpaced() {
		d = max(d, m.cfg.ExecSpacing)
	}
	return d
}

func (m *machine) onHealthy(now time.Time) {
	m.probeFails = 0
	if m.st == Running {
		if m.failures > 0 && now.Sub(m.healthySince) >= m.cfg.StableWindow {
			m.failures = 0
			m.save()
			m.publish("")
		}
		return
	}
	prev := m.st
	m.st = Running
	m.healthySince = now
	m.nextRestart = time.Time{}
	m.detail = ""
	if !m.everHealthy {
		m.everHealthy = true
		close(m.healthyCh)
	}
	msg := MsgHealthy
	if prev == Unhealthy || m.failures > 0 {
		msg = MsgRecovered
		m.log.Info(fmt.Sprintf("Service %s recovered", m.svc.Name))
	}
	m.save()
	m.publish(msg)
	if m.cascadeDue {
		m.cascadeDue = false
		m.emit(effect{kind: doCascade})
	}
}

func (m *machine) onUnhealthy(now time.Time, res ProbeResult) {
	if m.awaitingFirstSuccess() {
		if now.Before(m.startedAt.Add(m.svc.Health.StartPeriod)) {
			// Failures in the start period do not count (compose semantics).
			return
		}
		if !m.lastCounted.IsZero() && now.Sub(m.lastCounted) < m.startInterval() {
			// A fast poll: counted at the start interval's pace only.
			return
		}
		m.lastCounted = now
	}
	if m.st == Unhealthy {
		return
	}
	m.probeFails++
	if m.probeFails < max(m.svc.Health.Retries, 1) {
		return
	}
	m.detail = trimOutput(m.w.redact(res.Output))
	m.log.Warn(fmt.Sprintf("Health check failed for %s", m.svc.Name), "consecutive", m.probeFails, "output", m.detail)
	m.st = Unhealthy
	m.fail(MsgHealthCheckFail)
}

// fail records one failure and asks the policy what next.
func (m *machine) fail(msg string) {
	now := m.now
	m.failures++
	m.lastFailure = now
	m.failedOnce = true
	m.probeFails = 0
	m.cascadeDue = false
	m.emit(effect{kind: doCountFailure})
	if !m.enabled || m.stopping {
		m.save()
		m.publish(msg)
		return
	}
	d := m.pol.DecideFailure(m.failures, m.st == Unhealthy)
	if d.Action == ActionHold {
		m.hold(msg, d.Reason)
		return
	}
	if d.Action == ActionDisable {
		m.log.Error(fmt.Sprintf("Service %s exceeded %d failures", m.svc.Name, m.pol.MaxFailures))
		m.turnOff(MsgMaxFailures)
		m.save()
		m.publish(msg)
		m.publish(MsgMaxFailures)
		m.emit(effect{kind: doPokeAll})
		return
	}
	m.nextRestart = now.Add(d.Delay)
	m.log.Info(fmt.Sprintf("Service %s in backoff, %.1fs remaining", m.svc.Name, d.Delay.Seconds()), "failure_count", m.failures)
	m.save()
	m.publish(msg)
	m.emit(effect{kind: doPokeAll})
}
