package supervisor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
)

// Transition tests: facts in, effects out. A machine is fed facts one at
// a time, at a time the test gives; no goroutine, no clock, no engine.

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// stubWorld answers a machine's questions as the test sets them.
type stubWorld struct {
	waiting    []string  // dependencies not met
	ahead      string    // a more critical GPU service
	container  Container // what inspect finds
	inspectErr error
}

func (w *stubWorld) dependenciesMet(*compose.PlannedService) (bool, []string) {
	return len(w.waiting) == 0, w.waiting
}
func (w *stubWorld) gpuAhead(*compose.PlannedService) string { return w.ahead }
func (w *stubWorld) inspect(string) (Container, error)       { return w.container, w.inspectErr }
func (w *stubWorld) hostCondition(err error) (string, bool) {
	if errors.Is(err, errFakeImage) {
		return err.Error(), true
	}
	return "", false
}
func (w *stubWorld) engineWide(error) bool     { return false }
func (w *stubWorld) redact(text string) string { return text }

// newMachine is the machine of service name in the stack yaml, before its
// runner starts.
func newMachine(t *testing.T, yaml, name string) (*machine, *stubWorld) {
	t.Helper()
	_, plan := loadStack(t, yaml)
	ps, ok := plan.Lookup(name)
	if !ok {
		t.Fatalf("no service %s", name)
	}
	w := &stubWorld{}
	m := &machine{svc: ps, pol: policyFor(plan, ps), cfg: Config{}.withDefaults(),
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), w: w, enabled: true, st: NotFound}
	return m, w
}

// render writes effects one a line: the kind, and for a publish the
// status and the event's message, for an action its kind.
func render(effs []effect) string {
	var b strings.Builder
	for _, e := range effs {
		switch e.kind {
		case doPublish:
			fmt.Fprintf(&b, "publish %s %q", e.status.Status, e.msg)
			if len(e.status.WaitingFor) > 0 {
				fmt.Fprintf(&b, " waiting %v", e.status.WaitingFor)
			}
		case doAct, doReserveGPU:
			fmt.Fprintf(&b, "%s %s", e.kind, [...]string{"start", "restart", "recreate"}[e.act])
		case doSave:
			fmt.Fprintf(&b, "save failures=%d restarts=%d", e.rec.FailureCount, e.rec.RestartCount)
		default:
			b.WriteString(e.kind.String())
		}
		b.WriteString("\n")
	}
	return b.String()
}

const oneService = `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s, retries: 1}}
`

var (
	running = Container{ID: "c1", Running: true, PID: 42, StartedAt: t0}
	exited  = Container{ID: "c1", ExitCode: 1, FinishedAt: t0}
)

// step is one fact and the effects it must give.
type step struct {
	name string
	fact func(m *machine, w *stubWorld) []effect
	want string
}

func runSteps(t *testing.T, m *machine, w *stubWorld, steps []step) {
	t.Helper()
	for i, s := range steps {
		if got := render(s.fact(m, w)); got != s.want {
			t.Fatalf("step %d (%s):\ngot:\n%swant:\n%s", i, s.name, got, s.want)
		}
	}
}

// Facts shared by the tables.
func begun(at time.Duration) func(*machine, *stubWorld) []effect {
	return func(m *machine, _ *stubWorld) []effect { return m.begun(t0.Add(at)) }
}

func acted(at time.Duration, kind actionKind, c Container, err error) func(*machine, *stubWorld) []effect {
	return func(m *machine, _ *stubWorld) []effect {
		return m.actionDone(t0.Add(at), actionResult{kind: kind, ctr: c, err: err})
	}
}

func probed(at time.Duration, healthy bool) func(*machine, *stubWorld) []effect {
	return func(m *machine, _ *stubWorld) []effect {
		return m.probeResult(t0.Add(at), probeOutcome{gen: m.gen, res: ProbeResult{Healthy: healthy}})
	}
}

func event(at time.Duration, ev EngineEvent, found Container) func(*machine, *stubWorld) []effect {
	return func(m *machine, w *stubWorld) []effect {
		w.container = found
		return m.engineEvent(t0.Add(at), ev)
	}
}

func timer(at time.Duration) func(*machine, *stubWorld) []effect {
	return func(m *machine, _ *stubWorld) []effect { return m.timer(t0.Add(at)) }
}

func commanded(at time.Duration, c command) func(*machine, *stubWorld) []effect {
	return func(m *machine, _ *stubWorld) []effect {
		effs, err := m.commanded(t0.Add(at), c)
		if err != nil {
			// The caller's answer, shown as a line of its own.
			return append(effs, effect{kind: doPublish, status: ServiceStatus{Status: m.st}, msg: "error: " + err.Error()})
		}
		return effs
	}
}

