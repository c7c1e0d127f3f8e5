package supervisor

import (
	"context"
	"fmt"
	"time"
)

func (r *runner) handleCommand(ctx context.Context, c command) error {
	now := r.s.clock.Now()
	switch c.kind {
	case cmdQuiesce:
		r.stopping = true
		r.nextRestart = time.Time{}
		return nil
	case cmdUpdate:
		r.svc = c.svc
		_, plan := r.s.current()
		r.pol = policyFor(plan, c.svc)
		r.probe = r.s.probes(c.svc.Service)
		r.outdated = c.reason
		r.publish("")
		if !r.launched {
			r.checkLaunch(ctx)
		}
		return nil
	case cmdRecreate:
		return r.recreateNow(ctx, c.reason)
	case cmdUserStop:
		return r.userStop(ctx)
	case cmdUserStart:
		return r.userStart(ctx)
	case cmdDisable:
		r.enabled = false
		r.st = Disabled
		r.nextRestart = time.Time{}
		r.disabledWhy = MsgDisabled
		r.save(ctx)
		r.publish(MsgDisabled)
		r.s.pokeAll()
		return nil
	case cmdEnable:
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
				r.st = Starting
				r.everHealthy = false
				r.gen++
				r.healthyCh = make(chan struct{})
				r.nextProbe = now
			} else if r.launched {
				r.nextRestart = now // auto-restart
			}
		}
		r.save(ctx)
		r.publish(MsgEnabled)
		r.checkLaunch(ctx)
		return nil
	case cmdRestart:
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
			return nil
		}
		r.restartNow(ctx, c)
		return nil
	}
	return fmt.Errorf("unknown command %d", c.kind)
}
