package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

type faultKind int

const (
	faultKill faultKind = iota
	faultUnhealthy
	faultAPI
	faultRedis
	faultAgent
	// faultOutage stops the Podman API for 10-60 s and kills services
	// (podman CLI, straight on the storage) meanwhile.
	faultOutage
	// faultRedisAgent SIGKILLs the agent during a Redis outage and starts
	// it again while Redis is still down.
	faultRedisAgent
	numKinds
)

var kindNames = [numKinds]string{"kill", "unhealthy", "api-restart", "redis-restart", "agent-kill", "engine-outage", "redis-agent-kill"}

func (k faultKind) String() string {
	if k < 0 || k >= numKinds {
		return fmt.Sprintf("fault(%d)", int(k))
	}
	return kindNames[k]
}

// kindWeights: how often each kind is drawn (percent).
var kindWeights = [numKinds]int{32, 22, 10, 10, 12, 8, 6}

func parseKinds(list string) (map[faultKind]bool, error) {
	on := map[faultKind]bool{}
	if list == "" {
		for k := range numKinds {
			on[k] = true
		}
		return on, nil
	}
	for _, name := range strings.Split(list, ",") {
		i := slices.Index(kindNames[:], strings.TrimSpace(name))
		if i < 0 {
			return nil, fmt.Errorf("unknown fault kind %q (know %s)", name, strings.Join(kindNames[:], ", "))
		}
		on[faultKind(i)] = true
	}
	return on, nil
}

// fault is one entry of the ledger.
type fault struct {
	Seq    int           `json:"seq"`
	Kind   string        `json:"kind"`
	Target string        `json:"target,omitempty"`
	At     time.Duration `json:"at_ns"` // since injection began
	// Outage is how long the driver held the component down (API, Redis,
	// agent); zero for kills and unhealthy-forcings.
	Outage time.Duration `json:"outage_ns"`
	// Recovery runs from the end of the outage (the injection itself for
	// kills and forcings) to the stack converging again.
	Recovery  time.Duration `json:"recovery_ns"`
	Recovered bool          `json:"recovered"`
	// Restarted is how long the target took to be restarted (kills and
	// forcings): detection + backoff + start.
	Restarted time.Duration `json:"restarted_ns,omitempty"`
	DownKill  string        `json:"down_kill,omitempty"`
	// OutageKills: services killed while the Podman API was down.
	OutageKills []string `json:"outage_kills,omitempty"`
	Note        string   `json:"note,omitempty"`
}

// draw is one step of the seeded schedule. Every step consumes the same
// random numbers whatever is chosen, so a seed always yields the same
// sequence of draws; only the substitution of an ineligible target (logged)
// depends on timing.
type draw struct {
	gap                  time.Duration
	kindRoll, target     int
	downFor              time.Duration
	downKill, downTarget int
	// outageFor and outageKills/outageTargets shape an engine outage.
	outageFor     time.Duration
	outageKills   int
	outageTargets [2]int
}

func (c *chaos) nextDraw() draw {
	return draw{
		gap:        5*time.Second + time.Duration(c.rng.IntN(10_000))*time.Millisecond,
		kindRoll:   c.rng.IntN(100),
		target:     c.rng.IntN(1000),
		downFor:    time.Second + time.Duration(c.rng.IntN(2000))*time.Millisecond,
		downKill:   c.rng.IntN(100),
		downTarget: c.rng.IntN(1000),
		outageFor:  10*time.Second + time.Duration(c.rng.IntN(50_000))*time.Millisecond,
		// At least one kill per outage: that is the combination to test.
		outageKills:   1 + c.rng.IntN(2),
		outageTargets: [2]int{c.rng.IntN(1000), c.rng.IntN(1000)},
	}
}

// pickKind maps a roll onto the enabled kinds by weight.
func (c *chaos) pickKind(roll int) faultKind {
	total := 0
	for k := range numKinds {
		if c.kinds[k] {
			total += kindWeights[k]
		}
	}
	r := roll * total / 100
	for k := range numKinds {
		if !c.kinds[k] {
			continue
		}
		if r < kindWeights[k] {
			return k
		}
		r -= kindWeights[k]
	}
	return faultAPI
}

// eligible: a service can take one more seen fault now without its
// failure count being ambiguous or reaching max_failures.
func (c *chaos) eligible(name string, now time.Time) bool {
	e := c.exp[name]
	if e.unsure(now, 3*time.Second) || !e.settle(now) {
		return false
	}
	return e.failures+1 <= maxFailures-1
}