func TestMachineBringUpToHealthy(t *testing.T) {
	m, w := newMachine(t, oneService, "db")
	runSteps(t, m, w, []step{
		{"runner starts: bring-up begins the start", begun(0),
			"publish not_found \"\"\nact start\npublish not_found \"\"\n"},
		{"the start returns, running", acted(time.Second, actStart, running, nil),
			"bind\nwatch\nsave failures=0 restarts=0\npublish starting \"Service started\"\n"},
		{"not yet: a command check waits ExecSpacing", timer(time.Second + 50*time.Millisecond), ""},
		{"the first check is due", timer(time.Second + 250*time.Millisecond), "probe\n"},
		{"it answers", probed(time.Second+260*time.Millisecond, true),
			"record-probe\nsave failures=0 restarts=0\npublish running \"Service healthy\"\n"},
	})
}

func TestMachineWaitsForItsDependencies(t *testing.T) {
	m, w := newMachine(t, oneService, "db")
	w.waiting = []string{"cache (healthy)"}
	runSteps(t, m, w, []step{
		{"dependency not met", begun(0),
			"publish not_found \"Waiting for dependencies\" waiting [cache (healthy)]\npublish not_found \"\" waiting [cache (healthy)]\n"},
		{"a poke with nothing new says nothing", func(m *machine, _ *stubWorld) []effect { return m.poked(t0, false) }, ""},
		{"met: the start begins", func(m *machine, w *stubWorld) []effect {
			w.waiting = nil
			return m.poked(t0.Add(time.Second), false)
		}, "publish not_found \"\"\nact start\n"},
	})
}

func TestMachineCrashBacksOffAndRestarts(t *testing.T) {
	m, w := newMachine(t, oneService, "db")
	runSteps(t, m, w, []step{
		{"start", begun(0), "publish not_found \"\"\nact start\npublish not_found \"\"\n"},
		{"started", acted(time.Second, actStart, running, nil), "bind\nwatch\nsave failures=0 restarts=0\npublish starting \"Service started\"\n"},
		{"the engine says it died", event(2*time.Second, EngineEvent{Kind: EventDie, ContainerID: "c1", ExitCode: 1, Time: t0.Add(2 * time.Second)}, exited),
			"watch\ndetected\ncount-failure\nsave failures=1 restarts=0\npublish stopped \"Container stopped\"\npoke\n"},
		{"before the backoff (2 s) is over nothing happens", timer(3 * time.Second), ""},
		{"the backoff is over: restart", timer(4 * time.Second),
			"publish stopped \"\"\nact restart\npublish stopped \"Restart initiated\"\n"},
		{"restarted", acted(5*time.Second, actRestart, running, nil),
			"watch\nsave failures=1 restarts=1\npublish starting \"Restart completed\"\n"},
	})
}

// An event that comes while an action is in flight is applied after it,
// not dropped: here the new container is already dead when the start
// returns running.
func TestMachineQueuesEventsDuringAnAction(t *testing.T) {
	m, w := newMachine(t, oneService, "db")
	runSteps(t, m, w, []step{
		{"start", begun(0), "publish not_found \"\"\nact start\npublish not_found \"\"\n"},
		{"a die during the start: queued", event(time.Second, EngineEvent{Kind: EventDie, ContainerID: "c1", ExitCode: 3}, exited), ""},
		{"a process exit during the start: of the process replaced, dropped", event(time.Second, EngineEvent{Kind: EventDie, ContainerID: "c1", ProcessExited: true}, exited), ""},
		{"the start returns; the die is applied after it", acted(2*time.Second, actStart, running, nil),
			"bind\nwatch\nsave failures=0 restarts=0\npublish starting \"Service started\"\n" +
				"watch\ndetected\ncount-failure\nsave failures=1 restarts=0\npublish stopped \"Container stopped\"\npoke\n"},
	})
	if m.detail != "exited with code 1" || len(m.pending) != 0 {
		t.Errorf("detail %q, pending %d; want the exit inspected after the start, nothing left", m.detail, len(m.pending))
	}
}

