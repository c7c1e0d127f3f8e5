package compose

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// Track separates the core stack from the monitoring services, which start
// in parallel and never gate the core.
type Track string

const (
	TrackCore       Track = "core"
	TrackMonitoring Track = "monitoring"
)

// Plan is the deterministic startup plan of a stack: pure data, printed by
// `hostagent plan` and followed by the supervisor.
type Plan struct {
	Project  string
	Services []PlannedService
	// Phases of the core track, numbered from 1.
	Phases []Phase
	// Monitoring holds the monitoring track's phases.
	Monitoring []Phase
	// CriticalPath is the chain of waits that ends last, first service first.
	CriticalPath []string
	// Makespan is the estimated time until the last service is ready.
	Makespan time.Duration
	Warnings []string

	// redactor is the stack's (Stack.Redactor).
	redactor *Redactor
}

// Phase is one step of a track.
type Phase struct {
	Number   int
	Name     string
	Services []string
}

// PlannedService is a service with its place in the plan.
type PlannedService struct {
	*Service
	Phase int
	Track Track
	// Waits are what the service waits for: its depends_on, or the implicit
	// category-order edges when it declares none.
	Waits      []Dependency
	Dependents []string
	// EarliestStart and EarliestReady are estimates from the stack's start.
	EarliestStart time.Duration
	EarliestReady time.Duration
	// RemainingPath is the longest estimated chain from this service's start
	// to the end of everything waiting on it; bring-up starts the service
	// with the longest remaining path first.
	RemainingPath time.Duration
}

// Lookup returns the planned service by name.
func (p *Plan) Lookup(name string) (*PlannedService, bool) {
	for i := range p.Services {
		if p.Services[i].Name == name {
			return &p.Services[i], true
		}
	}
	return nil, false
}

// NewPlan derives the phases (longest path in the wait graph), the tracks,
// the estimates and the critical path.
func NewPlan(st *Stack) (*Plan, error) {
	w, err := waits(st)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Project: st.Name, Warnings: append([]string(nil), st.Warnings...), redactor: st.redactor}
	plan.Services = plannedServices(st, w)
	byName := map[string]*PlannedService{}
	for i := range plan.Services {
		byName[plan.Services[i].Name] = &plan.Services[i]
	}
	critical := schedule(plan.Services, byName)
	remainingPaths(plan.Services, byName)
	plan.Makespan, plan.CriticalPath = criticalPath(plan.Services, critical)
	sortPlanned(plan.Services)
	plan.Phases = phases(plan.Services, TrackCore)
	plan.Monitoring = phases(plan.Services, TrackMonitoring)
	return plan, nil
}

// plannedServices lists the services in dependency order, each with what
// it waits for and its track.
func plannedServices(st *Stack, w map[string][]Dependency) []PlannedService {
	order := topoOrder(st, w)
	out := make([]PlannedService, 0, len(order))
	for _, name := range order {
		svc, _ := st.Service(name)
		ps := PlannedService{Service: svc, Waits: w[name], Track: TrackCore}
		if ps.Category == Monitoring {
			ps.Track = TrackMonitoring
		}
		out = append(out, ps)
	}
	return out
}

// schedule walks the services in dependency order and sets each one's
// phase, earliest start and earliest ready time, and its dependents'
// lists. It returns, per service, the wait that set its start.
func schedule(services []PlannedService, byName map[string]*PlannedService) map[string]string {
	critical := map[string]string{}
	for i := range services {
		ps := &services[i]
		ps.Phase = 1
		for _, d := range ps.Waits {
			dep := byName[d.Service]
			dep.Dependents = append(dep.Dependents, ps.Name)
			ps.Phase = max(ps.Phase, dep.Phase+1)
			at := dep.EarliestReady
			if d.Condition == ConditionStarted {
				at = dep.EarliestStart
			}
			if at > ps.EarliestStart || (at == ps.EarliestStart && critical[ps.Name] == "") {
				ps.EarliestStart, critical[ps.Name] = at, d.Service
			}
		}
		if ps.PhaseOverride > 0 {
			ps.Phase = max(ps.Phase, ps.PhaseOverride)
		}
		ps.EarliestReady = ps.EarliestStart + ps.StartupEstimate
	}
	return critical
}

// remainingPaths sets how long each service and the longest chain of its
// dependents take, walking from the last service back.
func remainingPaths(services []PlannedService, byName map[string]*PlannedService) {
	for i := len(services) - 1; i >= 0; i-- {
		ps := &services[i]
		var after time.Duration
		for _, d := range ps.Dependents {
			after = max(after, byName[d].RemainingPath)
		}
		ps.RemainingPath = ps.StartupEstimate + after
	}
}

// criticalPath follows the waits that set each start back from the
// service ready last (the first of equals): the makespan and the chain
// that decides it.
func criticalPath(services []PlannedService, critical map[string]string) (time.Duration, []string) {
	var last *PlannedService
	for i := range services {
		ps := &services[i]
		if last == nil || ps.EarliestReady > last.EarliestReady {
			last = ps
		}
	}
	if last == nil {
		return 0, nil
	}
	var path []string
	for n := last.Name; n != ""; n = critical[n] {
		path = append(path, n)
	}
	slices.Reverse(path)
	return last.EarliestReady, path
}

// sortPlanned orders the core track before monitoring, then by phase,
// then by name.
func sortPlanned(services []PlannedService) {
	sort.SliceStable(services, func(i, j int) bool {
		a, b := services[i], services[j]
		if a.Track != b.Track {
			return a.Track == TrackCore
		}
		if a.Phase != b.Phase {
			return a.Phase < b.Phase
		}
		return a.Name < b.Name
	})
}

func phases(services []PlannedService, track Track) []Phase {
	var out []Phase
	for _, s := range services {
		if s.Track != track {
			continue
		}
		for len(out) < s.Phase {
			out = append(out, Phase{Number: len(out) + 1})
		}
		out[s.Phase-1].Services = append(out[s.Phase-1].Services, s.Name)
	}
	for i := range out {
		out[i].Name = phaseName(services, out[i].Services, track)
	}
	return out
}

var phaseNames = map[Category]string{
	Infrastructure: "Data Infrastructure",
	AI:             "AI Services",
	Application:    "Application",
	Frontend:       "Frontend",
	Monitoring:     "Monitoring",
}

// phaseName names a phase after the categories of its services
// ("Data Infrastructure", "AI Services", ...).
func phaseName(services []PlannedService, names []string, track Track) string {
	if len(names) == 0 {
		return "(empty)"
	}
	if track == TrackMonitoring {
		return phaseNames[Monitoring]
	}
	var cats []Category
	for _, s := range services {
		if slices.Contains(names, s.Name) && !slices.Contains(cats, s.Category) {
			cats = append(cats, s.Category)
		}
	}
	slices.Sort(cats)
	name := ""
	for i, c := range cats {
		if i > 0 {
			name += " + "
		}
		name += phaseNames[c]
	}
	return name
}

// String renders the plan as the text table `hostagent plan` prints.
func (p *Plan) String() string { return p.Text() }

// Describe is a one-line summary for logs.
func (p *Plan) Describe() string {
	return fmt.Sprintf("%d services, %d phases, %d monitoring, est. %s", len(p.Services), len(p.Phases), countServices(p.Monitoring), p.Makespan)
}

func countServices(ph []Phase) int {
	n := 0
	for _, p := range ph {
		n += len(p.Services)
	}
	return n
}
