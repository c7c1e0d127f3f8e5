package supervisor

import (
	"context"
	"fmt"
)

// onCondition handles a start that failed for the host's reason, not the
// service's: the image cannot be had, the GPU runtime is missing, the
// engine cannot start containers or cannot be reached. The service shows
// the condition and is retried with the policy's backoff, counted apart
// from failures: fixing the host must not find it DISABLED.
func (r *runner) onCondition(ctx context.Context, a actionResult, why string) {
	if a.slot != nil {
		a.slot.Release()
	}
	if a.ctr.ID != "" {
		r.setContainer(a.ctr)
	}
	r.condKind = a.kind
	switch {
	case a.kind == actRecreate && r.ctr.Running:
		// The image is checked before the outdated container is touched:
		// it keeps serving until the new one can be made.
	case r.ctr.ID == "":
		r.st = NotFound
	default:
		r.st = Stopped
	}
	changed := why != r.condition
	r.condition, r.detail = why, why
	r.condWide = r.s.engineWide(a.err)
	r.condAttempts++
	// Soft dependents go ahead degraded, as after a failure.
	r.failedOnce = true
	if !r.enabled || r.stopping {
		if !r.enabled {
			r.st = Disabled
		}
		r.publish("")
		return
	}
	delay := r.pol.Delay(r.condAttempts)
	r.nextRestart = r.s.clock.Now().Add(delay)
	msg := ""
	if changed {
		msg = MsgHostCondition
	}
	switch {
	case changed && !r.condWide:
		// One line per change of condition, not one per retry.
		r.log.Warn(fmt.Sprintf("Service %s cannot start: %s", r.svc.Name, why), "retry_in", delay, "attempt", r.condAttempts)
	case changed:
		// The engine's own condition: one line for the host (logHostCondition).
		r.log.Debug("start refused by an engine-wide condition", "condition", why, "retry_in", delay)
	default:
		r.log.Debug("host condition persists", "condition", why, "retry_in", delay, "attempt", r.condAttempts)
	}
	r.save(ctx)
	r.publish(msg)
	r.s.pokeAll()
}

// clearCondition notes that a start got past the host condition.
func (r *runner) clearCondition() {
	if r.condition == "" {
		return
	}
	if r.condWide {
		r.log.Debug("engine-wide condition cleared", "was", r.condition, "attempts", r.condAttempts)
		r.condition, r.condAttempts, r.condWide = "", 0, false
		return
	}
	r.log.Info(fmt.Sprintf("Service %s: host condition cleared", r.svc.Name), "was", r.condition, "attempts", r.condAttempts)
	r.condition, r.condAttempts, r.condWide = "", 0, false
}

// noteProgress hands a pull or build progress line to the runner; only
// the latest waiting line matters, so an older one is dropped.
func (r *runner) noteProgress(line string) {
	for range 2 {
		select {
		case r.notes <- line:
			return
		default:
		}
		select {
		case <-r.notes:
		default:
		}
	}
}