// The stop before a restart makes the engine say the container stopped;
// applied after the restart, the event finds it running and changes nothing.
func TestMachineActionsOwnEventsChangeNothing(t *testing.T) {
	m, w := newMachine(t, oneService, "db")
	runSteps(t, m, w, []step{
		{"start", begun(0), "publish not_found \"\"\nact start\npublish not_found \"\"\n"},
		{"started", acted(time.Second, actStart, running, nil), "bind\nwatch\nsave failures=0 restarts=0\npublish starting \"Service started\"\n"},
		{"manual restart", commanded(2*time.Second, command{kind: cmdRestart, manual: true}),
			"publish starting \"Manual restart initiated\"\npublish starting \"\"\nact restart\n"},
		{"a second restart joins the first", commanded(2*time.Second, command{kind: cmdRestart, manual: true}),
			"publish starting \"Manual restart initiated\"\n"},
		{"its stop: queued", event(3*time.Second, EngineEvent{Kind: EventStop, ContainerID: "c1"}, exited), ""},
		{"its start: queued", event(3*time.Second, EngineEvent{Kind: EventStart, ContainerID: "c1"}, running), ""},
		{"restarted; the stop finds it running, the start finds it starting", acted(4*time.Second, actRestart, running, nil),
			"save failures=0 restarts=1\npublish starting \"Restart completed\"\n"},
	})
}

func TestMachineDisablesPastMaxFailures(t *testing.T) {
	m, w := newMachine(t, `
services:
  db: {image: postgres, x-hostagent: {restart: {max_failures: 1}}}
`, "db")
	runSteps(t, m, w, []step{
		{"start", begun(0), "publish not_found \"\"\nact start\npublish not_found \"\"\n"},
		{"the start fails: backoff", acted(time.Second, actStart, Container{}, errors.New("boom")),
			"count-failure\nsave failures=1 restarts=0\npublish not_found \"Start failed\"\npoke\n"},
		{"the backoff is over", timer(3 * time.Second),
			"publish not_found \"\"\nact restart\npublish not_found \"Restart initiated\"\n"},
		{"it fails again: past max failures, disabled", acted(4*time.Second, actRestart, Container{}, errors.New("boom")),
			"count-failure\nsave failures=2 restarts=0\npublish disabled \"Restart failed\"\npublish disabled \"Service disabled - max failures reached\"\npoke\n"},
		{"enabled again: restarted at once", commanded(2*time.Second, command{kind: cmdEnable}),
			"save failures=0 restarts=0\npublish not_found \"Service enabled\"\n"},
		{"the restart is due", timer(2 * time.Second),
			"publish not_found \"\"\nact restart\npublish not_found \"Restart initiated\"\n"},
	})
}

// A host condition is retried with backoff and never counts as a failure.
func TestMachineHostConditionIsNotAFailure(t *testing.T) {
	m, w := newMachine(t, oneService, "db")
	runSteps(t, m, w, []step{
		{"start", begun(0), "publish not_found \"\"\nact start\npublish not_found \"\"\n"},
		{"the image cannot be had", acted(time.Second, actStart, Container{}, fmt.Errorf("pull: %w", errFakeImage)),
			"save failures=0 restarts=0\npublish not_found \"Waiting for a host condition\"\npoke\n"},
	})
	if m.failures != 0 || m.nextRestart.IsZero() {
		t.Errorf("failures %d, next restart %v; want none counted and a retry due", m.failures, m.nextRestart)
	}
}

// dispatch dropped an event (the runner's queue was full): the next poke
// re-inspects the container, and what the event said is found anew.
func TestMachineCatchesUpAfterADroppedEvent(t *testing.T) {
	m, w := newMachine(t, oneService, "db")
	runSteps(t, m, w, []step{
		{"start", begun(0), "publish not_found \"\"\nact start\npublish not_found \"\"\n"},
		{"started", acted(time.Second, actStart, running, nil), "bind\nwatch\nsave failures=0 restarts=0\npublish starting \"Service started\"\n"},
		{"poked, nothing dropped: nothing to do", func(m *machine, w *stubWorld) []effect {
			w.container = exited
			return m.poked(t0.Add(2*time.Second), false)
		}, ""},
		{"poked after a drop: it is found dead", func(m *machine, _ *stubWorld) []effect { return m.poked(t0.Add(2*time.Second), true) },
			"watch\ndetected\ncount-failure\nsave failures=1 restarts=0\npublish stopped \"Container stopped\"\npoke\n"},
	})
}

// A user stop that comes while a start is under way: the container the
// start brings up is stopped, and no restart follows.
func TestMachineUserStopDuringAStart(t *testing.T) {
	m, w := newMachine(t, oneService, "db")
	runSteps(t, m, w, []step{
		{"start", begun(0), "publish not_found \"\"\nact start\npublish not_found \"\"\n"},
		{"the user stops it", commanded(time.Second, command{kind: cmdUserStop}),
			"save failures=0 restarts=0\npublish stopped \"Service stopped by the user\"\npoke\n"},
		{"the start returns running: stopped", acted(2*time.Second, actStart, running, nil),
			"bind\nwatch\nsave failures=0 restarts=0\npublish starting \"Service started\"\nstop\n"},
		{"no check, no restart is due", timer(time.Hour), ""},
	})
}

