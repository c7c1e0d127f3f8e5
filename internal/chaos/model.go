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
type expect struct {
	spec svcSpec

	kills, unhealthy, downKills int

	restarts int // expected restart_count: kills + unhealthy
	failures int // expected failure_count: seen faults since the last reset

	// The agent's "healthy since" (which the stable window counts from)
	// lies in [hLow, hHigh]: hLow is when the last event that reset it
	// happened (a fault on the service, an agent start), hHigh when the
	// driver first saw the service running again afterwards.
	hLow, hHigh time.Time
	// needHigh: hHigh is not known yet (the service has not been seen
	// running since hLow).
	needHigh bool
}

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
	case !e.needHigh && t.Sub(e.hHigh) >= stableWindow+resetMargin:
		return wasReset
	default:
		return maybeReset
	}
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
