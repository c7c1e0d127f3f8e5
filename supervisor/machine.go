package supervisor

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
	"github.com/hostagent/hostagent/state"
)

// machine is a service's state and the rules that move it. It takes facts
// (the time, an engine event, a probe result, a command, an action's
// result, a poke) through its fact methods, each of which returns the
// effects to carry out, in order: save, publish, start, stop, recreate,
// poke the others, cascade. It does no I/O and starts no goroutine: the
// runner feeds it and carries its effects out (runner.go), and its
// transitions are tested as tables (machine_test.go). What it must know
// of the rest while it decides (the dependencies' state, its container as
// the engine sees it) it asks through world.
type machine struct {
	svc *compose.PlannedService
	pol Policy
	cfg Config
	log *slog.Logger
	w   world
	now time.Time // the time of the fact being handled
	out []effect

	st          Status
	enabled     bool
	ctr         Container
	failures    int
	restarts    int
	lastRestart time.Time
	lastFailure time.Time
	nextRestart time.Time
	disabledWhy string
	vram        uint64
	// outdated: why the container no longer matches the file ("" when it
	// does); the next start or restart recreates it.
	outdated string

	launched     bool // bring-up started it (or adopted it running)
	failedOnce   bool // for soft dependents: this service has failed since bring-up
	stopping     bool // the agent is taking the stack down: no restarts
	gen          int  // incremented on each start; older probe results are dropped
	startedAt    time.Time
	everHealthy  bool // since the last start
	healthySince time.Time
	probeFails   int
	lastCounted  time.Time // last failure counted while awaiting the first success
	nextProbe    time.Time
	probing      bool
	lastCheck    ProbeResult
	lastCheckAt  time.Time
	acting       bool
	actingSince  time.Time // when the current action began (publish keeps it)
	cascadeDue   bool      // restarted: tell restart:true dependents once healthy
	// healthyCh closes at the first success after a start (the GPU gate's
	// settle waits on it).
	healthyCh chan struct{}
	// pending holds the engine events that came during the action in
	// flight, applied once its result is in (replayPending).
	pending    []EngineEvent
	waitingFor []string
	detail     string
	// condition is the host condition the last start ran into ("" none);
	// condAttempts counts those starts, apart from failures.
	condition    string
	condAttempts int
	condKind     actionKind // what to retry: a recreate stays one
	// condWide: the condition is the whole engine's (EngineWide).
	condWide bool
}

// world is what a machine asks of the rest while it handles a fact.
type world interface {
	// dependenciesMet and gpuAhead are the board's (board.go).
	dependenciesMet(svc *compose.PlannedService) (bool, []string)
	gpuAhead(svc *compose.PlannedService) string
	// inspect is the service's container as the engine sees it now.
	inspect(id string) (Container, error)
	// condition names a host condition in a start's error (Engine.Condition).
	hostCondition(err error) (string, bool)
	// engineWide: the condition is the whole engine's.
	engineWide(err error) bool
	// redact hides the stack's secrets in container output.
	redact(text string) string
}

// effectKind is what an effect asks the runner to do.
type effectKind int

const (
	doSave         effectKind = iota // persist rec
	doPublish                        // publish status and view, with msg an event
	doPokeAll                        // tell the others something changed
	doCascade                        // restart the restart: true dependents
	doBind                           // the container changed from oldID to ctr.ID
	doWatch                          // watch ctr's main process (stops the last watch)
	doReserveGPU                     // take the service's place at the GPU gate for act
	doAct                            // run act (start, restart, recreate) on ctr
	doRelease                        // release the GPU slot
	doSettle                         // hold slot until healthy closes or VRAM settles
	doProbe                          // run a check of ctr.ID for gen
	doStop                           // stop ctr.ID (a user-stopped service a start brought up)
	doCountFailure                   // metrics: a failure
	doDetected                       // metrics: a failure detected, at the event's time
	doRecordProbe                    // keep probe (the detail's ring, metrics)
)

var effectNames = [...]string{"save", "publish", "poke", "cascade", "bind", "watch", "reserve", "act", "release", "settle", "probe", "stop", "count-failure", "detected", "record-probe"}

func (k effectKind) String() string { return effectNames[k] }

// effect is one thing a transition asks for, with what it needs, taken
// when the transition asked (a snapshot, not the state later).
type effect struct {
	kind    effectKind
	msg     string        // publish: the event's message ("" none)
	status  ServiceStatus // publish
	view    depView       // publish
	facts   detailFacts   // publish
	rec     state.Record  // save
	act     actionKind    // reserve, act
	manual  bool          // act
	svc     *compose.PlannedService
	ctr     Container // bind, watch, act, probe, stop
	oldID   string    // bind
	vram    uint64    // reserve: the learned need
	slot    *gpu.Slot // release, settle
	healthy chan struct{}
	gen     int           // probe
	at      time.Time     // detected: the event's time
	grace   time.Duration // stop
	probe   ProbeResult   // record-probe
}

