package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hostagent/hostagent/compose"
)

// MatchRule says how a container was tied to a service.
type MatchRule int

const (
	// MatchLabel: compose labels name the project and the service.
	MatchLabel MatchRule = iota + 1
	// MatchName: the container has the name compose or podman-compose
	// gives it (`<project>-<service>-N`, `<project>_<service>_N`) or the
	// service's container_name.
	MatchName
	// MatchContains: the unlabelled container's name is the service's,
	// or ends in it after a separator (see scoreName).
	MatchContains
)

func (r MatchRule) String() string {
	switch r {
	case MatchLabel:
		return "label"
	case MatchName:
		return "name"
	case MatchContains:
		return "name-contains"
	}
	return "none"
}

// Found is a container adopted for a service.
type Found struct {
	Service   string
	Container Container
	By        MatchRule
	// Outdated: the container carries a config hash that differs from the
	// service's current definition (the compose file changed since it was
	// created). False when the container has no hash label.
	Outdated bool
	// ImageChanged: the container was made from another image than the
	// one its service's image name resolves to now (rebuilt or pulled
	// under the same tag).
	ImageChanged bool
}

// Discovery is what exists on the engine for a stack.
type Discovery struct {
	Project string
	// Found holds one container per service that has one.
	Found map[string]Found
	// NotFound lists, sorted, the services without a container.
	NotFound []string
}

// Discover finds the stack's existing containers and logs
// "Discovered N containers".
func (c *Client) Discover(ctx context.Context, st *compose.Stack) (Discovery, error) {
	all, err := c.List(ctx, "")
	if err != nil {
		return Discovery{}, fmt.Errorf("discover %s: %w", st.Name, err)
	}
	d := discover(st, all)
	c.markImageChanges(ctx, st, &d)
	for _, f := range d.Found {
		if f.Container.Project == "" {
			c.adopted.set(f.Container.ID, st.Name, f.Service)
		}
	}
	c.log.Info(fmt.Sprintf("Discovered %d containers", len(d.Found)),
		"project", st.Name, "services", len(st.Services), "not_found", d.NotFound)
	for _, w := range clashes(st, all) {
		c.log.Warn(w)
	}
	for _, f := range d.Found {
		c.log.Debug("Service discovered", "service", f.Service, "container", f.Container.Name,
			"id", f.Container.ID.Short(), "by", f.By, "outdated", f.Outdated, "image_changed", f.ImageChanged)
	}
	return d, nil
}

// discover matches containers to services, best evidence first: labels,
// then the names compose tools give, then the name-contains rule (see
// scoreName). A container goes to at most one service; in the last rule
// the closest name wins, so "redis" does not take "redis-exporter" while
// the redis-exporter service (active or disabled by a profile) claims it.
// Containers of another compose project are never adopted.
func discover(st *compose.Stack, all []Container) Discovery {
	m := newMatcher(st, all)
	m.matchLabels()
	m.matchNames()
	m.matchContains()
	return m.discovery(st)
}

// matcher ties containers to services, one rule after another.
type matcher struct {
	project string
	all     []Container
	// rivals are the services that may own a container: the active ones,
	// then the ones disabled by profiles, which still own theirs.
	rivals []string
	// fixed is the container_name per service.
	fixed   map[string]string
	claimed map[ContainerID]bool
	found   map[string]Found
}

func newMatcher(st *compose.Stack, all []Container) *matcher {
	m := &matcher{project: st.Name, all: all, fixed: map[string]string{},
		claimed: map[ContainerID]bool{}, found: map[string]Found{}}
	for _, s := range st.Services {
		m.rivals = append(m.rivals, s.Name)
		m.fixed[s.Name] = s.Config.ContainerName
	}
	if st.Project != nil {
		for _, name := range slices.Sorted(maps.Keys(st.Project.DisabledServices)) {
			m.rivals = append(m.rivals, name)
			m.fixed[name] = st.Project.DisabledServices[name].ContainerName
		}
	}
	return m
}

