package supervisor

import (
	"context"
	"fmt"
	"time"
)

func (r *runner) handleCommand(ctx context.Context, c command) error {
	switch c.kind {
	case cmdQuiesce:
		r.stopping = true
		r.nextRestart = time.Time{}
		return nil
	case cmdUpdate:
		r.redefine(ctx, c)
		return nil
	case cmdRecreate:
		return r.recreateNow(ctx, c.reason)
	case cmdUserStop:
		return r.userStop(ctx)
	case cmdUserStart:
		return r.userStart(ctx)
	case cmdDisable:
		r.disable(ctx)
		return nil
	case cmdEnable:
		r.enable(ctx)
		return nil
	case cmdRestart:
		r.restartAsked(ctx, c)
		return nil
	}
	return fmt.Errorf("unknown command %d", c.kind)
}

// redefine takes the service's new definition after a reload.
func (r *runner) redefine(ctx context.Context, c command) {
	r.svc = c.svc
	_, plan := r.s.current()
	r.pol = policyFor(plan, c.svc)
	r.probe = r.s.probes(c.svc.Service)
	r.outdated = c.reason
	r.publish("")
	if !r.launched {
		r.checkLaunch(ctx)
	}
}

func (r *runner) disable(ctx context.Context) {
	r.enabled = false
	r.st = Disabled
	r.nextRestart = time.Time{}
	r.disabledWhy = MsgDisabled
	r.save(ctx)
	r.publish(MsgDisabled)
	r.s.pokeAll()
}

// enable undoes a disable with the failure count reset: a running
// container is checked anew, a stopped one restarted at once.
func (r *runner) enable(ctx context.Context) {
	now := r.s.clock.Now()
	wasEnabled := r.enabled
	r.enabled = true
	r.disabledWhy = ""
	r.failures = 0
	if !wasEnabled {
		r.st = Stopped
		if r.ctr.ID == "" {
			r.st = NotFound
		}
		if r.ctr.Running && r.launched {
			// Its start period stays the one its container began.
			r.enterStarting(r.startedAt, now)
		} else if r.launched {
			r.nextRestart = now // auto-restart
		}
	}
	r.save(ctx)
	r.publish(MsgEnabled)
	r.checkLaunch(ctx)
}

// restartAsked handles a restart by hand or for a dependency.
func (r *runner) restartAsked(ctx context.Context, c command) {
	if c.reset {
		r.failures = 0
		r.save(ctx)
	}
	if c.manual {
		r.log.Info("manual restart", "reset_failures", c.reset)
		r.publish(MsgManualRestart)
	} else {
		r.log.Info("restart", "reason", c.reason)
		r.publish(c.reason)
	}
	if r.acting {
		// Single flight: a start or restart is already running; the
		// request joins it rather than running a second one.
		return
	}
	r.restartNow(ctx, c)
}
