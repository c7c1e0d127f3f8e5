package engine

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hostagent/hostagent/compose"
)

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
// cannot take a stranger's container: an unlabelled container is the
// service's when its name, without the project prefix and replica suffix,
// is the service name (level 3) or ends in it after a separator, as in
// `legacy-redis` or `Security-Frontend` (level 2). A bare substring
// (`mongodb-backup` for `db`) or the service name followed by more
// (`redis-exporter` for `redis`) is someone else's: adopting it would let
// the agent stop or restart a container it does not own.
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
