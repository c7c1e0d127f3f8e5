package main

import (
	"time"
)

// resetMargin covers how late after the stable window the agent's next
// healthy check runs (one interval plus a slow check) plus poll slack.
const resetMargin = checkInterval + checkTimeout + 2*time.Second

// expect is the ledger of one service and the counts it implies.
//
// The rule: every fault the agent sees costs exactly one failure and one
// restart. A kill or an unhealthy-forcing while the agent runs is seen (the
// engine's die event, or checkRetries failed checks), so it adds 1 to
// restart_count and 1 to failure_count. A kill while the agent is down is
// not seen: the agent comes back to an exited container and starts it as
// part of bring-up, which the agent counts as neither (downKills). Agent,
// Podman API and Redis restarts cost no service anything. failure_count
// goes back to 0 once the service has been healthy for the stable window.
//
// An engine outage costs nobody anything either: the agent's start attempts
// against an unreachable engine are host conditions, not failures. A kill
// during the outage (outageKills) is seen (the agent watches the process;
// the engine's die event is replayed once it is back) and costs one
// failure and one restart, the restart made once the engine answers. While
// the engine is away no exec health check runs, so a stable-window reset
// due then may come only after it (see latestReset).
type expect struct {
	spec svcSpec

	kills, unhealthy, downKills, outageKills int

	restarts int // expected restart_count: kills + unhealthy + outageKills
	failures int // expected failure_count: seen faults since the last reset

	// The agent's "healthy since" (which the stable window counts from)
	// lies in [hLow, hHigh]: hLow is when the last event that reset it
	// happened (a fault on the service, an agent start), hHigh when the
	// driver first saw the service running again afterwards.
	hLow, hHigh time.Time
	// needHigh: hHigh is not known yet (the service has not been seen
	// running since hLow).
	needHigh bool

	// blind lists the engine outages (shared by every service).
	blind *[]outage
}

// outage is a span without exec health checks; end is zero while it lasts.
type outage struct{ start, end time.Time }

// resetState says what the stable window has done to failure_count at t.
type resetState int

const (
	notReset resetState = iota
	wasReset
	maybeReset
)

func (e *expect) resetAt(t time.Time) resetState {
	switch {
	case e.failures == 0:
		return notReset
	case t.Sub(e.hLow) < stableWindow:
		return notReset
	case !e.needHigh && !t.Before(e.latestReset()):
		return wasReset
	default:
		return maybeReset
	}
}

// latestReset is when the reset has happened at the latest: a margin
// after the window ran out, or after the end of an engine outage that
// overlaps the span the reset was due in and may have held back the
// healthy check that makes it (never, while that outage lasts).
func (e *expect) latestReset() time.Time {
	earliest, latest := e.hLow.Add(stableWindow), e.hHigh.Add(stableWindow+resetMargin)
	if e.blind == nil {
		return latest
	}
	for _, o := range *e.blind {
		if latest.Before(o.start) || (!o.end.IsZero() && o.end.Before(earliest)) {
			continue
		}
		if o.end.IsZero() {
			return time.Unix(1<<40, 0)
		}
		latest = maxTime(latest, o.end.Add(resetMargin))
	}
	return latest
}

// settle applies a certain reset; it reports false while the count is
// ambiguous at t (the reset may or may not have happened yet).
func (e *expect) settle(t time.Time) bool {
	switch e.resetAt(t) {
	case wasReset:
		e.failures = 0
		return true
	case maybeReset:
		return false
	}
	return true
}

// unsure reports whether failure_count is ambiguous within the next d:
// a fault must not land there, or nobody could say what it was added to.
func (e *expect) unsure(t time.Time, d time.Duration) bool {
	return e.resetAt(t) == maybeReset || e.resetAt(t.Add(d)) == maybeReset
}

// seen records a fault the agent will see.
func (e *expect) seen(at time.Time) {
	e.restarts++
	e.failures++
	e.hLow, e.needHigh = at, true
}

// agentStarted: a fresh agent counts "healthy since" anew for everyone.
func (e *expect) agentStarted(at time.Time) {
	e.hLow, e.needHigh = at, true
}

// observe notes a status poll: the first time the service is running with
// the expected restarts after hLow fixes hHigh.
func (e *expect) observe(s service, at time.Time) {
	if e.needHigh && s.Status == "running" && s.RestartCount >= e.restarts {
		e.hHigh, e.needHigh = at, false
	}
}