// weighted maps a draw onto a service index by the services' weights.
func (c *chaos) weighted(roll int) int {
	total := 0
	for _, name := range c.order {
		total += c.exp[name].spec.weight
	}
	r := roll % total
	for i, name := range c.order {
		if r < c.exp[name].spec.weight {
			return i
		}
		r -= c.exp[name].spec.weight
	}
	return 0
}

// why says what keeps a service from taking a fault now.
func (c *chaos) why(name string, now time.Time) string {
	e := c.exp[name]
	if e.unsure(now, 3*time.Second) {
		return "its failure count is at the stable-window edge"
	}
	return fmt.Sprintf("rests at %d failures until its stable window resets it", e.failures)
}

// choose turns a draw into a fault kind and target, substituting when the
// drawn target cannot take the fault; ok false skips the slot.
func (c *chaos) choose(d draw, now time.Time) (kind faultKind, target, note string, ok bool) {
	kind = c.pickKind(d.kindRoll)
	switch kind {
	case faultKill, faultUnhealthy:
		n, first := len(c.order), c.weighted(d.target)
		for i := range n {
			name := c.order[(first+i)%n]
			if c.eligible(name, now) {
				if i > 0 {
					note = fmt.Sprintf("drawn %s not eligible: %s", c.order[first], c.why(c.order[first], now))
				}
				return kind, name, note, true
			}
		}
		note = "no service could take a " + kind.String()
	case faultAgent, faultRedisAgent:
		// A fresh agent starts every stable window anew: while a service
		// rests at its cap waiting for its reset, the agent is left alone.
		blocked := slices.IndexFunc(c.order, func(n string) bool {
			e := c.exp[n]
			return e.unsure(now, 2*time.Second) || (e.settle(now) && e.failures >= maxFailures-1)
		})
		if blocked < 0 {
			return kind, "", "", true
		}
		note = "no agent kill while " + c.order[blocked] + " " + c.why(c.order[blocked], now)
	default:
		return kind, "", "", true
	}
	for _, k := range []faultKind{faultAPI, faultRedis} {
		if c.kinds[k] {
			return k, "", note + "; " + k.String() + " instead", true
		}
	}
	return kind, "", note, false
}

