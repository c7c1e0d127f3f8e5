package compose

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestNemotronPhases(t *testing.T) {
	st := load(t, Options{Files: []string{nemotron}, Env: []string{"POSTGRES_PASSWORD=secret"}})
	p := plan(t, st)
	want := [][]string{
		{"postgres", "redis"},
		{"ai-clip", "ai-detector", "ai-enrichment", "ai-florence", "ai-llm"},
		{"backend"},
		{"frontend"},
	}
	var got [][]string
	for _, ph := range p.Phases {
		got = append(got, ph.Services)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("phases = %v, want %v", got, want)
	}
	for _, name := range want[1] {
		s, _ := p.Lookup(name)
		if !s.GPU.Required || s.Category != AI {
			t.Errorf("%s: gpu=%v category=%s, want GPU ai service", name, s.GPU.Required, s.Category)
		}
	}
	if len(p.Monitoring) != 0 {
		t.Errorf("monitoring track without profile: %v", p.Monitoring)
	}
	if got, want := p.CriticalPath, []string{"postgres", "ai-llm", "backend", "frontend"}; !reflect.DeepEqual(got, want) {
		t.Errorf("critical path = %v, want %v", got, want)
	}
	if p.Makespan.Seconds() != 200 {
		t.Errorf("makespan = %s, want 3m20s (10s + 120s + 30s + 40s)", p.Makespan)
	}
}

func TestNemotronMonitoringTrack(t *testing.T) {
	st := load(t, Options{Files: []string{nemotron}, Profiles: []string{"monitoring"},
		Env: []string{"POSTGRES_PASSWORD=secret", "GF_ADMIN_PASSWORD=admin"}})
	p := plan(t, st)
	ph := phaseOf(p)
	for _, name := range []string{"prometheus", "grafana", "redis-exporter", "jaeger", "alertmanager", "json-exporter", "blackbox-exporter"} {
		s, ok := p.Lookup(name)
		if !ok {
			t.Fatalf("%s missing with --profile monitoring", name)
		}
		if s.Track != TrackMonitoring {
			t.Errorf("%s track = %s, want monitoring", name, s.Track)
		}
	}
	if ph["grafana"] <= ph["prometheus"] {
		t.Errorf("grafana phase %d not after prometheus %d", ph["grafana"], ph["prometheus"])
	}
	if ph["redis-exporter"] <= ph["redis"] {
		t.Errorf("redis-exporter phase %d not after redis %d", ph["redis-exporter"], ph["redis"])
	}
	if len(p.Phases) != 4 || ph["backend"] != 3 || ph["frontend"] != 4 {
		t.Errorf("core phases changed by the monitoring profile: %v", p.Phases)
	}
	for _, s := range p.Services {
		if s.Track != TrackCore {
			continue
		}
		for _, w := range s.Waits {
			if d, _ := p.Lookup(w.Service); d.Track == TrackMonitoring {
				t.Errorf("core service %s waits for monitoring service %s", s.Name, w.Service)
			}
		}
	}
}

func TestMissingRequiredVariables(t *testing.T) {
	_, err := Load(context.Background(), Options{Files: []string{nemotron}, Env: []string{}})
	var mv *MissingVariablesError
	if !errors.As(err, &mv) {
		t.Fatalf("err = %v, want MissingVariablesError", err)
	}
	if len(mv.Missing) != 1 || mv.Missing[0].Name != "POSTGRES_PASSWORD" {
		t.Fatalf("missing = %+v, want only POSTGRES_PASSWORD (GF_ADMIN_PASSWORD belongs to an inactive profile)", mv.Missing)
	}
	if got := mv.Missing[0].Services; !reflect.DeepEqual(got, []string{"backend", "postgres"}) {
		t.Errorf("services = %v, want [backend postgres]", got)
	}
	for _, want := range []string{nemotron, "POSTGRES_PASSWORD", "backend, postgres", "--env-file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	_, err = Load(context.Background(), Options{Files: []string{nemotron}, Profiles: []string{"monitoring"}, Env: []string{}})
	if !errors.As(err, &mv) {
		t.Fatalf("err = %v, want MissingVariablesError", err)
	}
	var names []string
	for _, m := range mv.Missing {
		names = append(names, m.Name)
	}
	if !reflect.DeepEqual(names, []string{"GF_ADMIN_PASSWORD", "POSTGRES_PASSWORD"}) {
		t.Errorf("with monitoring, missing = %v, want both variables in one error", names)
	}
}

func TestObsoleteVersionIsAWarning(t *testing.T) {
	st := load(t, Options{Files: []string{nemotron}, Env: []string{"POSTGRES_PASSWORD=x"}})
	if len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "version") {
		t.Fatalf("warnings = %v, want one about version:", st.Warnings)
	}
}

