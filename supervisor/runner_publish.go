package supervisor

import (
	"context"
	"time"

	"github.com/hostagent/hostagent/state"
)

// save persists the facts that must survive an agent restart.
func (r *runner) save(ctx context.Context) {
	rec := state.Record{
		Service:        r.svc.Name,
		Enabled:        r.enabled,
		FailureCount:   r.failures,
		RestartCount:   r.restarts,
		LastRestartAt:  r.lastRestart,
		LastFailureAt:  r.lastFailure,
		NextRestartAt:  r.nextRestart,
		DisabledReason: r.disabledWhy,
		LearnedVRAM:    r.vram,
		ContainerID:    r.ctr.ID,
		UpdatedAt:      r.s.clock.Now(),
	}
	r.s.save(ctx, rec)
}

// publish updates the shared snapshot and, with a message, emits an event.
func (r *runner) publish(msg string) {
	now := r.s.clock.Now()
	switch {
	case !r.acting:
		r.actingSince = time.Time{}
	case r.actingSince.IsZero():
		r.actingSince = now
	}
	st, view := r.status(now), r.view()
	r.noteFacts()
	r.s.update(st, view, msg)
}

// status is the service as the API shows it.
func (r *runner) status(now time.Time) ServiceStatus {
	st := ServiceStatus{
		Name:          r.svc.Name,
		DisplayName:   r.svc.DisplayName,
		Category:      r.svc.Category.String(),
		Status:        r.st,
		Enabled:       r.enabled,
		ContainerID:   shortID(r.ctr.ID),
		Image:         r.svc.Image,
		FailureCount:  r.failures,
		RestartCount:  r.restarts,
		Phase:         r.svc.Phase,
		Track:         string(r.svc.Track),
		GPU:           r.svc.GPU.Required,
		HealthMethod:  string(r.svc.Health.Method),
		WaitingFor:    append([]string(nil), r.waitingFor...),
		Detail:        r.detail,
		LastCheckOK:   r.lastCheck.Healthy && r.lastCheck.Err == nil,
		LearnedVRAM:   r.vram,
		Ports:         r.svc.Ports,
		LastRestartAt: timeRef(r.lastRestart),
		NextRestartAt: timeRef(r.nextRestart),
		LastCheckAt:   timeRef(r.lastCheckAt),
	}
	if !r.enabled && r.disabledWhy != "" && st.Detail == "" {
		st.Detail = r.disabledWhy
	}
	for _, p := range r.svc.Ports {
		if p.HostPort > 0 && st.Port == 0 {
			st.Port = p.HostPort
		}
	}
	if !r.lastCheckAt.IsZero() {
		st.LastCheckMS = float64(r.lastCheck.Latency.Microseconds()) / 1000
	}
	if (r.st == Running || r.st == Starting) && !r.startedAt.IsZero() {
		st.StartedAt = timeRef(r.startedAt)
		st.UptimeSeconds = int64(now.Sub(r.startedAt).Seconds())
	}
	return st
}

// timeRef is t as an optional time: nil when zero.
func timeRef(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// view is what dependents, the start queue and progress need to know of
// the service.
func (r *runner) view() depView {
	v := depView{
		status:    r.st,
		started:   r.ctr.Running || (r.launched && r.st != NotFound && r.st != Stopped),
		completed: r.launched && r.ctr.ID != "" && !r.ctr.Running && r.ctr.ExitCode == 0 && !r.ctr.FinishedAt.IsZero(),
		exitCode:  r.downExitCode(),
		failed:    r.failedOnce,
		enabled:   r.enabled,
		begun:     r.launched || r.acting || r.condition != "",
		launched:  r.launched,
		held:      r.stopping || (!r.launched && !r.acting && !r.nextRestart.IsZero()),
		acting:    r.actingSince,
	}
	if r.condWide {
		v.hostCond = r.condition
	}
	return v
}

// downExitCode is the exit code of a container that exited with one, 0
// while it runs or when nothing is known.
func (r *runner) downExitCode() int {
	if !r.launched || r.ctr.ID == "" || r.ctr.Running || r.ctr.FinishedAt.IsZero() {
		return 0
	}
	return r.ctr.ExitCode
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func trimOutput(s string) string {
	const maxLen = 200
	if len(s) > maxLen {
		return s[:maxLen] + "..."
	}
	return s
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