// A failed check past retries: UNHEALTHY, a backoff, a restart; healthy
// again it has recovered, and its restart: true dependents follow.
func TestMachineUnhealthyRestartsAndRecovers(t *testing.T) {
	m, w := newMachine(t, `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s, retries: 1}}
  api: {image: app, depends_on: {db: {condition: service_healthy, restart: true}}}
`, "db")
	runSteps(t, m, w, []step{
		{"start", begun(0), "publish not_found \"\"\nact start\npublish not_found \"\"\n"},
		{"started", acted(time.Second, actStart, running, nil), "bind\nwatch\nsave failures=0 restarts=0\npublish starting \"Service started\"\n"},
		{"healthy", probed(2*time.Second, true), "record-probe\nsave failures=0 restarts=0\npublish running \"Service healthy\"\n"},
		{"a failed check", probed(3*time.Second, false),
			"record-probe\ncount-failure\nsave failures=1 restarts=0\npublish unhealthy \"Health check failed\"\npoke\n"},
		{"unhealthy is not checked, the backoff (2 s) runs", timer(4 * time.Second), ""},
		{"restart", timer(5 * time.Second), "publish unhealthy \"\"\nact restart\npublish unhealthy \"Restart initiated\"\n"},
		{"restarted", acted(6*time.Second, actRestart, running, nil),
			"save failures=1 restarts=1\npublish starting \"Restart completed\"\n"},
		{"healthy again: recovered, and the dependents restart", probed(7*time.Second, true),
			"record-probe\nsave failures=1 restarts=1\npublish running \"Service recovered\"\ncascade\n"},
	})
}

// Failed checks within the start period do not count (compose semantics).
func TestMachineStartPeriodFailuresDoNotCount(t *testing.T) {
	m, w := newMachine(t, `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s, retries: 1, start_period: 10s}}
`, "db")
	runSteps(t, m, w, []step{
		{"start", begun(0), "publish not_found \"\"\nact start\npublish not_found \"\"\n"},
		{"started", acted(time.Second, actStart, running, nil), "bind\nwatch\nsave failures=0 restarts=0\npublish starting \"Service started\"\n"},
		{"failing in the start period: recorded, not counted", probed(5*time.Second, false), "record-probe\n"},
		{"failing past it: counted", probed(12*time.Second, false),
			"record-probe\ncount-failure\nsave failures=1 restarts=0\npublish unhealthy \"Health check failed\"\npoke\n"},
	})
}

// A job (restart: no) that exits 0 has completed: no failure, no restart.
func TestMachineJobCompletes(t *testing.T) {
	m, w := newMachine(t, `
services:
  migrate: {image: app, restart: "no"}
`, "migrate")
	done := Container{ID: "c1", ExitCode: 0, FinishedAt: t0.Add(2 * time.Second)}
	runSteps(t, m, w, []step{
		{"start", begun(0), "publish not_found \"\"\nact start\npublish not_found \"\"\n"},
		{"started", acted(time.Second, actStart, running, nil), "bind\nwatch\nsave failures=0 restarts=0\npublish starting \"Service started\"\n"},
		{"it exits 0", event(2*time.Second, EngineEvent{Kind: EventDie, ContainerID: "c1"}, done),
			"watch\nsave failures=0 restarts=0\npublish stopped \"Service completed (exit 0)\"\n"},
		{"nothing is due", timer(time.Hour), ""},
	})
	if m.detail != DetailCompleted {
		t.Errorf("detail %q, want %q", m.detail, DetailCompleted)
	}
}

// A reload's recreate replaces the running container; it is no restart.
func TestMachineRecreatesAnOutdatedContainer(t *testing.T) {
	m, w := newMachine(t, oneService, "db")
	fresh := Container{ID: "c2", Running: true, PID: 43, StartedAt: t0.Add(3 * time.Second)}
	runSteps(t, m, w, []step{
		{"start", begun(0), "publish not_found \"\"\nact start\npublish not_found \"\"\n"},
		{"started", acted(time.Second, actStart, running, nil), "bind\nwatch\nsave failures=0 restarts=0\npublish starting \"Service started\"\n"},
		{"recreate", commanded(2*time.Second, command{kind: cmdRecreate, reason: "configuration changed"}),
			"publish starting \"\"\nact recreate\n"},
		{"recreated", acted(3*time.Second, actRecreate, fresh, nil),
			"bind\nwatch\nsave failures=0 restarts=0\npublish starting \"Service recreated\"\n"},
		{"current now: a second recreate has nothing to do", commanded(4*time.Second, command{kind: cmdRecreate}),
			"publish starting \"error: already current\"\n"},
	})
}