func TestDotEnvEnvFileAndProfilesFromEnvironment(t *testing.T) {
	path := writeCompose(t, "My_Stack", `
services:
  db:
    image: postgres:16
    environment:
      - PASSWORD=${DB_PASSWORD:?set DB_PASSWORD}
  mon:
    image: prom/prometheus
    profiles: [monitoring]
`)
	dir := filepath.Dir(path)
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("DB_PASSWORD=from-dotenv\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := load(t, Options{Files: []string{path}})
	if st.Name != "my_stack" {
		t.Errorf("project name = %q, want my_stack (directory, normalised)", st.Name)
	}
	db, _ := st.Service("db")
	if got := db.Config.Environment["PASSWORD"]; got == nil || *got != "from-dotenv" {
		t.Errorf("PASSWORD from .env = %v", got)
	}
	if _, ok := st.Service("mon"); ok {
		t.Error("profile service active without a profile")
	}

	other := filepath.Join(t.TempDir(), "prod.env")
	if err := os.WriteFile(other, []byte("DB_PASSWORD=from-env-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st = load(t, Options{Files: []string{path}, EnvFiles: []string{other}, ProjectName: "explicit",
		Env: []string{"COMPOSE_PROFILES=monitoring"}})
	db, _ = st.Service("db")
	if got := *db.Config.Environment["PASSWORD"]; got != "from-env-file" {
		t.Errorf("PASSWORD with --env-file = %q", got)
	}
	if st.Name != "explicit" {
		t.Errorf("project name = %q, want explicit", st.Name)
	}
	if _, ok := st.Service("mon"); !ok {
		t.Error("COMPOSE_PROFILES=monitoring did not enable mon")
	}

	st = load(t, Options{Files: []string{path}, Env: []string{"DB_PASSWORD=from-os"}})
	db, _ = st.Service("db")
	if got := *db.Config.Environment["PASSWORD"]; got != "from-os" {
		t.Errorf("OS environment should win over .env, got %q", got)
	}
}

func TestMultipleFilesOverride(t *testing.T) {
	base := writeCompose(t, "p", "services:\n  app:\n    image: app:1\n    ports: ['8080:80']\n")
	override := filepath.Join(filepath.Dir(base), "override.yml")
	if err := os.WriteFile(override, []byte("services:\n  app:\n    image: app:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := load(t, Options{Files: []string{base, override}})
	app, _ := st.Service("app")
	if app.Image != "app:2" || len(app.Ports) != 1 || app.Ports[0].HostPort != 8080 {
		t.Errorf("merged service = image %q ports %+v", app.Image, app.Ports)
	}
}

func TestImplicitComposeDependencies(t *testing.T) {
	st := loadYAML(t, `
services:
  db: {image: postgres}
  cache: {image: redis}
  vpn: {image: busybox}
  app:
    image: app
    links: [db]
    volumes_from: [cache]
    network_mode: service:vpn
`)
	app, _ := st.Service("app")
	var deps []string
	for _, d := range app.DependsOn {
		deps = append(deps, d.Service)
	}
	slices.Sort(deps)
	if !reflect.DeepEqual(deps, []string{"cache", "db", "vpn"}) {
		t.Errorf("implicit depends_on = %v, want links, volumes_from and network_mode targets", deps)
	}
}

func TestBuildOnlyImageName(t *testing.T) {
	st := loadYAML(t, "services:\n  api:\n    build: .\n")
	api, _ := st.Service("api")
	if api.Image != "proj-api" {
		t.Errorf("image = %q, want proj-api", api.Image)
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	cases := map[string]string{
		"broken yaml":     "services:\n  a: [\n",
		"unknown dep":     "services:\n  a: {image: x, depends_on: [nope]}\n",
		"cycle":           "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
		"bad extension":   "services:\n  a:\n    image: x\n    x-hostagent: {categroy: ai}\n",
		"bad category":    "services:\n  a:\n    image: x\n    x-hostagent: {category: gpus}\n",
		"bad vram":        "services:\n  a:\n    image: x\n    x-hostagent: {vram: lots}\n",
		"bad label":       "services:\n  a:\n    image: x\n    labels: {hostagent.phse: '2'}\n",
		"no services":     "name: x\n",
		"top-level list":  "- a\n- b\n",
		"bad health meth": "services:\n  a:\n    image: x\n    x-hostagent: {health: {method: ping}}\n",
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := writeCompose(t, "p", content)
			st, err := Load(context.Background(), Options{Files: []string{path}, Env: []string{}})
			if err == nil {
				_, err = NewPlan(st)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(context.Background(), Options{Files: []string{"/nonexistent/compose.yml"}})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/compose.yml") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Load(context.Background(), Options{}); err == nil {
		t.Fatal("no files: no error")
	}
}
