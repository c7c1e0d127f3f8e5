package compose

import (
	"fmt"
	"slices"
	"strings"
)

// CycleError is a dependency cycle; Path starts and ends with the same
// service, each waiting for the next.
type CycleError struct {
	File string
	Path []string
}

func (e *CycleError) Error() string {
	return fmt.Sprintf("%s: dependency cycle: %s (remove one of these depends_on entries)", e.File, strings.Join(e.Path, " -> "))
}

// UnknownDependencyError is a depends_on naming a service that does not
// exist (or is not enabled by the active profiles).
type UnknownDependencyError struct {
	File, Service, Dependency string
}

func (e *UnknownDependencyError) Error() string {
	return fmt.Sprintf("%s: service %q depends on %q, which is not defined (or its profile is not enabled)", e.File, e.Service, e.Dependency)
}

// categoryOrder is the implicit startup order; monitoring is a
// parallel track outside it.
var categoryOrder = []Category{Infrastructure, AI, Application, Frontend}

// waits returns, per service, what it waits for: its explicit depends_on,
// or — when it declares none — every service of the nearest earlier
// non-empty category in categoryOrder, as soft implicit edges. The
// compose author's depends_on is authoritative where it exists, so implicit
// edges never slow down a service that said what it needs.
func waits(st *Stack) (map[string][]Dependency, error) {
	file := ""
	if len(st.Files) > 0 {
		file = st.Files[0]
	}
	out := make(map[string][]Dependency, len(st.Services))
	byCategory := map[Category][]string{}
	for _, s := range st.Services {
		byCategory[s.Category] = append(byCategory[s.Category], s.Name)
		for _, d := range s.DependsOn {
			if _, ok := st.Service(d.Service); !ok {
				return nil, &UnknownDependencyError{File: file, Service: s.Name, Dependency: d.Service}
			}
		}
		out[s.Name] = append([]Dependency(nil), s.DependsOn...)
	}
	if path := findCycle(st, out); path != nil {
		return nil, &CycleError{File: file, Path: path}
	}
	for _, s := range st.Services {
		if len(s.DependsOn) > 0 || s.Category == Monitoring {
			continue
		}
		i := slices.Index(categoryOrder, s.Category)
		for j := i - 1; j >= 0; j-- {
			prev := byCategory[categoryOrder[j]]
			if len(prev) == 0 {
				continue
			}
			for _, p := range prev {
				if reaches(out, p, s.Name) {
					continue // p already waits for s: an edge back would be a cycle
				}
				out[s.Name] = append(out[s.Name], Dependency{Service: p, Condition: ConditionHealthy, Implicit: true})
			}
			break
		}
	}
	return out, nil
}

// reaches reports whether from (transitively) waits for to.
func reaches(w map[string][]Dependency, from, to string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(n string) bool {
		if n == to {
			return true
		}
		if seen[n] {
			return false
		}
		seen[n] = true
		for _, d := range w[n] {
			if walk(d.Service) {
				return true
			}
		}
		return false
	}
	return walk(from)
}

// findCycle returns the first cycle found in name order, as a path.
func findCycle(st *Stack, w map[string][]Dependency) []string {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(string) []string
	visit = func(n string) []string {
		state[n] = onPath
		path = append(path, n)
		for _, d := range w[n] {
			switch state[d.Service] {
			case onPath:
				start := slices.Index(path, d.Service)
				return append(append([]string(nil), path[start:]...), d.Service)
			case unseen:
				if c := visit(d.Service); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		return nil
	}
	for _, s := range st.Services {
		if state[s.Name] == unseen {
			if c := visit(s.Name); c != nil {
				return c
			}
		}
	}
	return nil
}

// topoOrder lists services so that each comes after everything it waits
// for; ties are broken by name so plans are deterministic.
func topoOrder(st *Stack, w map[string][]Dependency) []string {
	indeg := map[string]int{}
	dependents := map[string][]string{}
	for _, s := range st.Services {
		indeg[s.Name] += 0
		for _, d := range w[s.Name] {
			indeg[s.Name]++
			dependents[d.Service] = append(dependents[d.Service], s.Name)
		}
	}
	var ready, order []string
	for _, s := range st.Services {
		if indeg[s.Name] == 0 {
			ready = append(ready, s.Name)
		}
	}
	for len(ready) > 0 {
		slices.Sort(ready)
		n := ready[0]
		ready = ready[1:]
		order = append(order, n)
		for _, m := range dependents[n] {
			if indeg[m]--; indeg[m] == 0 {
				ready = append(ready, m)
			}
		}
	}
	return order
}