func (m *matcher) take(svc string, ctr Container, by MatchRule) {
	m.claimed[ctr.ID] = true
	m.found[svc] = Found{Service: svc, Container: ctr, By: by}
}

// free: ctr may still go to svc by name: nobody claimed it, it is
// unlabelled or labelled with this project only, and svc has none yet.
func (m *matcher) free(ctr Container, svc string) bool {
	return !m.claimed[ctr.ID] && (ctr.Project == "" || ctr.Project == m.project && ctr.Service == "") && m.found[svc].By == 0
}

// matchLabels gives each service the best of the containers labelled
// with the project and the service.
func (m *matcher) matchLabels() {
	for _, svc := range m.rivals {
		var cands []Container
		for _, ctr := range m.all {
			if ctr.Project == m.project && ctr.Service == svc {
				cands = append(cands, ctr)
			}
		}
		if len(cands) > 0 {
			slices.SortStableFunc(cands, preferLabelled)
			m.take(svc, cands[0], MatchLabel)
		}
	}
}

// matchNames gives a service the free container with the name compose
// or podman-compose gives it, or its container_name.
func (m *matcher) matchNames() {
	for _, svc := range m.rivals {
		want := []string{m.project + "-" + svc + "-1", m.project + "_" + svc + "_1"}
		if m.fixed[svc] != "" {
			want = []string{m.fixed[svc]}
		}
		for _, w := range want {
			i := slices.IndexFunc(m.all, func(ctr Container) bool { return ctr.Name == w && m.free(ctr, svc) })
			if i >= 0 {
				m.take(svc, m.all[i], MatchName)
				break
			}
		}
	}
}

// namePair is a service and a free container whose name fits it.
type namePair struct {
	svc   string
	ctr   Container
	score nameScore
}

// matchContains hands out the remaining containers whose names fit a
// service, closest fit first.
func (m *matcher) matchContains() {
	var pairs []namePair
	for _, svc := range m.rivals {
		for _, ctr := range m.all {
			if !m.free(ctr, svc) {
				continue
			}
			if sc, ok := scoreName(m.project, svc, ctr.Name); ok {
				pairs = append(pairs, namePair{svc, ctr, sc})
			}
		}
	}
	slices.SortStableFunc(pairs, func(a, b namePair) int {
		if c := a.score.compare(b.score); c != 0 {
			return c
		}
		return preferLabelled(a.ctr, b.ctr)
	})
	for _, p := range pairs {
		if m.claimed[p.ctr.ID] || m.found[p.svc].By != 0 {
			continue
		}
		m.take(p.svc, p.ctr, MatchContains)
	}
}

// discovery reports the active services' containers, each marked
// outdated when its config hash is not the service's.
func (m *matcher) discovery(st *compose.Stack) Discovery {
	d := Discovery{Project: st.Name, Found: map[string]Found{}}
	for _, s := range st.Services {
		f, ok := m.found[s.Name]
		if !ok {
			d.NotFound = append(d.NotFound, s.Name)
			continue
		}
		f.Outdated = f.Container.ConfigHash != "" && f.Container.ConfigHash != ConfigHash(s)
		d.Found[s.Name] = f
	}
	slices.Sort(d.NotFound)
	return d
}

// preferLabelled orders duplicates: running first, then the lowest
// container number, then the newest.
func preferLabelled(a, b Container) int {
	if a.State.Running != b.State.Running {
		if a.State.Running {
			return -1
		}
		return 1
	}
	na, _ := strconv.Atoi(a.Labels[LabelNumber])
	nb, _ := strconv.Atoi(b.Labels[LabelNumber])
	if na != nb {
		return cmp.Compare(na, nb)
	}
	return b.Created.Compare(a.Created)
}

// nameScore ranks how well a container name fits a service name.
type nameScore struct {
	// level: 3 the name is the service with only project/replica
	// decoration, 2 the name ends in the service after a separator.
	level int
	// extra is how many characters of the undecorated name are not the
	// service name; fewer is closer.
	extra int
}

func (a nameScore) compare(b nameScore) int {
	if a.level != b.level {
		return cmp.Compare(b.level, a.level)
	}
	return cmp.Compare(a.extra, b.extra)
}