// detailFacts is what Detail shows beyond the status (detail.go).
type detailFacts struct {
	policy Policy
	name   string
	cond   string
	exit   *ExitRecord
}

func (m *machine) emit(e effect) { m.out = append(m.out, e) }

// at starts a fact: the time it is handled.
func (m *machine) at(now time.Time) { m.now = now }

// take returns the effects asked for since the last take.
func (m *machine) take() []effect {
	out := m.out
	m.out = nil
	return out
}

// adoptExited keeps an exited container of a restart no/on-failure
// service as it is when the agent restarts while the rest of the stack
// runs: a job that completed (exit 0) for the current definition is done,
// and one that failed, and that its policy no longer restarts, stays down
// with the reason; an agent restart must not run a migration again. With
// the whole stack down (a reboot, `hostagent down`) it is a new bring-up,
// and the service starts again as compose up would start it.
func (m *machine) adoptExited(stackUp bool, hash string) {
	c := m.ctr
	if !stackUp || !m.enabled || m.outdated != "" || c.ID == "" || c.Running || c.FinishedAt.IsZero() || m.pol.Restart.RestartsEveryExit() {
		return
	}
	if c.ConfigHash != "" && c.ConfigHash != hash {
		return
	}
	if m.pol.Completes(c.ExitCode) {
		m.launched = true
		m.detail = DetailCompleted
		return
	}
	d := m.pol.DecideFailure(max(m.failures, 1), false)
	if d.Action != ActionHold {
		return // failures left: bring-up starts it again
	}
	m.launched = true
	m.detail = fmt.Sprintf("exited with code %d; %s", c.ExitCode, d.Reason)
}

// nextWake is how long until the next probe or restart is due.
func (m *machine) nextWake(now time.Time) time.Duration {
	next := now.Add(time.Hour)
	// A probe or action in flight reports back on its own channel; waking
	// for its deadline meanwhile would spin.
	if m.probeDue() && !m.probing && m.nextProbe.Before(next) {
		next = m.nextProbe
	}
	if !m.nextRestart.IsZero() && !m.acting && m.nextRestart.Before(next) {
		next = m.nextRestart
	}
	return max(next.Sub(now), 0)
}

// probeDue: an unhealthy service is not probed; it waits out its backoff
// and is restarted. One its restart policy holds is still probed, so that
// it can be seen to recover.
func (m *machine) probeDue() bool {
	return m.ctr.ID != "" && m.launched && !m.acting && m.enabled && !m.stopping &&
		(m.st == Starting || m.st == Running || m.held())
}

// held: unhealthy, and the restart policy (no, on-failure) will not
// restart it; it stays UNHEALTHY, reported, until restarted by hand.
func (m *machine) held() bool {
	return m.st == Unhealthy && m.nextRestart.IsZero() && !m.acting && m.enabled && m.launched
}

// tick starts what is due: the restart a backoff waited for (or the start
// bring-up held back), and the next check.
func (m *machine) tick() {
	now := m.now
	if !m.nextRestart.IsZero() && !now.Before(m.nextRestart) && !m.acting {
		m.nextRestart = time.Time{}
		if !m.launched {
			m.checkLaunch()
		} else if m.enabled && !m.stopping {
			kind := actRestart
			if m.condition != "" && m.condKind == actRecreate {
				kind = actRecreate
			}
			m.begin(kind, false)
			if m.condition == "" {
				m.publish(MsgRestartInitiated)
			}
		}
	}
	if m.probeDue() && !m.probing && !now.Before(m.nextProbe) {
		m.probing = true
		m.emit(effect{kind: doProbe, gen: m.gen, ctr: m.ctr})
	}
}

// save persists the facts that must survive an agent restart.
func (m *machine) save() {
	rec := state.Record{
		Service:        m.svc.Name,
		Enabled:        m.enabled,
		FailureCount:   m.failures,
		RestartCount:   m.restarts,
		LastRestartAt:  m.lastRestart,
		LastFailureAt:  m.lastFailure,
		NextRestartAt:  m.nextRestart,
		DisabledReason: m.disabledWhy,
		LearnedVRAM:    m.vram,
		ContainerID:    m.ctr.ID,
		UpdatedAt:      m.now,
	}
	m.emit(effect{kind: doSave, rec: rec})
}

// publish updates the shared snapshot and, with a message, emits an event.
func (m *machine) publish(msg string) {
	now := m.now
	switch {
	case !m.acting:
		m.actingSince = time.Time{}
	case m.actingSince.IsZero():
		m.actingSince = now
	}
	m.emit(effect{kind: doPublish, msg: msg, status: m.status(now), view: m.view(), facts: m.facts()})
}

