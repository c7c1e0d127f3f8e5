package supervisor

import (
	"strings"
	"sync"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
)

// probeHistory is how many checks a service's detail keeps.
const probeHistory = 5

// Probe results as ProbeRecord.Result says them.
const (
	ProbeOK      = "ok"
	ProbeFailing = "failing"
	// ProbeError: the check could not be made (it does not flip health).
	ProbeError = "error"
)

// ProbeRecord is one health check as `hostagent status NAME` shows it.
type ProbeRecord struct {
	At        time.Time `json:"at"`
	Result    string    `json:"result"`
	Output    string    `json:"output,omitempty"`
	LatencyMS float64   `json:"latency_ms"`
}

// ExitRecord is how the service's container last ended.
type ExitRecord struct {
	Code      int       `json:"code"`
	At        time.Time `json:"at"`
	OOMKilled bool      `json:"oom_killed,omitempty"`
}

// GPU lane states of GPULane.State.
const (
	LaneIdle    = "idle"
	LaneQueued  = "queued"
	LaneHolding = "holding"
)

// GPULane is where a GPU service stands at the GPU gate.
type GPULane struct {
	// Devices are the GPUs the service is given; none: every GPU.
	Devices []string   `json:"devices,omitempty"`
	State   string     `json:"state"`
	Op      string     `json:"op,omitempty"`
	Reason  string     `json:"reason,omitempty"`
	Since   *time.Time `json:"since,omitempty"`
}

// ServiceDetail is one service in depth, for GET /api/system/services/{name}
// and `hostagent status NAME`: its status (the same fields, flattened) and
// what the table leaves out.
type ServiceDetail struct {
	ServiceStatus
	// Probes are the last checks, newest first.
	Probes        []ProbeRecord `json:"probes"`
	RestartPolicy string        `json:"restart_policy"`
	MaxFailures   int           `json:"max_failures"`
	BackoffBaseS  float64       `json:"backoff_base_s"`
	BackoffMaxS   float64       `json:"backoff_max_s"`
	// BackoffRemainingS is the time until the next restart, when one is due.
	BackoffRemainingS float64     `json:"backoff_remaining_s,omitempty"`
	ContainerName     string      `json:"container_name,omitempty"`
	LastExit          *ExitRecord `json:"last_exit,omitempty"`
	// HostCondition is the host condition its last start ran into.
	HostCondition string   `json:"host_condition,omitempty"`
	GPULane       *GPULane `json:"gpu_lane,omitempty"`
}

// detailBox holds a service's last checks and the facts its detail shows
// beyond ServiceStatus. The runner writes it; Detail and Services read it
// from other goroutines, hence its own lock (never held with s.mu's
// callers waiting on the runner).
type detailBox struct {
	mu     sync.Mutex
	probes [probeHistory]ProbeRecord
	n      int // checks recorded in all
	policy Policy
	name   string
	exit   *ExitRecord
	cond   string
}

// recordProbe keeps a check in the ring; its output is redacted first.
func (r *runner) recordProbe(at time.Time, res ProbeResult) {
	rec := ProbeRecord{At: at, Result: ProbeOK, LatencyMS: float64(res.Latency.Microseconds()) / 1000}
	out := res.Output
	switch {
	case res.Err != nil:
		rec.Result = ProbeError
		if out == "" {
			out = res.Err.Error()
		}
	case !res.Healthy:
		rec.Result = ProbeFailing
	}
	if out != "" {
		rec.Output = trimOutput(r.env.redact(out))
	}
	b := &r.box
	b.mu.Lock()
	b.probes[b.n%probeHistory] = rec
	b.n++
	b.mu.Unlock()
}

// noteFacts keeps what the detail shows beyond the status; called on
// every publish.
func (r *runner) noteFacts(f detailFacts) {
	b := &r.box
	b.mu.Lock()
	b.policy, b.name, b.cond = f.policy, f.name, f.cond
	if f.exit != nil {
		// Kept after the restart: why it went down is still worth knowing.
		b.exit = f.exit
	}
	b.mu.Unlock()
}