// scoreName ties a container to a service by name, narrowly, so that it
// cannot take a stranger's container: an unlabelled container is the service's when its
// name, without the project prefix and replica suffix, is the service name
// (level 3) or ends in it after a separator, as in `legacy-redis` or
// `Security-Frontend` (level 2). A bare substring (`mongodb-backup` for
// `db`) or the service name followed by more (`redis-exporter` for
// `redis`) is someone else's: adopting it would let the agent stop or
// restart a container it does not own.
func scoreName(project, svc, name string) (nameScore, bool) {
	svc, name = strings.ToLower(svc), strings.ToLower(name)
	core := undecorate(strings.ToLower(project), name)
	if svc == "" {
		return nameScore{}, false
	}
	switch {
	case core == svc:
		return nameScore{level: 3}, true
	case strings.HasSuffix(core, svc) && isSep(core[len(core)-len(svc)-1]):
		return nameScore{level: 2, extra: len(core) - len(svc)}, true
	}
	return nameScore{}, false
}

// undecorate strips a `<project>-`/`<project>_` prefix and a `-N`/`_N`
// replica suffix.
func undecorate(project, name string) string {
	for _, sep := range []string{"-", "_"} {
		if project != "" && strings.HasPrefix(name, project+sep) {
			name = name[len(project)+1:]
			break
		}
	}
	if i := strings.LastIndexAny(name, "-_"); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	return name
}

func isSep(b byte) bool { return b == '-' || b == '_' || b == '.' }

// clashes names the running containers of other projects that hold a host
// port or a named volume this stack wants: a stack started from another
// directory (or under another project name) by compose or podman-compose,
// which would make our starts fail on the port, or share the data.
func clashes(st *compose.Stack, all []Container) []string {
	var out []string
	for _, svc := range st.Services {
		out = append(out, portClashes(st.Name, svc, all)...)
		out = append(out, volumeClashes(st, svc, all)...)
	}
	return out
}

func portClashes(project string, svc compose.Service, all []Container) []string {
	var out []string
	for _, p := range svc.Ports {
		if p.HostPort == 0 {
			continue
		}
		for _, ctr := range all {
			if ctr.Project == project || !ctr.State.Running {
				continue
			}
			for _, hp := range ctr.HostPorts {
				if portClash(hp, p) {
					out = append(out, fmt.Sprintf("Port %d of service %s is published by container %s%s: the service cannot start until it is stopped (another copy of this stack? set project_directory or project_name to adopt it instead)",
						p.HostPort, svc.Name, ctr.Name, projectOf(ctr)))
				}
			}
		}
	}
	return out
}

func volumeClashes(st *compose.Stack, svc compose.Service, all []Container) []string {
	var out []string
	for _, v := range svc.Config.Volumes {
		if v.Type != "volume" || v.Source == "" {
			continue
		}
		name := volumeName(st, v.Source)
		for _, ctr := range all {
			if ctr.Project != st.Name && ctr.State.Running && slices.Contains(ctr.Volumes, name) {
				out = append(out, fmt.Sprintf("Volume %s of service %s is in use by container %s%s: two stacks would share its data",
					name, svc.Name, ctr.Name, projectOf(ctr)))
			}
		}
	}
	return out
}

func projectOf(ctr Container) string {
	if ctr.Project == "" {
		return ""
	}
	return " of project " + ctr.Project
}

// portClash: the same host port and protocol on the same or a wildcard
// address.
func portClash(published string, want compose.Port) bool {
	i := strings.LastIndex(published, ":")
	if i < 0 {
		return false
	}
	addr, rest := published[:i], published[i+1:]
	port, proto, _ := strings.Cut(rest, "/")
	wantProto := want.Protocol
	if wantProto == "" {
		wantProto = "tcp"
	}
	if port != strconv.Itoa(want.HostPort) || (proto != "" && proto != wantProto) {
		return false
	}
	wild := func(a string) bool { return a == "" || a == "0.0.0.0" || a == "::" }
	return wild(addr) || wild(want.HostIP) || addr == want.HostIP
}
