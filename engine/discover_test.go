package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hostagent/hostagent/compose"
)

func stackOf(project string, services []string, disabled ...string) *compose.Stack {
	st := &compose.Stack{Name: project, Project: &types.Project{Name: project, DisabledServices: types.Services{}}}
	for _, s := range services {
		st.Services = append(st.Services, compose.Service{Name: s, Config: types.ServiceConfig{Name: s}})
	}
	for _, s := range disabled {
		st.Project.DisabledServices[s] = types.ServiceConfig{Name: s}
	}
	return st
}

type ctr struct {
	id, name, project, service string
	running                    bool
	number                     string
}

func containers(cs ...ctr) []Container {
	var out []Container
	for _, c := range cs {
		labels := map[string]string{}
		if c.project != "" {
			labels[LabelProject] = c.project
		}
		if c.service != "" {
			labels[LabelService] = c.service
		}
		if c.number != "" {
			labels[LabelNumber] = c.number
		}
		out = append(out, Container{ID: ContainerID(c.id), Name: c.name, Project: c.project, Service: c.service,
			Labels: labels, State: State{Running: c.running}})
	}
	return out
}

func TestDiscoverRules(t *testing.T) {
	type want struct {
		id string
		by MatchRule
	}
	cases := []struct {
		name     string
		services []string
		disabled []string
		fixed    map[string]string // container_name
		ctrs     []Container
		want     map[string]want
	}{
		{
			name:     "labels beat names",
			services: []string{"redis"},
			ctrs:     containers(ctr{id: "byname", name: "p-redis-1"}, ctr{id: "bylabel", name: "odd", project: "p", service: "redis"}),
			want:     map[string]want{"redis": {"bylabel", MatchLabel}},
		},
		{
			name:     "running labelled duplicate preferred, then lowest number",
			services: []string{"redis"},
			ctrs: containers(ctr{id: "stopped", name: "a", project: "p", service: "redis", number: "1"},
				ctr{id: "run2", name: "b", project: "p", service: "redis", running: true, number: "2"},
				ctr{id: "run1", name: "c", project: "p", service: "redis", running: true, number: "1"}),
			want: map[string]want{"redis": {"run1", MatchLabel}},
		},
		{
			name:     "podman-compose and compose names",
			services: []string{"redis", "db"},
			ctrs:     containers(ctr{id: "pc", name: "p_redis_1"}, ctr{id: "dc", name: "p-db-1"}),
			want:     map[string]want{"redis": {"pc", MatchName}, "db": {"dc", MatchName}},
		},
		{
			name:     "container_name",
			services: []string{"db"},
			fixed:    map[string]string{"db": "security-postgres"},
			ctrs:     containers(ctr{id: "fixed", name: "security-postgres"}, ctr{id: "std", name: "p-db-1"}),
			want:     map[string]want{"db": {"fixed", MatchName}},
		},
		{
			name:     "redis does not take redis-exporter when its own container exists",
			services: []string{"redis"},
			ctrs:     containers(ctr{id: "exp", name: "legacy-redis-exporter"}, ctr{id: "red", name: "legacy-redis"}),
			want:     map[string]want{"redis": {"red", MatchContains}},
		},
		{
			name:     "the exporter service claims its container",
			services: []string{"redis", "redis-exporter"},
			ctrs:     containers(ctr{id: "red", name: "nemo-redis"}, ctr{id: "exp", name: "nemo-redis-exporter"}),
			want:     map[string]want{"redis": {"red", MatchContains}, "redis-exporter": {"exp", MatchContains}},
		},
		{
			name:     "a profile-disabled exporter still owns its container",
			services: []string{"redis"},
			disabled: []string{"redis-exporter"},
			ctrs:     containers(ctr{id: "exp", name: "nemo-redis-exporter"}),
			want:     map[string]want{},
		},
		{
			name:     "redis never takes a container that is redis and more",
			services: []string{"redis"},
			ctrs:     containers(ctr{id: "exp", name: "nemo-redis-exporter"}, ctr{id: "tok", name: "old-redis-main"}),
			want:     map[string]want{},
		},
		{
			name:     "db does not adopt mongodb-backup (a bare substring)",
			services: []string{"db"},
			ctrs:     containers(ctr{id: "mongo", name: "mongodb-backup"}, ctr{id: "sub", name: "mydb"}),
			want:     map[string]want{},
		},
		{
			name:     "a name ending in the service after a separator is adopted",
			services: []string{"redis"},
			ctrs:     containers(ctr{id: "sub", name: "myredis"}, ctr{id: "legacy", name: "legacy_redis"}),
			want:     map[string]want{"redis": {"legacy", MatchContains}},
		},
		{
			name:     "closest name wins among token matches",
			services: []string{"api", "api-gateway"},
			ctrs:     containers(ctr{id: "gw", name: "x-api-gateway"}, ctr{id: "api", name: "x-api"}),
			want:     map[string]want{"api": {"api", MatchContains}, "api-gateway": {"gw", MatchContains}},
		},
		{
			name:     "case-insensitive",
			services: []string{"frontend"},
			ctrs:     containers(ctr{id: "fe", name: "Security-Frontend"}),
			want:     map[string]want{"frontend": {"fe", MatchContains}},
		},
		{
			name:     "another project's containers are never adopted",
			services: []string{"web", "redis"},
			ctrs:     containers(ctr{id: "o1", name: "p-web-1", project: "other", service: "web"}, ctr{id: "o2", name: "redis", project: "other"}),
			want:     map[string]want{},
		},
		{
			name:     "a container labelled for another service of ours is not taken by name",
			services: []string{"redis", "cache"},
			ctrs:     containers(ctr{id: "c", name: "redis-cache", project: "p", service: "cache"}),
			want:     map[string]want{"cache": {"c", MatchLabel}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := stackOf("p", tc.services, tc.disabled...)
			for i := range st.Services {
				st.Services[i].Config.ContainerName = tc.fixed[st.Services[i].Name]
			}
			d := discover(st, tc.ctrs)
			for svc, w := range tc.want {
				f, ok := d.Found[svc]
				if !ok || string(f.Container.ID) != w.id || f.By != w.by {
					t.Errorf("%s: got %s by %s (found %v), want %s by %s", svc, f.Container.ID, f.By, ok, w.id, w.by)
				}
			}
			if len(d.Found) != len(tc.want) {
				t.Errorf("found %v, want only %v", d.Found, tc.want)
			}
			var missing []string
			for _, s := range tc.services {
				if _, ok := tc.want[s]; !ok {
					missing = append(missing, s)
				}
			}
			slices.Sort(missing)
			if !slices.Equal(d.NotFound, missing) {
				t.Errorf("NotFound = %v, want %v", d.NotFound, missing)
			}
		})
	}
}

