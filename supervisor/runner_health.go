package supervisor

import (
	"context"
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
func (r *runner) startInterval() time.Duration {
	if si := r.svc.Health.StartInterval; si > 0 {
		return si
	}
	return min(r.s.cfg.StartInterval, r.interval())
}

func (r *runner) interval() time.Duration {
	if r.svc.Health.Interval > 0 {
		return r.svc.Health.Interval
	}
	return 30 * time.Second
}

// execSpaced: the check runs a command in the container.
func (r *runner) execSpaced() bool { return r.svc.Health.Method == compose.HealthCommand }

// fastInterval is the spacing until the first success, within FastWindow.
func (r *runner) fastInterval() time.Duration {
	if !r.execSpaced() {
		return r.s.cfg.FastInterval
	}
	if si := r.svc.Health.StartInterval; si > 0 {
		return max(si, r.s.cfg.ExecSpacing)
	}
	return r.s.cfg.ExecSpacing
}

// awaitingFirstSuccess: started, and not yet seen healthy since.
func (r *runner) awaitingFirstSuccess() bool { return r.st == Starting && !r.everHealthy }

// startProbe runs one check in the background. Its deadline and panic
// guard are the prober's own (probes.Guard, through probes.ForSpec): a
// check that hangs or panics comes back as an error result.
func (r *runner) startProbe(ctx context.Context) {
	r.probing = true
	gen, id, p := r.gen, r.ctr.ID, r.probe
	go func() {
		res := p.Probe(ctx, id)
		select {
		case r.probed <- probeOutcome{gen: gen, res: res}:
		case <-ctx.Done():
		}
	}()
}

func (r *runner) handleProbe(ctx context.Context, p probeOutcome) {
	if p.gen != r.gen || !r.probeDue() {
		return
	}
	now := r.s.clock.Now()
	r.lastCheck, r.lastCheckAt = p.res, now
	r.recordProbe(now, p.res)
	r.s.metrics.probe(r.svc.Name, p.res)
	if p.res.Err != nil {
		// Could not probe: health stays as it was.
		r.log.Debug("health check could not run", "error", p.res.Err)
		r.nextProbe = now.Add(r.currentInterval())
		return
	}
	if p.res.Healthy {
		r.onHealthy(ctx, now)
	} else {
		r.onUnhealthy(ctx, now, p.res)
	}
	r.nextProbe = now.Add(r.currentInterval())
}

// currentInterval is the wait before the next check (the schedule above).
func (r *runner) currentInterval() time.Duration {
	d := r.interval()
	if r.awaitingFirstSuccess() {
		d = r.startInterval()
		if r.s.clock.Since(r.startedAt) < r.s.cfg.FastWindow {
			d = r.fastInterval()
		}
	}
	if r.execSpaced() {
		d = max(d, r.s.cfg.ExecSpacing)
	}
	return d
}

func (r *runner) onHealthy(ctx context.Context, now time.Time) {
	r.probeFails = 0
	if r.st == Running {
		if r.failures > 0 && now.Sub(r.healthySince) >= r.s.cfg.StableWindow {
			r.failures = 0
			r.save(ctx)
			r.publish("")
		}
		return
	}
	prev := r.st
	r.st = Running
	r.healthySince = now
	r.nextRestart = time.Time{}
	r.detail = ""
	if !r.everHealthy {
		r.everHealthy = true
		close(r.healthyCh)
	}
	msg := MsgHealthy
	if prev == Unhealthy || r.failures > 0 {
		msg = MsgRecovered
		r.log.Info(fmt.Sprintf("Service %s recovered", r.svc.Name))
	}
	r.save(ctx)
	r.publish(msg)
	if r.cascadeDue {
		r.cascadeDue = false
		r.s.cascade(r.svc.Name)
	}
}

func (r *runner) onUnhealthy(ctx context.Context, now time.Time, res ProbeResult) {
	if r.awaitingFirstSuccess() {
		if now.Before(r.startedAt.Add(r.svc.Health.StartPeriod)) {
			// Failures in the start period do not count (compose semantics).
			return
		}
		if !r.lastCounted.IsZero() && now.Sub(r.lastCounted) < r.startInterval() {
			// A fast poll: counted at the start interval's pace only.
			return
		}
		r.lastCounted = now
	}
	if r.st == Unhealthy {
		return
	}
	r.probeFails++
	if r.probeFails < max(r.svc.Health.Retries, 1) {
		return
	}
	r.detail = trimOutput(r.s.redact(res.Output))
	r.log.Warn(fmt.Sprintf("Health check failed for %s", r.svc.Name), "consecutive", r.probeFails, "output", r.detail)
	r.st = Unhealthy
	r.fail(ctx, MsgHealthCheckFail)
}

// fail records one failure and asks the policy what next.
func (r *runner) fail(ctx context.Context, msg string) {
	now := r.s.clock.Now()
	r.failures++
	r.lastFailure = now
	r.failedOnce = true
	r.probeFails = 0
	r.cascadeDue = false
	r.s.metrics.failure(r.svc.Name)
	if !r.enabled || r.stopping {
		r.save(ctx)
		r.publish(msg)
		return
	}
	d := r.pol.DecideFailure(r.failures, r.st == Unhealthy)
	if d.Action == ActionHold {
		r.hold(ctx, msg, d.Reason)
		return
	}
	if d.Action == ActionDisable {
		r.log.Error(fmt.Sprintf("Service %s exceeded %d failures", r.svc.Name, r.pol.MaxFailures))
		r.enabled = false
		r.st = Disabled
		r.nextRestart = time.Time{}
		r.disabledWhy = MsgMaxFailures
		r.save(ctx)
		r.publish(msg)
		r.publish(MsgMaxFailures)
		r.s.pokeAll()
		return
	}
	r.nextRestart = now.Add(d.Delay)
	r.log.Info(fmt.Sprintf("Service %s in backoff, %.1fs remaining", r.svc.Name, d.Delay.Seconds()), "failure_count", r.failures)
	r.save(ctx)
	r.publish(msg)
	r.s.pokeAll()
}