// lastProbe is the newest check, if any.
func (b *detailBox) lastProbe() (ProbeRecord, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == 0 {
		return ProbeRecord{}, false
	}
	return b.probes[(b.n-1)%probeHistory], true
}

// overlayCheck puts the newest check into st: a check that changes nothing
// publishes no event, but the snapshot still shows when it ran.
func (b *detailBox) overlayCheck(st *ServiceStatus) {
	p, ok := b.lastProbe()
	if !ok || (st.LastCheckAt != nil && !p.At.After(*st.LastCheckAt)) {
		return
	}
	t := p.At
	st.LastCheckAt, st.LastCheckOK, st.LastCheckMS = &t, p.Result == ProbeOK, p.LatencyMS
}

func (b *detailBox) fill(d *ServiceDetail) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d.Probes = make([]ProbeRecord, 0, probeHistory)
	for i := 1; i <= min(b.n, probeHistory); i++ {
		d.Probes = append(d.Probes, b.probes[(b.n-i)%probeHistory])
	}
	d.RestartPolicy = b.policy.Restart.String()
	d.MaxFailures = b.policy.MaxFailures
	d.BackoffBaseS, d.BackoffMaxS = b.policy.Base.Seconds(), b.policy.Max.Seconds()
	d.ContainerName, d.HostCondition = b.name, b.cond
	if b.exit != nil {
		e := *b.exit
		d.LastExit = &e
	}
}

// Detail returns one service in depth (see ServiceDetail).
func (s *Supervisor) Detail(name string) (ServiceDetail, bool) {
	st, ok := s.Service(name)
	if !ok {
		return ServiceDetail{}, false
	}
	d := ServiceDetail{ServiceStatus: st, Probes: []ProbeRecord{}}
	s.mu.Lock()
	r := s.runners[name]
	ps, _ := s.plan.Lookup(name)
	s.mu.Unlock()
	if r != nil {
		r.box.fill(&d)
	} else if ps != nil {
		// Not running yet: the policy the file sets.
		_, plan := s.current()
		pol := policyFor(plan, ps)
		d.RestartPolicy, d.MaxFailures = pol.Restart.String(), pol.MaxFailures
		d.BackoffBaseS, d.BackoffMaxS = pol.Base.Seconds(), pol.Max.Seconds()
	}
	if st.NextRestartAt != nil {
		if left := st.NextRestartAt.Sub(s.clock.Now()); left > 0 {
			d.BackoffRemainingS = left.Seconds()
		}
	}
	if ps != nil {
		d.GPULane = s.gpuLane(ps)
	}
	return d, true
}

// gpuHolders is a GPUGate that can list what holds a lane (*gpu.Gate).
type gpuHolders interface {
	Holding() []gpu.Hold
}

// gpuLane says where a GPU service stands at the gate (nil for others).
func (s *Supervisor) gpuLane(ps *compose.PlannedService) *GPULane {
	if !ps.GPU.Required {
		return nil
	}
	lane := &GPULane{Devices: ps.GPU.Lanes(), State: LaneIdle}
	if s.gate == nil {
		lane.Reason = "no GPU gate in this agent"
		return lane
	}
	for _, w := range s.gate.Waiting() {
		if w.Service == ps.Name {
			t := w.Since
			lane.State, lane.Op, lane.Reason, lane.Since = LaneQueued, w.Op.String(), w.Reason, &t
			return lane
		}
	}
	if h, ok := s.gate.(gpuHolders); ok {
		for _, x := range h.Holding() {
			if x.Service == ps.Name {
				t := x.Since
				lane.State, lane.Op, lane.Since = LaneHolding, x.Op.String(), &t
				lane.Reason = "until its VRAM use settles"
				if x.Op == gpu.OpStop {
					lane.Reason = "until its stop is done"
				}
				return lane
			}
		}
	}
	return lane
}

// String is the lane in words, for the CLI.
func (l GPULane) String() string {
	gpus := "every GPU"
	if len(l.Devices) > 0 {
		gpus = "GPU " + strings.Join(l.Devices, ", ")
	}
	s := l.State + " on " + gpus
	if l.Op != "" {
		s += " (" + l.Op + ")"
	}
	if l.Reason != "" {
		s += ": " + l.Reason
	}
	return s
}