func TestDiscoverFlagsOutdated(t *testing.T) {
	st := stackOf("p", []string{"web", "api", "old"})
	hash := ConfigHash(st.Services[0])
	all := containers(ctr{id: "w", name: "p-web-1", project: "p", service: "web"},
		ctr{id: "a", name: "p-api-1", project: "p", service: "api"},
		ctr{id: "o", name: "p_old_1"})
	all[0].ConfigHash = hash
	all[1].ConfigHash = "0123"
	d := discover(st, all)
	if d.Found["web"].Outdated || !d.Found["api"].Outdated || d.Found["old"].Outdated {
		t.Errorf("outdated flags: web %v api %v old %v, want false true false",
			d.Found["web"].Outdated, d.Found["api"].Outdated, d.Found["old"].Outdated)
	}
}

func TestScoreName(t *testing.T) {
	cases := []struct {
		project, svc, name string
		ok                 bool
		level, extra       int
	}{
		{"p", "redis", "p-redis-1", true, 3, 0},
		{"p", "redis", "p_redis_1", true, 3, 0},
		{"p", "redis", "redis", true, 3, 0},
		{"p", "redis", "other_redis_1", true, 2, 6},
		{"p", "redis", "redis-exporter", false, 0, 0},
		{"p", "redis", "myredis", false, 0, 0},
		{"p", "db", "mongodb-backup", false, 0, 0},
		{"p", "redis", "postgres", false, 0, 0},
		{"p", "ai-llm", "nemotron_ai-llm_1", true, 2, 9},
	}
	for _, tc := range cases {
		sc, ok := scoreName(tc.project, tc.svc, tc.name)
		if ok != tc.ok || sc.level != tc.level || sc.extra != tc.extra {
			t.Errorf("scoreName(%s, %s, %s) = %+v %v, want level %d extra %d %v", tc.project, tc.svc, tc.name, sc, ok, tc.level, tc.extra, tc.ok)
		}
	}
}

func TestClashesWithAnotherProject(t *testing.T) {
	st := &compose.Stack{Name: "nemotron", Services: []compose.Service{
		{Name: "postgres", Ports: []compose.Port{{HostPort: 5432, ContainerPort: 5432, Protocol: "tcp"}},
			Config: types.ServiceConfig{ContainerSpec: types.ContainerSpec{Volumes: []types.ServiceVolumeConfig{{Type: "volume", Source: "postgres_data", Target: "/var/lib/postgresql/data"}}}}},
		{Name: "frontend", Ports: []compose.Port{{HostIP: "127.0.0.1", HostPort: 5173, ContainerPort: 5173}}},
	}}
	all := []Container{
		{Name: "hostagent-postgres-1", Project: "hostagent", State: State{Running: true}, HostPorts: []string{"0.0.0.0:5432/tcp"}, Volumes: []string{"nemotron_postgres_data"}},
		{Name: "nemotron-postgres-1", Project: "nemotron", State: State{Running: true}, HostPorts: []string{"0.0.0.0:5432/tcp"}},
		{Name: "stopped-web", Project: "other", HostPorts: []string{"127.0.0.1:5173/tcp"}},
		{Name: "udp-thing", State: State{Running: true}, HostPorts: []string{"0.0.0.0:5432/udp", "10.0.0.1:5173/tcp"}},
	}
	got := clashes(st, all)
	if len(got) != 2 || !strings.Contains(got[0], "Port 5432 of service postgres is published by container hostagent-postgres-1 of project hostagent") ||
		!strings.Contains(got[1], "Volume nemotron_postgres_data of service postgres is in use by container hostagent-postgres-1") {
		t.Errorf("clashes:\n%s\nwant the port and the volume held by project hostagent, nothing for our own, stopped, UDP or other-address containers", strings.Join(got, "\n"))
	}
}
