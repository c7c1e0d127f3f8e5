package supervisor

import (
	"context"
	"fmt"
	"time"
)

// complete records a clean exit that the restart policy (no, on-failure)
// takes as the service's work done: STOPPED with "completed (exit 0)",
// no restart, the failure count untouched. Dependents waiting for
// service_completed_successfully are poked through the published view.
func (r *runner) complete(ctx context.Context) {
	r.st = Stopped
	r.detail = DetailCompleted
	r.nextRestart = time.Time{}
	r.probeFails = 0
	r.cascadeDue = false
	r.log.Info(fmt.Sprintf("Service %s completed (exit 0)", r.svc.Name), "restart", r.pol.Restart.String())
	r.save(ctx)
	r.publish(MsgCompleted)
}

// finishedAtOnce handles a start whose container had already exited 0
// when it was inspected: a one-shot job faster than the engine's answer.
func (r *runner) finishedAtOnce(ctx context.Context, a actionResult, now time.Time) {
	if a.slot != nil {
		a.slot.Release()
	}
	r.setContainer(a.ctr)
	r.launched = true
	r.gen++
	r.startedAt = now
	if a.kind == actRestart {
		r.restarts++
		r.lastRestart = now
	}
	r.complete(ctx)
}

// hold leaves a failed service as it is because its restart policy says
// so (restart: no; on-failure past its count or after a failed health
// check): no backoff, no restart, the reason in the detail. A manual
// restart still works.
func (r *runner) hold(ctx context.Context, msg, reason string) {
	r.nextRestart = time.Time{}
	if r.detail != "" {
		reason = r.detail + "; " + reason
	}
	r.detail = reason
	r.log.Warn(fmt.Sprintf("Service %s not restarted", r.svc.Name), "why", reason, "failure_count", r.failures)
	r.save(ctx)
	r.publish(msg)
	r.s.pokeAll()
}
