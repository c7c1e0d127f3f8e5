package supervisor

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
)

// board is what the services know of one another: each one's view (what
// its runner last published) and the questions asked of them: are a
// service's dependencies met, is a more critical GPU service ahead of it,
// how far bring-up has got. Bring-up is read here, from the views, rather
// than pieced together by each runner. Lock order: Supervisor.mu, then
// board.mu; the board calls out to nothing.
type board struct {
	mu    sync.Mutex
	views map[string]depView
	plan  *compose.Plan
	// gpuGate: GPU services start through a gate (gpuAhead applies).
	gpuGate bool
}

// depView is what dependents need to know of a service.
type depView struct {
	status    Status
	started   bool
	completed bool
	failed    bool
	enabled   bool
	begun     bool      // its first start is under way or done
	launched  bool      // its first start is done (or it was adopted running)
	held      bool      // it will not start now: a backoff to wait out, or stopping
	acting    time.Time // when its current action began; zero when none
	exitCode  int       // non-zero: the exit code of its container, now down
	hostCond  string    // the engine-wide condition its last start ran into
}

func newBoard(plan *compose.Plan, gpuGate bool) *board {
	return &board{views: map[string]depView{}, plan: plan, gpuGate: gpuGate}
}

// set stores a service's view and returns the one before, if any.
func (b *board) set(name string, v depView) (depView, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	prev, had := b.views[name]
	b.views[name] = v
	return prev, had
}

func (b *board) view(name string) (depView, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.views[name]
	return v, ok
}

// drop forgets a service that is no longer supervised.
func (b *board) drop(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.views, name)
}

// setPlan takes the plan a reload made current.
func (b *board) setPlan(plan *compose.Plan) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.plan = plan
}

// dependenciesMet reports whether everything svc waits for is satisfied,
// and otherwise what it still waits for. Soft and implicit waits are
// satisfied as well by a dependency that failed or is disabled: they order
// the start but never block it.
func (b *board) dependenciesMet(svc *compose.PlannedService) (bool, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.metLocked(svc)
}

func (b *board) metLocked(svc *compose.PlannedService) (bool, []string) {
	var waiting []string
	for _, d := range svc.Waits {
		v := b.views[d.Service]
		var met bool
		switch d.Condition {
		case compose.ConditionStarted:
			met = v.started
		case compose.ConditionCompleted:
			met = v.completed
		default:
			met = v.status == Running
		}
		if met {
			continue
		}
		soft := d.Implicit || !d.Required
		if soft && (v.failed || !v.enabled) {
			continue
		}
		waiting = append(waiting, waitWhy(d, v))
	}
	return len(waiting) == 0, waiting
}

// waitWhy says what a dependent still waits for of a dependency.
func waitWhy(d compose.Dependency, v depView) string {
	switch {
	case !v.enabled:
		return fmt.Sprintf("%s (disabled)", d.Service)
	case d.Condition == compose.ConditionCompleted && v.exitCode != 0:
		return fmt.Sprintf("%s (failed with exit code %d)", d.Service, v.exitCode)
	}
	return fmt.Sprintf("%s (%s)", d.Service, condWord(d.Condition))
}

// gpuAhead names a GPU service more critical than svc, on a GPU svc uses,
// that could start now but has not begun: svc must let it take the GPU
// lane first, or whichever runner happened to wake first would win.
func (b *board) gpuAhead(svc *compose.PlannedService) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !svc.GPU.Required || !b.gpuGate {
		return ""
	}
	mine := gpuPriority(svc)
	for i := range b.plan.Services {
		o := &b.plan.Services[i]
		if o.Name == svc.Name || !o.GPU.Required || gpuPriority(o) >= mine || !gpu.Overlap(o.GPU.Lanes(), svc.GPU.Lanes()) {
			continue
		}
		v := b.views[o.Name]
		if v.begun || !v.enabled {
			continue
		}
		if ok, _ := b.metLocked(o); ok {
			return o.Name
		}
	}
	return ""
}

// progress summarises bring-up: total is the number of services.
func (b *board) progress(total int) Progress {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := Progress{Phases: len(b.plan.Phases), Total: total}
	lowest := 0
	for _, ps := range b.plan.Services {
		v := b.views[ps.Name]
		if v.status == Running {
			p.Running++
			continue
		}
		if v.completed {
			// A one-shot job that is done is as far as it goes.
			p.Completed++
			continue
		}
		if !v.enabled || ps.Track != compose.TrackCore {
			continue
		}
		if lowest == 0 || ps.Phase < lowest {
			lowest = ps.Phase
			p.Waiting = nil
		}
		if ps.Phase == lowest {
			p.Waiting = append(p.Waiting, ps.Name)
		}
	}
	sort.Strings(p.Waiting)
	p.HostCondition = b.hostConditionLocked()
	p.Phase = lowest
	if lowest == 0 {
		p.Phase, p.Done, p.Waiting = p.Phases, true, nil
	}
	return p
}

// hostConditionLocked is the engine-wide condition some service's last
// start ran into, in plan order ("" none). It is derived from the views,
// so a service that gets past it, is removed or disabled takes it away.
func (b *board) hostConditionLocked() string {
	for _, ps := range b.plan.Services {
		if v, ok := b.views[ps.Name]; ok && v.hostCond != "" && v.enabled {
			return v.hostCond
		}
	}
	return ""
}

func condWord(c compose.Condition) string {
	switch c {
	case compose.ConditionStarted:
		return "started"
	case compose.ConditionCompleted:
		return "completed"
	}
	return "healthy"
}
