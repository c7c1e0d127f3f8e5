package compose

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPhases(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want map[string]int
	}{
		{"explicit chain", `
  a: {image: x}
  b: {image: x, depends_on: [a]}
  c: {image: x, depends_on: {b: {condition: service_healthy}}}`,
			map[string]int{"a": 1, "b": 2, "c": 3}},
		{"longest path wins", `
  a: {image: x}
  b: {image: x, depends_on: [a]}
  c: {image: x, depends_on: [a, b]}`,
			map[string]int{"a": 1, "b": 2, "c": 3}},
		{"category order fills in services without depends_on", `
  db: {image: postgres}
  model: {image: x, x-hostagent: {category: ai}}
  api: {image: x}
  web: {image: x, x-hostagent: {category: frontend}}`,
			map[string]int{"db": 1, "model": 2, "api": 3, "web": 4}},
		{"an empty category is skipped", `
  db: {image: postgres}
  api: {image: x}`,
			map[string]int{"db": 1, "api": 2}},
		{"explicit depends_on is authoritative", `
  db: {image: postgres}
  model: {image: x, x-hostagent: {category: ai}}
  api: {image: x, depends_on: [db]}`,
			map[string]int{"db": 1, "model": 2, "api": 2}},
		{"soft dependencies order too", `
  a: {image: x}
  b: {image: x, depends_on: {a: {condition: service_healthy, required: false}}}`,
			map[string]int{"a": 1, "b": 2}},
		{"monitoring never gets implicit edges", `
  db: {image: postgres}
  prom: {image: prom/prometheus}
  graf: {image: grafana/grafana, depends_on: [prom]}
  exporter: {image: oliver006/redis_exporter, depends_on: [db]}`,
			map[string]int{"db": 1, "prom": 1, "graf": 2, "exporter": 2}},
		{"phase override pins later", `
  a: {image: x}
  b: {image: x, depends_on: [a], x-hostagent: {phase: 4}}
  c: {image: x, depends_on: [b]}`,
			map[string]int{"a": 1, "b": 4, "c": 5}},
		{"implicit edge that would close a cycle is dropped", `
  db: {image: postgres, depends_on: [model]}
  model: {image: x, x-hostagent: {category: ai}}`,
			map[string]int{"model": 1, "db": 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := plan(t, loadYAML(t, "services:"+tc.yaml+"\n"))
			if got := phaseOf(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("phases = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWaitsKeepConditions(t *testing.T) {
	p := plan(t, loadYAML(t, `services:
  db: {image: postgres}
  ai: {image: x, x-hostagent: {category: ai}}
  api:
    image: x
    depends_on:
      db: {condition: service_healthy, restart: true}
      ai: {condition: service_started, required: false}
`))
	api, _ := p.Lookup("api")
	want := []Dependency{
		{Service: "ai", Condition: ConditionStarted, Required: false},
		{Service: "db", Condition: ConditionHealthy, Required: true, Restart: true},
	}
	if !reflect.DeepEqual(api.Waits, want) {
		t.Errorf("api waits = %+v, want %+v", api.Waits, want)
	}
	ai, _ := p.Lookup("ai")
	if len(ai.Waits) != 1 || !ai.Waits[0].Implicit || ai.Waits[0].Required || ai.Waits[0].Service != "db" {
		t.Errorf("ai waits = %+v, want one soft implicit edge to db", ai.Waits)
	}
	db, _ := p.Lookup("db")
	if !reflect.DeepEqual(db.Dependents, []string{"ai", "api"}) {
		t.Errorf("db dependents = %v", db.Dependents)
	}
}

func TestCycleErrorNamesThePath(t *testing.T) {
	// compose-go rejects explicit cycles while loading; the planner checks
	// again for stacks built another way.
	st := &Stack{Name: "p", Files: []string{"x.yml"}, Services: []Service{
		{Name: "a", Category: Application, DependsOn: []Dependency{{Service: "b", Condition: ConditionStarted, Required: true}}},
		{Name: "b", Category: Application, DependsOn: []Dependency{{Service: "c", Condition: ConditionStarted, Required: true}}},
		{Name: "c", Category: Application, DependsOn: []Dependency{{Service: "a", Condition: ConditionStarted, Required: true}}},
	}}
	_, err := NewPlan(st)
	var ce *CycleError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want CycleError", err)
	}
	if got := strings.Join(ce.Path, " -> "); got != "a -> b -> c -> a" {
		t.Errorf("cycle = %q", got)
	}
	if !strings.Contains(err.Error(), "x.yml") {
		t.Errorf("error %q does not name the file", err)
	}

	path := writeCompose(t, "p", "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n")
	_, err = loadErr(path)
	if err == nil || !strings.Contains(err.Error(), "a -> b -> a") {
		t.Errorf("compose cycle error = %v, want the path a -> b -> a", err)
	}
}

func TestUnknownDependencyNamesBoth(t *testing.T) {
	st := &Stack{Name: "p", Files: []string{"x.yml"}, Services: []Service{
		{Name: "api", DependsOn: []Dependency{{Service: "db", Condition: ConditionHealthy, Required: true}}},
	}}
	_, err := NewPlan(st)
	var ue *UnknownDependencyError
	if !errors.As(err, &ue) || ue.Service != "api" || ue.Dependency != "db" {
		t.Fatalf("err = %v", err)
	}
	path := writeCompose(t, "p", "services:\n  api: {image: x, depends_on: [db]}\n")
	_, err = loadErr(path)
	if err == nil || !strings.Contains(err.Error(), `"api"`) || !strings.Contains(err.Error(), `"db"`) {
		t.Errorf("compose unknown dependency error = %v, want both names", err)
	}
}

func TestCriticalPathAndEstimates(t *testing.T) {
	p := plan(t, loadYAML(t, `services:
  db: {image: postgres, x-hostagent: {startup_time: 10s}}
  slow: {image: x, x-hostagent: {category: ai, startup_time: 100s}}
  fast: {image: x, x-hostagent: {category: ai, startup_time: 20s}}
  api:
    image: x
    x-hostagent: {startup_time: 5s}
    depends_on: {db: {condition: service_healthy}, fast: {condition: service_healthy}}
  web:
    image: x
    x-hostagent: {category: frontend, startup_time: 3s}
    depends_on: {api: {condition: service_started}}
`))
	if got := p.CriticalPath; !reflect.DeepEqual(got, []string{"db", "slow"}) {
		t.Errorf("critical path = %v, want [db slow]", got)
	}
	if p.Makespan != 110*time.Second {
		t.Errorf("makespan = %s, want 110s", p.Makespan)
	}
	web, _ := p.Lookup("web")
	// web waits only for api to start: db 10s + fast 20s = 30s, then +3s.
	if web.EarliestStart != 30*time.Second || web.EarliestReady != 33*time.Second {
		t.Errorf("web start %s ready %s, want 30s and 33s", web.EarliestStart, web.EarliestReady)
	}
	db, _ := p.Lookup("db")
	// db's longest chain after its start: db 10 + slow 100.
	if db.RemainingPath != 110*time.Second {
		t.Errorf("db remaining path = %s, want 110s", db.RemainingPath)
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	st := load(t, Options{Files: []string{nemotron}, Env: []string{"POSTGRES_PASSWORD=x"}})
	first := plan(t, st).Text()
	for i := 0; i < 20; i++ {
		if got := plan(t, st).Text(); got != first {
			t.Fatalf("plan text differs between runs:\n%s\n---\n%s", first, got)
		}
	}
}