// status is the service as the API shows it.
func (m *machine) status(now time.Time) ServiceStatus {
	st := ServiceStatus{
		Name:          m.svc.Name,
		DisplayName:   m.svc.DisplayName,
		Category:      m.svc.Category.String(),
		Status:        m.st,
		Enabled:       m.enabled,
		ContainerID:   shortID(m.ctr.ID),
		Image:         m.svc.Image,
		FailureCount:  m.failures,
		RestartCount:  m.restarts,
		Phase:         m.svc.Phase,
		Track:         string(m.svc.Track),
		GPU:           m.svc.GPU.Required,
		HealthMethod:  string(m.svc.Health.Method),
		WaitingFor:    append([]string(nil), m.waitingFor...),
		Detail:        m.detail,
		LastCheckOK:   m.lastCheck.Healthy && m.lastCheck.Err == nil,
		LearnedVRAM:   m.vram,
		Ports:         m.svc.Ports,
		LastRestartAt: timeRef(m.lastRestart),
		NextRestartAt: timeRef(m.nextRestart),
		LastCheckAt:   timeRef(m.lastCheckAt),
	}
	if !m.enabled && m.disabledWhy != "" && st.Detail == "" {
		st.Detail = m.disabledWhy
	}
	for _, p := range m.svc.Ports {
		if p.HostPort > 0 && st.Port == 0 {
			st.Port = p.HostPort
		}
	}
	if !m.lastCheckAt.IsZero() {
		st.LastCheckMS = float64(m.lastCheck.Latency.Microseconds()) / 1000
	}
	if (m.st == Running || m.st == Starting) && !m.startedAt.IsZero() {
		st.StartedAt = timeRef(m.startedAt)
		st.UptimeSeconds = int64(now.Sub(m.startedAt).Seconds())
	}
	return st
}

// timeRef is t as an optional time: nil when zero.
func timeRef(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// view is what dependents, the start queue and progress need to know of
// the service.
func (m *machine) view() depView {
	v := depView{
		status:    m.st,
		started:   m.ctr.Running || (m.launched && m.st != NotFound && m.st != Stopped),
		completed: m.launched && m.ctr.ID != "" && !m.ctr.Running && m.ctr.ExitCode == 0 && !m.ctr.FinishedAt.IsZero(),
		exitCode:  m.downExitCode(),
		failed:    m.failedOnce,
		enabled:   m.enabled,
		begun:     m.launched || m.acting || m.condition != "",
		launched:  m.launched,
		held:      m.stopping || (!m.launched && !m.acting && !m.nextRestart.IsZero()),
		acting:    m.actingSince,
	}
	if m.condWide {
		v.hostCond = m.condition
	}
	return v
}

// downExitCode is the exit code of a container that exited with one, 0
// while it runs or when nothing is known.
func (m *machine) downExitCode() int {
	if !m.launched || m.ctr.ID == "" || m.ctr.Running || m.ctr.FinishedAt.IsZero() {
		return 0
	}
	return m.ctr.ExitCode
}

// setContainer takes the container as it now is: a new one is bound to
// the service (engine events find it) and its process watched.
func (m *machine) setContainer(c Container) {
	old := m.ctr
	m.ctr = c
	if old.ID != c.ID {
		m.emit(effect{kind: doBind, oldID: old.ID, ctr: c})
	}
	if old.ID != c.ID || old.PID != c.PID || !c.Running {
		m.emit(effect{kind: doWatch, ctr: c})
	}
}

// enterDown is the one way into a down state of a service that is to be
// restarted: STOPPED with a container, NOT_FOUND without one.
func (m *machine) enterDown() {
	m.st = Stopped
	if m.ctr.ID == "" {
		m.st = NotFound
	}
}

// enterStarting is the one way into STARTING: a container of the service
// runs and its health is unknown until a check succeeds. since is when its
// start period began, probeAt when the first check is due.
func (m *machine) enterStarting(since, probeAt time.Time) {
	m.st = Starting
	m.launched = true
	m.gen++ // drop results of checks made before
	m.startedAt = since
	m.everHealthy = false
	m.nextProbe = probeAt
	m.healthyCh = make(chan struct{})
}

// facts copies what the detail shows from the state.
func (m *machine) facts() detailFacts {
	f := detailFacts{policy: m.pol, name: m.ctr.Name, cond: m.condition}
	if m.ctr.ID != "" && !m.ctr.Running && !m.ctr.FinishedAt.IsZero() {
		f.exit = &ExitRecord{Code: m.ctr.ExitCode, At: m.ctr.FinishedAt, OOMKilled: m.ctr.OOMKilled}
	}
	return f
}