// inject performs one fault and waits for the stack to converge again.
func (c *chaos) inject(ctx context.Context, seq int, d draw) *fault {
	now := time.Now()
	kind, target, note, ok := c.choose(d, now)
	if !ok {
		c.say("#%d skipped: %s", seq, note)
		return nil
	}
	f := &fault{Seq: seq, Kind: kind.String(), Target: target, At: now.Sub(c.injectFrom), Note: note}
	var err error
	mark := c.agent.logSize()
	switch kind {
	case faultKill:
		_, err = c.pm.Podman(ctx, "kill", containerName(target))
		if err == nil {
			c.exp[target].kills++
			c.exp[target].seen(now)
		}
	case faultUnhealthy:
		err = forceUnhealthy(ctx, c.exp[target].spec.port)
		if err == nil {
			c.exp[target].unhealthy++
			c.exp[target].seen(now)
		}
	case faultAPI:
		c.pm.StopAPI()
		time.Sleep(d.downFor / 2)
		err = c.pm.StartAPI(ctx)
	case faultRedis:
		c.redis.kill()
		time.Sleep(d.downFor)
		err = c.redis.start()
	case faultAgent:
		err = c.agentDown(ctx, d, f)
	case faultOutage:
		err = c.engineOutage(ctx, d, f)
	case faultRedisAgent:
		// Redis down first, then the agent killed and started again
		// while Redis is still away: it must come up on the file store.
		c.redis.kill()
		time.Sleep(d.downFor / 2)
		if err = c.agentDown(ctx, d, f); err == nil {
			time.Sleep(d.downFor)
			err = c.redis.start()
		}
	}
	// Kills and forcings recover from the moment they were made; the
	// other faults from when the driver let the component come back.
	back := now
	if kind != faultKill && kind != faultUnhealthy {
		back = time.Now()
		f.Outage = back.Sub(now)
	}
	if err != nil {
		c.violate("fault #%d %s %s: could not inject: %v", seq, kind, target, err)
		f.Note = strings.TrimPrefix(f.Note+"; inject failed: "+err.Error(), "; ")
		c.faults = append(c.faults, f)
		return f
	}
	c.say("#%d %s %s%s", seq, kind, target, c.faultDetail(f))
	if kind == faultOutage && len(f.OutageKills) > 0 {
		target = f.OutageKills[0]
	}
	res := c.converge(ctx, convergeLimit, target)
	f.Recovered, f.Recovery = res.ok, res.at.Sub(back)
	if target != "" && !res.restartedAt.IsZero() && kind != faultOutage {
		f.Restarted = res.restartedAt.Sub(now)
	}
	if !res.ok {
		c.violate("fault #%d %s %s: stack not converged %s after the fault: %s", seq, kind, target, convergeLimit, res.why)
	}
	switch kind {
	case faultAPI:
		// Nothing to restart; what must recover is the agent's event
		// stream (re-list and resubscribe), or kills go unseen until a
		// health check fails.
		at, ok := c.agent.waitLog(mark, `msg="Event stream resumed"`, 30*time.Second)
		f.Recovery = max(f.Recovery, at.Sub(back))
		if !ok {
			f.Recovered = false
			c.violate("fault #%d api-restart: the agent did not resume its event stream within 30s", seq)
		}
	case faultOutage:
		// Back within 10 s of the API returning, and nobody lost or
		// disabled on the way (checked during the outage too).
		if res.ok && f.Recovery > outageRecoveryLimit {
			c.violate("fault #%d engine-outage: the stack took %s after the API came back to be running again (limit %s)", seq, round(f.Recovery), outageRecoveryLimit)
		}
		if why := c.duplicates(ctx); why != "" {
			c.violate("fault #%d engine-outage: %s", seq, why)
		}
		// The event stream reconnects with a backoff of its own.
		at, ok := c.agent.waitLog(mark, `msg="Event stream resumed"`, 40*time.Second)
		f.Note = strings.TrimPrefix(fmt.Sprintf("%s; event stream resumed %s after the API", f.Note, round(at.Sub(back))), "; ")
		if !ok {
			c.violate("fault #%d engine-outage: the agent did not resume its event stream within 40s", seq)
		}
		for _, name := range f.OutageKills {
			c.checkDetection(ctx, &fault{Seq: f.Seq, Target: name}, faultKill, now)
		}
	case faultRedis, faultRedisAgent:
		// Recovered once Redis holds what the file store holds again.
		why := c.redisResynced(ctx, 10*time.Second)
		f.Recovery = max(f.Recovery, time.Since(back))
		if why != "" {
			f.Recovered = false
			c.violate("fault #%d redis-restart: the file store and Redis still disagree 10s after Redis came back: %s", seq, why)
			f.Note = strings.TrimPrefix(f.Note+"; redis not resynced", "; ")
		}
	}
	if kind == faultAgent || kind == faultRedisAgent {
		if why := c.duplicates(ctx); why != "" {
			c.violate("fault #%d %s: %s", seq, kind, why)
		}
	}
	if kind == faultKill || kind == faultUnhealthy {
		c.checkDetection(ctx, f, kind, now)
	}
	c.checkCounts(res.last, fmt.Sprintf("after #%d", seq))
	c.say("   recovered in %s%s", round(f.Recovery), restartedText(f))
	c.faults = append(c.faults, f)
	return f
}

func restartedText(f *fault) string {
	if f.Restarted == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s restarted %s after the fault)", f.Target, round(f.Restarted))
}

