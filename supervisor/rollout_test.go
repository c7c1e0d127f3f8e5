package supervisor

import (
	"context"
	"slices"
	"testing"
	"time"
)

const rolloutStack = `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s}}
  api:
    image: app:1
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {db: {condition: service_healthy, restart: true}}
  web:
    image: web:1
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {api: {condition: service_healthy}}
`

// firstSeq is the sequence number of service's first event with msg after
// seq, 0 if none.
func firstSeq(evs []Event, service, msg string, after uint64) uint64 {
	for _, e := range evs {
		if e.Seq > after && e.Data.Name == service && e.Message == msg {
			return e.Seq
		}
	}
	return 0
}

func TestReloadRollsOutOneServiceAtATimeInPhaseOrder(t *testing.T) {
	h := newHarness(t, rolloutStack, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	mark := h.sup.Events(1)[0].Seq

	st, plan := loadStack(t, `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s}}
  api:
    image: app:2
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {db: {condition: service_healthy, restart: true}}
  web:
    image: web:2
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {api: {condition: service_healthy}}
`)
	st.Name, plan.Project = h.stack.Name, h.stack.Name
	if err := h.sup.Reload(context.Background(), st, plan); err != nil {
		t.Fatal(err)
	}
	h.until("api and web recreated and running", time.Minute, func() bool {
		evs := h.sup.Events(0)
		return firstSeq(evs, "web", MsgRecreated, mark) != 0 && firstSeq(evs, "web", MsgHealthy, mark) != 0 && h.allRunning()
	})
	if got := h.engine.recreated(); !slices.Equal(got, []string{"api", "web"}) {
		t.Errorf("recreated %v, want [api web]: the changed services, in phase order", got)
	}
	evs := h.sup.Events(0)
	apiHealthy := max(firstSeq(evs, "api", MsgHealthy, mark), firstSeq(evs, "api", MsgRecovered, mark))
	webRecreated := firstSeq(evs, "web", MsgRecreated, mark)
	if apiHealthy == 0 || webRecreated == 0 || webRecreated < apiHealthy {
		t.Errorf("web recreated at event %d, api healthy at %d: want web only after api is healthy", webRecreated, apiHealthy)
	}
	if n := len(h.engine.startsOf("db")); n != 1 {
		t.Errorf("db, unchanged, started %d times", n)
	}
	for _, s := range []string{"api", "web"} {
		if st := h.status(s); st.RestartCount != 0 || st.FailureCount != 0 {
			t.Errorf("%s: recreating counted as restart %d / failure %d", s, st.RestartCount, st.FailureCount)
		}
	}
}

func TestRecreatedDependencyRestartsItsRestartTrueDependents(t *testing.T) {
	h := newHarness(t, rolloutStack, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	st, plan := loadStack(t, rolloutStack)
	st.Name, plan.Project = h.stack.Name, h.stack.Name
	db, _ := st.Service("db")
	db.Image = "postgres:17"
	for i := range plan.Services {
		if plan.Services[i].Name == "db" {
			plan.Services[i].Service = db
		}
	}
	if err := h.sup.Reload(context.Background(), st, plan); err != nil {
		t.Fatal(err)
	}
	h.until("api restarted after db's recreate", time.Minute, func() bool {
		return len(h.engine.startsOf("api")) == 2 && h.allRunning()
	})
	if got := h.engine.recreated(); !slices.Equal(got, []string{"db"}) {
		t.Errorf("recreated %v, want [db]", got)
	}
	if n := len(h.engine.startsOf("web")); n != 1 {
		t.Errorf("web (no restart: true) started %d times, want once", n)
	}
}

func TestOutdatedContainersAtAgentStart(t *testing.T) {
	cases := []struct {
		name    string
		keep    bool
		running bool
		want    []string
	}{
		{"running, recreated in phase order", false, true, []string{"db", "web"}},
		{"stopped, recreated by bring-up", false, false, []string{"db", "web"}},
		{"KeepOutdated: left as they are", true, true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, rolloutStack, Config{})
			h.start()
			h.until("all running", time.Minute, h.allRunning)
			h.stop()
			if !c.running {
				for _, s := range []string{"db", "api", "web"} {
					h.engine.kill(s)
				}
			}
			h.engine.mu.Lock()
			h.engine.ctrs[h.engine.byService["web"]].ConfigHash = "hash-web:0"
			h.engine.ctrs[h.engine.byService["db"]].Outdated = "image changed"
			h.engine.mu.Unlock()
			settleReal()
			h.build(Config{KeepOutdated: c.keep})
			h.start()
			h.until("all running again", time.Minute, func() bool {
				return h.allRunning() && len(h.engine.recreated()) == len(c.want)
			})
			for range 10 {
				h.clock.Advance(time.Second)
				time.Sleep(time.Millisecond)
			}
			settleReal()
			if got := h.engine.recreated(); !slices.Equal(got, c.want) {
				t.Errorf("recreated %v, want %v", got, c.want)
			}
		})
	}
}
