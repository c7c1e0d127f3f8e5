package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

const (
	convergeLimit = 90 * time.Second
	pollEvery     = 250 * time.Millisecond
)

type convergeResult struct {
	ok          bool
	at          time.Time // when it converged (or gave up)
	restartedAt time.Time // when the target's restart_count reached the expected value
	last        map[string]service
	why         string
}

// converge polls the agent until every supervised service is running with
// at least the restarts the ledger expects and the crash-looper is
// disabled, or limit passes. An agent that died on its own is a violation;
// it is started again so that the run can go on.
func (c *chaos) converge(ctx context.Context, limit time.Duration, target string) convergeResult {
	deadline := time.Now().Add(limit)
	var res convergeResult
	for {
		if ctx.Err() != nil {
			res.why = ctx.Err().Error()
			res.at = time.Now()
			return res
		}
		if crashed, err := c.agent.crashed(); crashed {
			c.violate("the agent exited on its own (%v); see %s", err, c.agent.log)
			if err := c.agent.start(); err != nil {
				res.why = "agent could not be restarted: " + err.Error()
				res.at = time.Now()
				return res
			}
			for _, e := range c.exp {
				e.agentStarted(time.Now())
			}
		}
		ss, err := services(ctx)
		now := time.Now()
		if err == nil {
			res.last = ss
			c.observe(ss, now)
			if t, ok := ss[target]; ok && res.restartedAt.IsZero() && t.RestartCount >= c.exp[target].restarts {
				res.restartedAt = now
			}
			why := c.unconverged(ss)
			if why == "" {
				res.ok, res.at = true, now
				return res
			}
			res.why = why
		} else {
			res.why = "agent API: " + err.Error()
		}
		if now.After(deadline) {
			res.at = now
			return res
		}
		time.Sleep(pollEvery)
	}
}

func (c *chaos) observe(ss map[string]service, now time.Time) {
	for name, e := range c.exp {
		if s, ok := ss[name]; ok {
			e.observe(s, now)
		}
	}
}

// unconverged says what is not there yet ("" when everything is).
func (c *chaos) unconverged(ss map[string]service) string {
	var waiting []string
	for _, sp := range specs {
		s, ok := ss[sp.name]
		switch {
		case !ok:
			waiting = append(waiting, sp.name+" missing")
		case sp.crashLoop && s.Status != "disabled":
			waiting = append(waiting, fmt.Sprintf("%s %s (want disabled)", sp.name, s.Status))
		case sp.crashLoop:
		case s.Status != "running":
			waiting = append(waiting, fmt.Sprintf("%s %s", sp.name, s.Status))
		case s.RestartCount < c.exp[sp.name].restarts:
			waiting = append(waiting, fmt.Sprintf("%s restarts %d (want %d)", sp.name, s.RestartCount, c.exp[sp.name].restarts))
		}
	}
	return strings.Join(waiting, ", ")
}

// checkCounts compares the agent's counts with the ledger after a
// convergence and reports each new difference once (the verdict at the
// end compares again).
func (c *chaos) checkCounts(ss map[string]service, when string) {
	if ss == nil {
		return
	}
	now := time.Now()
	names := make([]string, 0, len(c.exp))
	for n := range c.exp {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		e, s := c.exp[name], ss[name]
		var diff []string
		if s.RestartCount != e.restarts {
			diff = append(diff, fmt.Sprintf("restart_count %d, ledger says %d", s.RestartCount, e.restarts))
		}
		if e.settle(now) && s.FailureCount != e.failures {
			diff = append(diff, fmt.Sprintf("failure_count %d, ledger says %d", s.FailureCount, e.failures))
		}
		key := strings.Join(diff, "; ")
		if key != c.lastDiff[name] {
			c.lastDiff[name] = key
			if key != "" {
				c.say("   ! %s %s: %s", when, name, key)
			}
		}
	}
}