func (c *chaos) faultDetail(f *fault) string {
	var parts []string
	if f.Outage > 100*time.Millisecond {
		parts = append(parts, "down "+round(f.Outage).String())
	}
	if f.DownKill != "" {
		parts = append(parts, "killed "+f.DownKill+" while the agent was down")
	}
	if len(f.OutageKills) > 0 {
		parts = append(parts, "killed "+strings.Join(f.OutageKills, ", ")+" while the API was down")
	}
	if f.Note != "" {
		parts = append(parts, f.Note)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// agentDown SIGKILLs the agent, sometimes kills a service while it is
// down (a fault the agent cannot see), and starts it again.
func (c *chaos) agentDown(ctx context.Context, d draw, f *fault) error {
	c.agent.kill()
	time.Sleep(d.downFor / 2)
	if d.downKill < 40 {
		name := c.order[d.downTarget%len(c.order)]
		if _, err := c.pm.Podman(ctx, "kill", containerName(name)); err != nil {
			return err
		}
		c.exp[name].downKills++
		f.DownKill = name
	}
	time.Sleep(d.downFor / 2)
	at := time.Now()
	if err := c.agent.start(); err != nil {
		return err
	}
	for _, e := range c.exp {
		e.agentStarted(at)
	}
	return nil
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }

// Failure events as the agent words them in its event log.
const (
	msgDied      = "Container stopped"
	msgUnhealthy = "Health check failed"
)

// checkDetection asks the agent's event history how it noticed the fault:
// a kill must be seen from the engine's die event ("Container stopped"),
// not from health checks failing seconds later; a forcing from the checks.
func (c *chaos) checkDetection(ctx context.Context, f *fault, kind faultKind, at time.Time) {
	want := msgDied
	if kind == faultUnhealthy {
		want = msgUnhealthy
	}
	evs, err := events(ctx, 200)
	if err != nil {
		c.say("   (event history unavailable: %v)", err)
		return
	}
	for _, ev := range evs {
		if ev.Data.Name != f.Target || ev.Time.Before(at.Add(-time.Second)) {
			continue
		}
		if ev.Message != msgDied && ev.Message != msgUnhealthy {
			continue
		}
		if ev.Message != want {
			c.violate("fault #%d %s %s: the agent noticed it as %q, want %q", f.Seq, kind, f.Target, ev.Message, want)
		}
		return
	}
	c.violate("fault #%d %s %s: no %q event for it in the agent's history", f.Seq, kind, f.Target, want)
}

// outageRecoveryLimit: after an engine outage every service is running
// (healthy) again this soon after the API answers.
const outageRecoveryLimit = 10 * time.Second

// engineOutage stops the Podman API service for d.outageFor and kills
// services meanwhile with the podman CLI, which works on the storage
// without the API service. While the API is away the agent must keep
// every service enabled; the driver polls it to check.
func (c *chaos) engineOutage(ctx context.Context, d draw, f *fault) error {
	stopped := time.Now()
	c.pm.StopAPI()
	*c.blind = append(*c.blind, outage{start: stopped})
	defer func() { (*c.blind)[len(*c.blind)-1].end = time.Now() }()
	end := stopped.Add(d.outageFor)
	for i := range d.outageKills {
		at := stopped.Add(d.outageFor * time.Duration(i+1) / time.Duration(d.outageKills+1))
		c.watchOutage(ctx, at, f)
		name := c.outageTarget(d.outageTargets[i], f.OutageKills)
		if name == "" {
			f.Note = strings.TrimPrefix(f.Note+"; no service could take a kill during the outage", "; ")
			continue
		}
		now := time.Now()
		if _, err := c.pm.Podman(ctx, "kill", containerName(name)); err != nil {
			return fmt.Errorf("podman kill %s with the API down: %w", name, err)
		}
		c.exp[name].outageKills++
		c.exp[name].seen(now)
		f.OutageKills = append(f.OutageKills, name)
	}
	c.watchOutage(ctx, end, f)
	return c.pm.StartAPI(ctx)
}

// outageTarget picks an eligible service not killed yet in this outage.
func (c *chaos) outageTarget(roll int, taken []string) string {
	now := time.Now()
	n, first := len(c.order), c.weighted(roll)
	for i := range n {
		name := c.order[(first+i)%n]
		if !slices.Contains(taken, name) && c.eligible(name, now) {
			return name
		}
	}
	return ""
}

// watchOutage polls the agent until t: it must keep answering, and no
// supervised service may be disabled for the engine's absence.
func (c *chaos) watchOutage(ctx context.Context, t time.Time, f *fault) {
	reported := map[string]bool{}
	for time.Now().Before(t) && ctx.Err() == nil {
		ss, err := services(ctx)
		if err != nil {
			if !reported[""] {
				reported[""] = true
				c.violate("fault #%d engine-outage: the agent's API did not answer during the outage: %v", f.Seq, err)
			}
		} else {
			c.observe(ss, time.Now())
			for _, name := range c.order {
				if s := ss[name]; (s.Status == "disabled" || !s.Enabled) && !reported[name] {
					reported[name] = true
					c.violate("fault #%d engine-outage: %s %s (enabled %t) during the outage: %s", f.Seq, name, s.Status, s.Enabled, s.Detail)
				}
			}
		}
		sleepUntil(ctx, minTime(t, time.Now().Add(time.Second)))
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
