package supervisor

import (
	"fmt"
	"time"
)

// handleCommand carries out a command; its error is the caller's answer.
func (m *machine) handleCommand(c command) error {
	switch c.kind {
	case cmdQuiesce:
		m.stopping = true
		m.nextRestart = time.Time{}
		return nil
	case cmdUpdate:
		m.redefine(c)
		return nil
	case cmdRecreate:
		return m.recreateNow(c.reason)
	case cmdUserStop:
		return m.userStop()
	case cmdUserStart:
		return m.userStart()
	case cmdDisable:
		m.disable()
		return nil
	case cmdEnable:
		m.enable()
		return nil
	case cmdRestart:
		m.restartAsked(c)
		return nil
	}
	return fmt.Errorf("unknown command %d", c.kind)
}

// redefine takes the service's new definition after a reload.
func (m *machine) redefine(c command) {
	m.svc = c.svc
	m.pol = c.pol
	m.outdated = c.reason
	m.publish("")
	if !m.launched {
		m.checkLaunch()
	}
}

func (m *machine) disable() {
	m.turnOff(MsgDisabled)
	m.save()
	m.publish(MsgDisabled)
	m.emit(effect{kind: doPokeAll})
}

// enable undoes a disable with the failure count reset: a running
// container is checked anew, a stopped one restarted at once.
func (m *machine) enable() {
	now := m.now
	wasEnabled := m.enabled
	m.enabled = true
	m.disabledWhy = ""
	m.failures = 0
	if !wasEnabled {
		m.enterDown()
		if m.ctr.Running && m.launched {
			// Its start period stays the one its container began.
			m.enterStarting(m.startedAt, now)
		} else if m.launched {
			m.nextRestart = now // auto-restart
		}
	}
	m.save()
	m.publish(MsgEnabled)
	m.checkLaunch()
}

// restartAsked handles a restart by hand or for a dependency.
func (m *machine) restartAsked(c command) {
	if c.reset {
		m.failures = 0
		m.save()
	}
	if c.manual {
		m.log.Info("manual restart", "reset_failures", c.reset)
		m.publish(MsgManualRestart)
	} else {
		m.log.Info("restart", "reason", c.reason)
		m.publish(c.reason)
	}
	if m.acting {
		// Single flight: a start or restart is already running; the
		// request joins it rather than running a second one.
		return
	}
	m.restartNow(c)
}

// userStopped: the service is down because the user stopped it.
func (m *machine) userStopped() bool {
	return !m.enabled && m.disabledWhy == DetailStoppedByUser
}

// turnOff is the one way into DISABLED, or STOPPED by the user: the agent
// no longer restarts the service, for the reason why (kept in the store,
// so that it survives an agent restart).
func (m *machine) turnOff(why string) {
	m.enabled = false
	m.disabledWhy = why
	m.nextRestart = time.Time{}
	m.st = m.offStatus()
}

// offStatus is the state of a service the agent does not restart: STOPPED
// when the user stopped it, else DISABLED.
func (m *machine) offStatus() Status {
	if m.userStopped() {
		return Stopped
	}
	return Disabled
}

func (m *machine) userStop() error {
	m.turnOff(DetailStoppedByUser)
	m.detail = ""
	m.log.Info(fmt.Sprintf("Service %s stopped by the user", m.svc.Name))
	m.save()
	m.publish(MsgStoppedByUser)
	m.emit(effect{kind: doPokeAll})
	return nil
}

func (m *machine) userStart() error {
	m.enable()
	if m.ctr.Running || m.acting || !m.launched {
		return nil // running already, or bring-up starts it (checkLaunch)
	}
	m.publish(MsgStartedByUser)
	m.restartNow(command{kind: cmdRestart, reason: MsgStartedByUser})
	return nil
}

// stopIfUserStopped stops a container that a start already under way
// brought up after the user asked for the service to stop.
func (m *machine) stopIfUserStopped() {
	if !m.userStopped() || !m.ctr.Running || m.ctr.ID == "" {
		return
	}
	m.log.Info("stopping the container a start brought up after the user stopped the service")
	m.emit(effect{kind: doStop, ctr: m.ctr, grace: m.svc.StopTimeout(m.cfg.StopTimeout)})
}

// recreateNow replaces the outdated container (cmdRecreate).
func (m *machine) recreateNow(why string) error {
	if why != "" {
		m.outdated = why
	}
	switch {
	case m.outdated == "":
		return errAlreadyCurrent
	case !m.enabled || m.stopping || m.acting || !m.launched || m.ctr.ID == "":
		return errRecreateLater
	}
	m.log.Info("recreating the container", "why", m.outdated)
	m.nextRestart = time.Time{} // the recreate is the restart a backoff waited for
	m.begin(actRecreate, false)
	return nil
}
